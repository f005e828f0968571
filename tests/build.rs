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
    println!("cargo:rustc-env=PLUGINS_WASM_DIR={}", wasm_dir.display());
}
