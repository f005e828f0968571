//! `connector-host demo`: builds the plugins, writes a manifest for them, starts the fake
//! upstreams on loopback, runs every demo connector once on a fresh SQLite database and prints
//! what happened. Everything it writes stays under its `--dir`.

use super::{table, Failure};
use crate::manifest::{Manifest, ProcessEnv};
use crate::runner::{RunRequest, Runner};
use anyhow::Context;
use std::path::{Path, PathBuf};

/// The repository's plugin workspace, as seen from this crate at build time.
fn plugins_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    dir.canonicalize().unwrap_or(dir)
}

fn manifest_text(wasm_dir: &Path) -> String {
    let wasm = |name: &str| wasm_dir.join(format!("{name}.wasm")).display().to_string();
    format!(
        r#"# Written by `connector-host demo`; edit freely and run it with --manifest.
[database]
url = "sqlite://demo.db"

[connectors.sample]
plugin = {sample:?}
tables = ["sample_events"]
timeout = "30s"
settings = {{ label = "demo", batch = 5 }}
"#,
        sample = wasm("sample"),
    )
}

/// Runs the demo in `dir`.
pub async fn run(dir: &Path) -> Result<u8, Failure> {
    let plugins = plugins_dir();
    println!("building plugins in {} …", plugins.display());
    let wasm_dir = plugin_build::build(&plugins)
        .map_err(anyhow::Error::msg)
        .map_err(Failure::job)?;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
        .map_err(Failure::job)?;
    let db = dir.join("demo.db");
    for stale in [db.clone(), dir.join("demo.db-wal"), dir.join("demo.db-shm")] {
        let _ = std::fs::remove_file(stale);
    }
    let manifest_path = dir.join("connectors.toml");
    std::fs::write(&manifest_path, manifest_text(&wasm_dir))
        .with_context(|| format!("cannot write {}", manifest_path.display()))
        .map_err(Failure::job)?;

    let (manifest, secrets) =
        Manifest::load(&manifest_path, &ProcessEnv::new(dir)).map_err(Failure::bad_input)?;
    let runner = Runner::start(manifest, secrets)
        .await
        .map_err(Failure::job)?;
    let names: Vec<String> = runner.connectors().keys().cloned().collect();
    let mut outcomes = Vec::new();
    for name in &names {
        outcomes.push(
            runner
                .run(name, RunRequest::manual())
                .await
                .map_err(Failure::job)?,
        );
    }
    // A second, dry run shows what the next run would write without writing it.
    if let Some(first) = names.first() {
        let dry = RunRequest {
            dry_run: true,
            ..RunRequest::manual()
        };
        outcomes.push(runner.run(first, dry).await.map_err(Failure::job)?);
    }
    runner.shutdown().await;

    println!("\n{}", table::outcomes(&outcomes));
    println!(
        "manifest: {}\ndatabase: {}\nnext: connector-host --manifest {} runs",
        manifest_path.display(),
        db.display(),
        manifest_path.display()
    );
    let failed = outcomes.iter().filter(|o| !o.status.is_success()).count();
    Ok(if failed == 0 { 0 } else { 1 })
}
