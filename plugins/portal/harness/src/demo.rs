//! The portal connector in the demo: 300 people spread over a fake sales portal (PostgREST) and
//! a fake Zoho CRM as a real deployment has them — most in both and linked, some in one only,
//! some in both with only the e-mail in common — synced by the hourly `zoho` job and the daily
//! `portal` job, and the inserted and merged counts per source from `sync_metadata`.

use crate::fake::ApiKey;
use crate::setup::{populate, FakePortal};
use connector_host::cli::table;
use connector_host::runner::{RunRequest, Runner};
use connector_tests::demo::{BoxFuture, Demo, Played, Setup};

/// People the demo spreads over the two sources.
const PEOPLE: usize = 300;

/// The portal connector's demo.
pub struct PortalDemo;

impl Demo for PortalDemo {
    fn name(&self) -> &'static str {
        "portal"
    }

    fn setup<'a>(&'a self, e: &'a mut toml::Table) -> BoxFuture<'a, anyhow::Result<Setup>> {
        Box::pin(async move {
            let fake = FakePortal::start(Vec::new(), ApiKey::sample_secret()).await;
            fake.point(e, "portal");
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
                .downcast_ref::<FakePortal>()
                .ok_or_else(|| anyhow::anyhow!("the portal demo's setup holds no fakes"))?;
            let made = populate(fake, PEOPLE, 5);
            let job = |name: &str| RunRequest {
                job: Some(name.into()),
                ..RunRequest::manual()
            };
            let zoho = runner.run("portal", job("zoho")).await?;
            let portal = runner.run("portal", job("portal")).await?;
            let sql = "SELECT source, status, CAST(fetched AS BIGINT), CAST(inserted AS BIGINT), \
                       CAST(updated AS BIGINT), CAST(merged AS BIGINT), CAST(conflicts AS BIGINT) \
                       FROM sync_metadata ORDER BY id";
            type Row = (String, String, i64, i64, i64, i64, i64);
            let rows: Vec<Row> = runner.store.fetch_as(sql).await?;
            let leads: i64 = runner
                .store
                .fetch_scalar("SELECT COUNT(*) FROM leads")
                .await?;
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|(source, status, f, i, u, m, c)| {
                    vec![
                        source.clone(),
                        status.clone(),
                        f.to_string(),
                        i.to_string(),
                        u.to_string(),
                        m.to_string(),
                        c.to_string(),
                    ]
                })
                .collect();
            let report = format!(
                "portal: {} people ({} linked in both sources, {} portal only, {} Zoho only, {} in both by e-mail only) became {leads} leads (sync_metadata):\n{}",
                made.people(),
                made.linked,
                made.portal_only,
                made.zoho_only,
                made.unlinked,
                table::render(
                    &["source", "status", "fetched", "inserted", "updated", "merged", "conflicts"],
                    &cells
                )
            );
            let as_expected = zoho.status.is_success()
                && portal.status.is_success()
                && leads == made.people() as i64;
            Ok(Played {
                outcomes: vec![zoho, portal],
                report,
                as_expected,
            })
        })
    }
}
