//! The ploomes connector: syncs deals from the Ploomes CRM into `sales` (incrementally, by a
//! keyset cursor checkpointed with every page) and keeps per-customer aggregates in
//! `customer_sales`. See README.md for the settings and the meaning of each column.

mod client;
mod config;
mod customers;
mod odata;
mod rows;
mod sql;
mod sync;

// The SDK's date helpers, under the name the modules (and the benchmark's baseline) use.
use connector_sdk::time;

use connector_sdk::{Connector, Error, Info, RunContext, RunSummary};

struct Ploomes;

impl Connector for Ploomes {
    fn describe() -> Info {
        let mut info = Info::new(
            "ploomes",
            env!("CARGO_PKG_VERSION"),
            "syncs Ploomes deals into sales and aggregates them per customer into customer_sales",
        )
        .auth_profile("ploomes")
        .table("sales")
        .table("customer_sales")
        .job("sync")
        .job("full")
        .migration(
            1,
            "sales and customer_sales",
            include_str!("../migrations/sqlite/0001_sales.sql"),
            include_str!("../migrations/postgres/0001_sales.sql"),
        )
        .migration(
            2,
            "total_sales counts won deals; average_deal_value is NULL without them",
            include_str!("../migrations/sqlite/0002_replaced_definitions.sql"),
            include_str!("../migrations/postgres/0002_replaced_definitions.sql"),
        );
        for (name, description) in config::DESCRIPTIONS {
            info = info.setting(name, description);
        }
        info
    }

    fn run(ctx: RunContext) -> Result<RunSummary, Error> {
        match ctx.job.as_str() {
            "sync" => sync::run(false),
            "full" => sync::run(true),
            other => Err(Error::invalid(format!(
                "unknown job {other:?}; this connector runs \"sync\" (incremental) or \"full\""
            ))),
        }
    }
}

connector_sdk::export_connector!(Ploomes);
