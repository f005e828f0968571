//! The zoho connector: pushes the service packages in `service_packages` to Zoho CRM (Products,
//! upserted by `Product_Code`) and Zoho Billing (one plan per package), failed or stale first,
//! and records where each package stands in each system. See README.md.

mod billing;
mod catalogue;
mod client;
mod config;
mod crm;
mod record;
mod sync;

use connector_sdk::{Connector, Error, Info, RunContext, RunSummary};

struct Zoho;

impl Connector for Zoho {
    fn describe() -> Info {
        let mut info = Info::new(
            "zoho",
            env!("CARGO_PKG_VERSION"),
            "pushes service packages to Zoho CRM Products and Zoho Billing plans, failed or stale first",
        )
        .auth_profile("zoho")
        .table("service_packages")
        .table("product_integrations")
        .table("zoho_sync_logs")
        .job("sync")
        .migration(
            1,
            "service_packages, product_integrations and zoho_sync_logs",
            include_str!("../migrations/sqlite/0001_products.sql"),
            include_str!("../migrations/postgres/0001_products.sql"),
        );
        for (name, description) in config::DESCRIPTIONS {
            info = info.setting(name, description);
        }
        info
    }

    fn run(ctx: RunContext) -> Result<RunSummary, Error> {
        match ctx.job.as_str() {
            "sync" => sync::run(&ctx),
            other => Err(Error::invalid(format!(
                "unknown job {other:?}; this connector runs \"sync\" (with input {{\"skus\": [...]}} to re-sync chosen packages)"
            ))),
        }
    }
}

connector_sdk::export_connector!(Zoho);
