//! Builds the plugin workspace (connectors and test-only plugins) for wasm32-wasip2 before the
//! tests compile, so a plain `cargo test` has every component it needs.

use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let plugins = root.join("plugins");
    for entry in std::fs::read_dir(&plugins)
        .expect("plugins/ exists")
        .flatten()
    {
        let name = entry.file_name();
        if name != "target" {
            println!("cargo:rerun-if-changed={}", entry.path().display());
        }
    }
    let wasm_dir = plugin_build::build(&plugins).unwrap_or_else(|e| panic!("{e}"));

    // One constant per built plugin (`wasm::TESTKIT`), so a test names a plugin that exists.
    let mut names: Vec<String> = std::fs::read_dir(&wasm_dir)
        .expect("the plugin build wrote its directory")
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            (path.extension()? == "wasm").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    let mut code = String::from("/// The plugins the build script built, by crate name.\n");
    code.push_str("pub const ALL: &[(&str, &str)] = &[\n");
    for n in &names {
        let path = wasm_dir.join(format!("{n}.wasm"));
        code.push_str(&format!("    ({n:?}, {:?}),\n", path.display().to_string()));
    }
    code.push_str("];\n");
    for n in &names {
        let path = wasm_dir.join(format!("{n}.wasm"));
        code.push_str(&format!(
            "/// `{n}.wasm`.\npub const {}: &str = {:?};\n",
            n.to_uppercase().replace('-', "_"),
            path.display().to_string()
        ));
    }
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("wasm.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
