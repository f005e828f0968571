//! Builds the plugin workspace (`plugins/`) for `wasm32-wasip2`, installing the target first if
//! this toolchain lacks it. The tests' build script calls it (and the demo, which depends on the
//! tests' support crate), so neither a test run nor the demo needs a manual set-up step.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The wasm target plugins are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// Environment variables a parent cargo sets that must not leak into the nested build: they
/// would point it at the parent's target directory, flags or compiler wrapper (clippy).
const PARENT_CARGO_VARS: &[&str] = &[
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_PKG_NAME",
    "OUT_DIR",
    "TARGET",
    "HOST",
    "PROFILE",
    "OPT_LEVEL",
    "DEBUG",
    "RUSTDOC",
];

/// Makes sure `rustup` has the wasm target; a no-op when it is already installed.
pub fn ensure_target() -> Result<(), String> {
    let sysroot = Command::new(rustc())
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_owned();
    if Path::new(&sysroot)
        .join("lib/rustlib")
        .join(TARGET)
        .is_dir()
    {
        return Ok(());
    }
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .map_err(|e| format!("the {TARGET} target is missing and rustup cannot be run: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`rustup target add {TARGET}` failed ({status})"))
    }
}

fn rustc() -> String {
    std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into())
}

/// A `cargo` command run in `dir`, free of what a parent cargo (a build script, a test) set
/// for itself.
pub fn cargo(dir: &Path) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(dir);
    for var in PARENT_CARGO_VARS {
        cmd.env_remove(var);
    }
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_FEATURE_") || key.starts_with("CARGO_CFG_") {
            cmd.env_remove(key.as_ref());
        }
    }
    cmd
}

/// The target triple of the machine building (for running plugins' unit tests natively).
pub fn host_target() -> Result<String, String> {
    let out = Command::new(rustc())
        .arg("-vV")
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| "rustc -vV names no host target".to_owned())
}

/// Builds every crate of the plugin workspace at `plugins_dir` in release mode and returns the
/// directory holding the `.wasm` files.
pub fn build(plugins_dir: &Path) -> Result<PathBuf, String> {
    ensure_target()?;
    let mut cmd = cargo(plugins_dir);
    cmd.args([
        "build",
        "--release",
        "--locked",
        "--workspace",
        "--target",
        TARGET,
    ]);
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run cargo for {}: {e}", plugins_dir.display()))?;
    if !status.success() {
        return Err(format!(
            "building the plugins in {} failed ({status})",
            plugins_dir.display()
        ));
    }
    Ok(plugins_dir.join("target").join(TARGET).join("release"))
}
