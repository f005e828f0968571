//! The sample connector: the smallest useful shape of a connector. Each run records a numbered
//! heartbeat row in `sample_events`, keeps its sequence number as a cursor in `state`, and
//! reports what it wrote. Copy this crate to start a new connector.

mod config;

use connector_sdk::db::{self, Value};
use connector_sdk::{log, state, Connector, Error, Info, RunContext, RunSummary};

struct Sample;

impl Connector for Sample {
    fn describe() -> Info {
        Info::new(
            "sample",
            env!("CARGO_PKG_VERSION"),
            "writes numbered heartbeat rows",
        )
        .setting(
            "label",
            "text stored with each heartbeat (default \"heartbeat\")",
        )
        .setting("batch", "heartbeats written per run, 1 to 1000 (default 1)")
        .table("sample_events")
        .job("heartbeat")
        .migration(
            1,
            "sample_events",
            include_str!("../migrations/sqlite/0001_sample_events.sql"),
            include_str!("../migrations/postgres/0001_sample_events.sql"),
        )
    }

    fn run(ctx: RunContext) -> Result<RunSummary, Error> {
        let settings = config::Settings::load()?;
        let last: i64 = state::get_json("last_seq")?.unwrap_or(0);
        for seq in last + 1..=last + settings.batch {
            db::execute(
                "INSERT INTO sample_events (seq, label, trigger_kind, dry_run) VALUES ($1, $2, $3, $4)",
                &[
                    seq.into(),
                    settings.label.as_str().into(),
                    Value::Text(format!("{:?}", ctx.trigger).to_lowercase()),
                    ctx.dry_run.into(),
                ],
            )?;
        }
        let next = last + settings.batch;
        state::set_json("last_seq", &next)?;
        log::info(
            "heartbeats written",
            &[("from", &(last + 1).to_string()), ("to", &next.to_string())],
        );
        Ok(
            RunSummary::new(format!("heartbeats {} to {next}", last + 1))
                .counter("rows_written", settings.batch as u64),
        )
    }
}

connector_sdk::export_connector!(Sample);
