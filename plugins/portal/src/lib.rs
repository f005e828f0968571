//! The portal connector: the back office's leads from two sources into one `leads` table — Zoho
//! CRM hourly (job `zoho`, the primary path) and the sales portal's PostgREST API daily (job
//! `portal`, the backup path) — de-duplicated by `zoho_lead_id`, then `portal_lead_id`, then
//! e-mail, every attempt logged in `sync_metadata`. See README.md.

mod audit;
mod config;
mod dedup;
mod portal;
mod zoho;

use connector_sdk::{Connector, Error, Info, RunContext, RunSummary};

struct Portal;

impl Connector for Portal {
    fn describe() -> Info {
        let mut info = Info::new(
            "portal",
            env!("CARGO_PKG_VERSION"),
            "back-office leads from Zoho CRM and the sales portal's PostgREST API, de-duplicated and audited",
        )
        .auth_profile("portal")
        .auth_profile("zoho")
        .table("leads")
        .table("lead_conflicts")
        .table("sync_metadata")
        .job("zoho")
        .job("portal")
        .migration(
            1,
            "leads, lead_conflicts and sync_metadata",
            include_str!("../migrations/sqlite/0001_leads.sql"),
            include_str!("../migrations/postgres/0001_leads.sql"),
        );
        for (name, description) in config::DESCRIPTIONS {
            info = info.setting(name, description);
        }
        info
    }

    fn run(ctx: RunContext) -> Result<RunSummary, Error> {
        match ctx.job.as_str() {
            "zoho" => zoho::run(&ctx),
            "portal" => portal::run(&ctx),
            other => Err(Error::invalid(format!(
                "unknown job {other:?}; this connector runs \"zoho\" (hourly) and \"portal\" (daily)"
            ))),
        }
    }
}

/// A run's summary with the de-duplication counters.
fn summary(message: String, c: &dedup::Counts, deleted: u64) -> RunSummary {
    RunSummary::new(message)
        .counter("fetched", c.fetched)
        .counter("inserted", c.inserted)
        .counter("updated", c.updated)
        .counter("merged", c.merged)
        .counter("unchanged", c.unchanged)
        .counter("conflicts", c.conflicts)
        .counter("deleted", deleted)
}

connector_sdk::export_connector!(Portal);
