//! The demo: every connector of `plugins/` that has a `connector.toml`, run once against its
//! fake upstream on a fresh SQLite database, then the runs and each connector's report. A
//! connector with a harness (`plugins/<name>/harness`) brings its fake and its own way to run;
//! one without is run once, and once more as a dry run. Everything it writes stays under
//! `--dir` (default `target/demo`), including the manifest it ran, to explore afterwards with
//! `connector-host --manifest target/demo/connectors.toml runs`.

use anyhow::Context;
use clap::Parser;
use connector_host::cli::table;
use connector_host::manifest::{Env, Manifest, ProcessEnv};
use connector_host::runner::{RunRequest, Runner};
use connector_tests::demo::{Demo, Played};
use connector_tests::entry;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// The connectors that bring their own demo (their harness crates).
const DEMOS: &[&dyn Demo] = &[
    &commerce7_harness::demo::Commerce7Demo,
    &ploomes_harness::demo::PloomesDemo,
    &portal_harness::demo::PortalDemo,
    &zoho_harness::demo::ZohoDemo,
];

/// Runs every connector of this repository once against its fake upstream.
#[derive(Parser)]
#[command(name = "connector-demo")]
struct Args {
    /// Where the demo's manifest and database go.
    #[arg(long, default_value = "target/demo")]
    dir: PathBuf,
}

/// The process environment, with the variables the fakes need on top (they win over any real
/// value, which the fakes would refuse).
struct DemoEnv {
    fixed: BTreeMap<String, String>,
    process: ProcessEnv,
}

impl Env for DemoEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.fixed
            .get(name)
            .cloned()
            .or_else(|| self.process.var(name))
    }

    fn names(&self) -> Vec<String> {
        let mut names = self.process.names();
        names.extend(self.fixed.keys().cloned());
        names.sort();
        names.dedup();
        names
    }

    fn problems(&self) -> Vec<String> {
        self.process.problems()
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    connector_host::logging::init(connector_host::logging::LogFormat::Text);
    match run(Args::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(args: Args) -> anyhow::Result<bool> {
    let dir = &args.dir;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let db = dir.join("demo.db");
    for stale in [
        "demo.db",
        "demo.db-wal",
        "demo.db-shm",
        "demo.db.rate-limits",
    ] {
        let _ = std::fs::remove_file(dir.join(stale));
    }
    let mut entries = Vec::new();
    let mut env = BTreeMap::new();
    let mut setups = BTreeMap::new();
    for name in entry::all() {
        let mut e = entry::load(&name)?;
        if let Some(demo) = DEMOS.iter().find(|d| d.name() == name) {
            let setup = demo.setup(&mut e).await?;
            env.extend(setup.env.iter().cloned());
            setups.insert(name, setup);
        }
        entries.push(e);
    }
    let manifest_path = dir.join("connectors.toml");
    let text = format!(
        "# Written by the demo (cargo run -p connector-demo) from each connector's connector.toml.\n\
         # Its fakes run only while the demo runs.\n{}",
        entry::manifest("sqlite://demo.db", entries)
    );
    std::fs::write(&manifest_path, text)
        .with_context(|| format!("cannot write {}", manifest_path.display()))?;
    let env = DemoEnv {
        fixed: env,
        process: ProcessEnv::new(dir),
    };
    let (manifest, secrets) = Manifest::load(&manifest_path, &env)?;
    let runner = Runner::start(manifest, secrets).await?;
    let names: Vec<String> = runner.connectors().keys().cloned().collect();
    let mut outcomes = Vec::new();
    let mut reports = Vec::new();
    let mut as_expected = true;
    for name in &names {
        let played = match (DEMOS.iter().find(|d| d.name() == name), setups.get(name)) {
            (Some(demo), Some(setup)) => demo.play(&runner, setup).await?,
            _ => plain(&runner, name).await?,
        };
        outcomes.extend(played.outcomes);
        as_expected &= played.as_expected;
        if !played.report.is_empty() {
            reports.push(played.report);
        }
    }
    runner.shutdown().await;
    drop(setups);

    println!("\n{}", table::outcomes(&outcomes));
    for report in reports {
        println!("{report}");
    }
    println!(
        "manifest: {}\ndatabase: {}\nnext: cargo run -p connector-host -- --manifest {} runs",
        manifest_path.display(),
        db.display(),
        manifest_path.display()
    );
    Ok(as_expected)
}

/// A connector without a harness: one run, and a dry run that shows what the next run would
/// write without writing it.
async fn plain(runner: &Runner, name: &str) -> anyhow::Result<Played> {
    let first = runner.run(name, RunRequest::manual()).await?;
    let dry = RunRequest {
        dry_run: true,
        ..RunRequest::manual()
    };
    let second = runner.run(name, dry).await?;
    let as_expected = first.status.is_success() && second.status.is_success();
    Ok(Played {
        outcomes: vec![first, second],
        report: String::new(),
        as_expected,
    })
}
