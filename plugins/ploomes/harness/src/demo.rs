//! The ploomes connector in the demo: a fake Ploomes account of 30,000 generated deals and
//! 2,000 customers behind the same 120/minute pool a real account gets, one sync, and the top
//! customers by revenue from `customer_sales`.

use crate::fake::{router, Generate, PloomesData};
use connector_host::cli::table;
use connector_host::runner::{RunRequest, Runner};
use connector_host::store::Store;
use connector_tests::demo::{BoxFuture, Demo, Played, Setup};
use connector_tests::entry;
use fake_upstreams::FakeServer;

/// The API key the demo's fake accepts (not a secret: the fake lives only while the demo runs).
const KEY: &str = "demo-ploomes-user-key";

/// The ploomes connector's demo.
pub struct PloomesDemo;

impl Demo for PloomesDemo {
    fn name(&self) -> &'static str {
        "ploomes"
    }

    fn setup<'a>(&'a self, e: &'a mut toml::Table) -> BoxFuture<'a, anyhow::Result<Setup>> {
        Box::pin(async move {
            println!("generating the fake Ploomes account (30,000 deals) …");
            let data = PloomesData::generate(&Generate::benchmark(), KEY);
            let server = FakeServer::start(router(data)).await;
            let base = server.base_url();
            let connector = entry::table(e, &["connectors", "ploomes"]);
            entry::table(connector, &["http"]).insert(
                "allow".into(),
                toml::Value::Array(vec![base.clone().into()]),
            );
            entry::table(connector, &["settings"]).insert("base_url".into(), base.into());
            Ok(Setup {
                env: vec![("PLOOMES_API_KEY".into(), KEY.into())],
                keep: Box::new(server),
            })
        })
    }

    fn play<'a>(
        &'a self,
        runner: &'a Runner,
        _setup: &'a Setup,
    ) -> BoxFuture<'a, anyhow::Result<Played>> {
        Box::pin(async move {
            let sync = runner.run("ploomes", RunRequest::manual()).await?;
            let report = match top_customers(&runner.store).await {
                Ok(top) => format!("top customers by revenue (customer_sales):\n{top}"),
                Err(e) => format!("cannot read customer_sales: {e:#}"),
            };
            Ok(Played {
                as_expected: sync.status.is_success(),
                outcomes: vec![sync],
                report,
            })
        })
    }
}

/// The top customers by revenue, as a table.
async fn top_customers(store: &Store) -> anyhow::Result<String> {
    let sql = "SELECT customer_name, customer_cnpj, CAST(total_revenue AS DOUBLE PRECISION), \
               CAST(won_deals AS BIGINT), CAST(total_deals AS BIGINT), \
               CAST(days_since_last_purchase AS BIGINT) \
               FROM customer_sales ORDER BY total_revenue DESC, customer_id LIMIT 10";
    type Top = (Option<String>, Option<String>, f64, i64, i64, Option<i64>);
    let rows: Vec<Top> = store.fetch_as(sql).await?;
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
