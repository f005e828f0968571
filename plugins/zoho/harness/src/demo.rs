//! The zoho connector in the demo: a fake Zoho behind the connector's own pools and 60 generated
//! service packages. A dry run says what would be pushed; the first sync fails for two packages
//! Zoho refuses (one in CRM, one in Billing; the other system still gets each); the operators'
//! queries from the README show the status counts and the errors; once Zoho takes them, the
//! next sync pushes just those two.

use crate::setup::{packages, seed, FakeZoho};
use connector_host::cli::table;
use connector_host::runner::{RunRequest, Runner};
use connector_host::store::{RunStatus, Store};
use connector_tests::demo::{BoxFuture, Demo, Played, Setup};
use connector_tests::entry;

/// Packages the demo pushes.
const PACKAGES: usize = 60;

/// The zoho connector's demo.
pub struct ZohoDemo;

impl Demo for ZohoDemo {
    fn name(&self) -> &'static str {
        "zoho"
    }

    fn setup<'a>(&'a self, e: &'a mut toml::Table) -> BoxFuture<'a, anyhow::Result<Setup>> {
        Box::pin(async move {
            let fake = FakeZoho::start().await;
            fake.point(e, "zoho");
            // Shorter pauses than the real deployment's 150/700 ms keep the demo brisk; the
            // pools are the connector's own.
            let settings = entry::table(e, &["connectors", "zoho", "settings"]);
            settings.insert("call_pause_ms".into(), 10.into());
            settings.insert("product_pause_ms".into(), 20.into());
            // Zoho refuses these two, each in one system: the other still gets them.
            fake.data
                .fail_crm_upsert_for("PKG-0007", "INVALID_DATA", "invalid data");
            fake.data.fail_billing_for(
                "PKG-0012",
                400,
                4,
                "Please enter a valid recurring price for the plan.",
            );
            Ok(Setup {
                env: fake.env(),
                keep: Box::new(fake),
            })
        })
    }

    fn play<'a>(
        &'a self,
        runner: &'a Runner,
        setup: &'a Setup,
    ) -> BoxFuture<'a, anyhow::Result<Played>> {
        Box::pin(async move {
            let fake = setup
                .keep
                .downcast_ref::<FakeZoho>()
                .ok_or_else(|| anyhow::anyhow!("the zoho demo's setup holds no fake Zoho"))?;
            seed(&runner.store, &packages(PACKAGES, 7)).await?;
            let dry = runner
                .run(
                    "zoho",
                    RunRequest {
                        dry_run: true,
                        ..RunRequest::manual()
                    },
                )
                .await?;
            // Zoho refuses two packages, each in one system: the run fails, naming them.
            let first = runner.run("zoho", RunRequest::manual()).await?;
            let mut report = String::from(
                "zoho after the first run: where each package stands (README query 1):\n",
            );
            report.push_str(&query_table(&runner.store, crate::OPERATOR_QUERIES[0]).await?);
            report.push_str("\nzoho: recent errors per product (README query 2):\n");
            report.push_str(&query_table(&runner.store, crate::OPERATOR_QUERIES[1]).await?);
            // Zoho takes them now: the next run pushes just those two, each to its system.
            fake.data.clear_crm_upsert_failures();
            fake.data.clear_billing_failures();
            let retry = runner.run("zoho", RunRequest::manual()).await?;
            report.push_str("\nzoho after the retry:\n");
            report.push_str(&query_table(&runner.store, crate::OPERATOR_QUERIES[0]).await?);
            let as_expected = dry.status.is_success()
                && first.status == RunStatus::Failed
                && retry.status.is_success();
            Ok(Played {
                outcomes: vec![dry, first, retry],
                report,
                as_expected,
            })
        })
    }
}

/// Runs one of the README's queries and renders its rows, every value as text.
async fn query_table(store: &Store, sql: &str) -> anyhow::Result<String> {
    let (header, rows) = store.fetch_text(sql).await?;
    if rows.is_empty() {
        return Ok("(none)\n".into());
    }
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    Ok(table::render(&header, &rows))
}
