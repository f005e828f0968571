//! The commerce7 connector in the demo: a fake Commerce7 tenant with two tier clubs. Webhooks
//! for paid orders come in (one of them twice, one for an order too small for a tier), one
//! order's webhook is lost and `reconcile` makes it good, an enrollment reaches its end and
//! `expire` queues its cancellation; then the queue is worked off against the fake and its
//! outcome printed.

use crate::fake::order_webhook_body;
use crate::setup::{FakeCommerce7, TENANT};
use connector_host::cli::table;
use connector_host::runner::{RunRequest, Runner, Webhook};
use connector_host::store::{JobFilter, Store};
use connector_tests::demo::{BoxFuture, Demo, Played, Setup};
use connector_tests::entry;

/// The commerce7 connector's demo.
pub struct Commerce7Demo;

impl Demo for Commerce7Demo {
    fn name(&self) -> &'static str {
        "commerce7"
    }

    fn setup<'a>(&'a self, e: &'a mut toml::Table) -> BoxFuture<'a, anyhow::Result<Setup>> {
        Box::pin(async move {
            let fake = FakeCommerce7::start(40).await;
            fake.point(e, "commerce7");
            let since = (chrono::Utc::now() - chrono::Duration::minutes(10)).to_rfc3339();
            entry::table(e, &["connectors", "commerce7", "settings"])
                .insert("reconcile_since".into(), since.into());
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
                .downcast_ref::<FakeCommerce7>()
                .ok_or_else(|| anyhow::anyhow!("the commerce7 demo's setup holds no fake"))?;
            let customers = fake.data.customers();
            let mut outcomes = Vec::new();
            // Paid orders: silver, gold, too small, and silver again redelivered.
            let orders = [
                fake.data.add_paid_order(&customers[0].id, 25_000),
                fake.data.add_paid_order(&customers[1].id, 64_000),
                fake.data.add_paid_order(&customers[2].id, 4_500),
                fake.data.add_paid_order(&customers[3].id, 31_000),
            ];
            for order in orders.iter().chain(std::iter::once(&orders[0])) {
                let body = order_webhook_body(order, "Create", TENANT).to_string();
                let hook = Webhook {
                    method: "POST".into(),
                    path: "/webhooks/commerce7".into(),
                    query: String::new(),
                    headers: vec![("content-type".into(), "application/json".into())],
                    body: body.into_bytes(),
                };
                runner.webhook("commerce7", hook).await?;
            }
            // This order's webhook is lost; reconcile finds it.
            fake.data.add_paid_order(&customers[4].id, 52_000);
            let job = |name: &str| RunRequest {
                job: Some(name.into()),
                ..RunRequest::manual()
            };
            outcomes.push(runner.run("commerce7", job("reconcile")).await?);
            runner.drain_queue("demo", 100).await?;
            // A year passes for the first customer's enrollment.
            let past = (chrono::Utc::now() - chrono::Duration::days(1))
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            let sql = format!(
                "UPDATE tier_enrollments SET expires_at = '{past}' WHERE customer_id = '{}'",
                customers[0].id
            );
            execute(&runner.store, &sql).await?;
            outcomes.push(runner.run("commerce7", job("expire")).await?);
            runner.drain_queue("demo", 100).await?;

            let filter = JobFilter {
                connector: Some("commerce7".into()),
                ..JobFilter::default()
            };
            let mut list = runner.store.list_jobs(&filter, 100).await?;
            list.sort_by_key(|j| j.id);
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|j| {
                    vec![
                        j.id.to_string(),
                        j.kind.clone(),
                        j.status.to_string(),
                        j.attempts.to_string(),
                        j.last_error.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            let as_expected = outcomes.iter().all(|o| o.status.is_success())
                && list.len() == 5
                && list.iter().all(|j| j.status == "completed");
            let report = format!(
                "commerce7: the queue after the webhooks, reconcile and expire (connector-host queue list):\n{}",
                table::render(&["id", "kind", "status", "attempts", "last error"], &rows)
            );
            Ok(Played {
                outcomes,
                report,
                as_expected,
            })
        })
    }
}

async fn execute(store: &Store, sql: &str) -> anyhow::Result<()> {
    store.execute_sql(sql).await?;
    Ok(())
}
