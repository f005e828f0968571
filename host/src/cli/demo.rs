//! `connector-host demo`: builds the plugins, writes a manifest for them, starts the fake
//! upstreams on loopback, runs every demo connector once on a fresh SQLite database and prints
//! what happened. Everything it writes stays under its `--dir`.
//!
//! The ploomes connector syncs a fake Ploomes API (30,000 generated deals, 2,000 customers)
//! through the same 120/minute pool a real account would get, then the demo prints the top
//! customers by revenue from `customer_sales`.

use super::{table, Failure};
use crate::manifest::{Env, Manifest, ProcessEnv};
use crate::runner::{RunRequest, Runner};
use crate::store::Store;
use anyhow::Context;
use fake_upstreams::ploomes::{self, Generate, PloomesData};
use fake_upstreams::FakeServer;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The API key the demo's fake Ploomes accepts (it is not a secret: the fake exists only while
/// the demo runs).
const DEMO_PLOOMES_KEY: &str = "demo-ploomes-user-key";

/// The process environment, with the variables the demo's fakes need on top (they win over any
/// real value, which the fakes would refuse).
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

/// The repository's plugin workspace, as seen from this crate at build time.
fn plugins_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    dir.canonicalize().unwrap_or(dir)
}

fn manifest_text(wasm_dir: &Path, ploomes_url: &str) -> String {
    let wasm = |name: &str| wasm_dir.join(format!("{name}.wasm")).display().to_string();
    format!(
        r#"# Written by `connector-host demo`; edit freely and run it with --manifest.
# The ploomes entry points at the demo's fake Ploomes, which runs only during `demo`.
[database]
url = "sqlite://demo.db"

[rate_limits]
ploomes = "120/min"

[connectors.sample]
plugin = {sample:?}
tables = ["sample_events"]
timeout = "30s"
settings = {{ label = "demo", batch = 5 }}

[connectors.ploomes]
plugin = {ploomes:?}
tables = ["sales", "customer_sales"]
timeout = "15m"
http = {{ allow = [{ploomes_url:?}], rate_limit = "ploomes" }}
auth.ploomes = {{ header = "User-Key", secret = "PLOOMES_API_KEY" }}
settings = {{ base_url = {ploomes_url:?}, client_tag_id = 40006184, page_size = 300 }}
"#,
        sample = wasm("sample"),
        ploomes = wasm("ploomes"),
    )
}

/// The top customers by revenue, as a table.
async fn top_customers(store: &Store) -> anyhow::Result<String> {
    let sql = "SELECT customer_name, customer_cnpj, CAST(total_revenue AS DOUBLE PRECISION), \
               CAST(won_deals AS BIGINT), CAST(total_deals AS BIGINT), \
               CAST(days_since_last_purchase AS BIGINT) \
               FROM customer_sales ORDER BY total_revenue DESC, customer_id LIMIT 10";
    type Top = (Option<String>, Option<String>, f64, i64, i64, Option<i64>);
    let rows: Vec<Top> = match store {
        Store::Sqlite { host, .. } => sqlx::query_as(sql).fetch_all(host).await?,
        Store::Postgres { pool } => sqlx::query_as(sql).fetch_all(pool).await?,
    };
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .enumerate()
        .map(|(i, (name, cnpj, revenue, won, total, days))| {
            vec![
                (i + 1).to_string(),
                name.unwrap_or_default(),
                cnpj.unwrap_or_default(),
                format!("R$ {revenue:.2}"),
                format!("{won}/{total}"),
                days.map_or(String::new(), |d| d.to_string()),
            ]
        })
        .collect();
    Ok(table::render(
        &[
            "#",
            "customer",
            "cnpj",
            "revenue",
            "won/deals",
            "days since last purchase",
        ],
        &rows,
    ))
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
    println!("generating the fake Ploomes account (30,000 deals) …");
    let ploomes_data = PloomesData::generate(&Generate::benchmark(), DEMO_PLOOMES_KEY);
    let ploomes_server = FakeServer::start(ploomes::router(ploomes_data)).await;
    let manifest_path = dir.join("connectors.toml");
    std::fs::write(
        &manifest_path,
        manifest_text(&wasm_dir, &ploomes_server.base_url()),
    )
    .with_context(|| format!("cannot write {}", manifest_path.display()))
    .map_err(Failure::job)?;

    let env = DemoEnv {
        fixed: BTreeMap::from([("PLOOMES_API_KEY".to_owned(), DEMO_PLOOMES_KEY.to_owned())]),
        process: ProcessEnv::new(dir),
    };
    let (manifest, secrets) = Manifest::load(&manifest_path, &env).map_err(Failure::bad_input)?;
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
    if let Some(first) = names.iter().find(|n| *n == "sample").or(names.first()) {
        let dry = RunRequest {
            dry_run: true,
            ..RunRequest::manual()
        };
        outcomes.push(runner.run(first, dry).await.map_err(Failure::job)?);
    }
    let top = top_customers(&runner.store).await;
    runner.shutdown().await;
    ploomes_server.shutdown().await;

    println!("\n{}", table::outcomes(&outcomes));
    match top {
        Ok(top) => println!("top customers by revenue (customer_sales):\n{top}"),
        Err(e) => println!("cannot read customer_sales: {e:#}"),
    }
    println!(
        "manifest: {}\ndatabase: {}\nnext: connector-host --manifest {} runs",
        manifest_path.display(),
        db.display(),
        manifest_path.display()
    );
    let failed = outcomes.iter().filter(|o| !o.status.is_success()).count();
    Ok(if failed == 0 { 0 } else { 1 })
}
