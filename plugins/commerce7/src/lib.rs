//! The commerce7 connector: wine-club tiers from Commerce7 orders. Paid orders (webhooks, and
//! `reconcile` for the webhooks that never came) enroll customers in the tier they qualify for
//! through queued membership jobs; `expire` ends enrollments past their date and queues the
//! cancellations. See README.md.

mod client;
mod config;
mod enrollments;
mod expire;
mod jobs;
mod orders;
mod reconcile;
mod webhook;

use connector_sdk::{
    Connector, Error, Info, Job, JobError, RunContext, RunSummary, Webhook, WebhookReply,
};

struct Commerce7;

impl Connector for Commerce7 {
    fn describe() -> Info {
        let mut info = Info::new(
            "commerce7",
            env!("CARGO_PKG_VERSION"),
            "enrolls Commerce7 customers in club tiers from paid orders and expires them, through a retried job queue",
        )
        .auth_profile("commerce7")
        .table("tier_enrollments")
        .table("customer_flags")
        .table("order_actions")
        .job("expire")
        .job("reconcile")
        .migration(
            1,
            "tier_enrollments, customer_flags and order_actions",
            include_str!("../migrations/sqlite/0001_memberships.sql"),
            include_str!("../migrations/postgres/0001_memberships.sql"),
        );
        for (name, description) in config::DESCRIPTIONS {
            info = info.setting(name, description);
        }
        info
    }

    fn run(ctx: RunContext) -> Result<RunSummary, Error> {
        match ctx.job.as_str() {
            "expire" => expire::run(&ctx),
            "reconcile" => reconcile::run(&ctx),
            other => Err(Error::invalid(format!(
                "unknown job {other:?}; this connector runs \"expire\" and \"reconcile\""
            ))),
        }
    }

    fn handle_webhook(event: Webhook) -> Result<WebhookReply, Error> {
        webhook::handle(event)
    }

    fn handle_job(job: Job) -> Result<(), JobError> {
        jobs::handle(job)
    }
}

connector_sdk::export_connector!(Commerce7);
