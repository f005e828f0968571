//! Job `reconcile`: nothing missed when a webhook is. Paid orders updated since the saved cursor
//! (minus `reconcile_overlap_minutes`, for late writes) are re-read with Commerce7's cursor
//! paging — which has no rate limit, so these reads do not pass the 100/minute pool — and each
//! goes through the same ledger as the webhooks (see [`crate::orders`]): an order a webhook
//! already brought does nothing, one whose webhook was lost is acted on now, exactly once.
//!
//! Every page is checkpointed with what it enqueued; the cursor (the latest `updatedAt` read)
//! moves only when the walk reaches the end, so a walk that dies starts again from the same
//! place and relies on the ledger, whatever order Commerce7 pages in. The first run starts at
//! `reconcile_since`, or, without it, just records the present: orders from before the
//! connector are not its business unless asked.

use crate::client::Client;
use crate::config::Settings;
use crate::orders::{self, Acted, Order};
use connector_sdk::http::{encode, Request};
use connector_sdk::{log, state, time, Error, RunContext, RunSummary};
use serde_json::Value;

/// State key of the cursor: Unix seconds of the latest `updatedAt` read.
const CURSOR: &str = "orders_cursor";
/// Orders per page (Commerce7's maximum).
const PAGE: u32 = 50;

/// Runs job `reconcile`.
pub fn run(_ctx: &RunContext) -> Result<RunSummary, Error> {
    let settings = Settings::load()?;
    let client = Client::new(&settings);
    let now = time::now();
    let saved: Option<i64> = state::get_json(CURSOR)?;
    let since = match (saved, settings.reconcile_since) {
        (Some(c), _) => c - settings.reconcile_overlap,
        (None, Some(s)) => s,
        (None, None) => {
            state::set_json(CURSOR, &now)?;
            return Ok(RunSummary::new(format!(
                "first run: orders are reconciled from {} on (set reconcile_since to start earlier)",
                time::format_utc(now)
            )));
        }
    };
    let filter = encode(&format!("gte:{}", time::format_utc(since)));
    let mut cursor = "start".to_owned();
    let (mut pages, mut read, mut paid, mut enqueued, mut seen) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut latest = since;
    loop {
        let url = client.url(&format!(
            "/order?cursor={}&limit={PAGE}&updatedAt={filter}",
            encode(&cursor)
        ));
        let what = "GET /order (cursor)";
        let page = client
            .call(Request::get(url), what, None, false)?
            .map_err(|r| Error::upstream(r.to_string()))?;
        let list = page
            .get("orders")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        pages += 1;
        for o in &list {
            read += 1;
            if let Some(t) = o
                .get("updatedAt")
                .and_then(Value::as_str)
                .and_then(time::parse)
            {
                latest = latest.max(t);
            }
            let Some(order) = Order::paid(o) else {
                continue;
            };
            paid += 1;
            match orders::act(&settings, &order, "reconcile", time::now())? {
                Acted::Seen => seen += 1,
                Acted::Enqueued { .. } => enqueued += 1,
                Acted::Nothing(_) => {}
            }
        }
        state::checkpoint()?;
        match page.get("cursor").and_then(Value::as_str) {
            Some(next) if !list.is_empty() => cursor = next.to_owned(),
            _ => break,
        }
    }
    state::set_json(CURSOR, &latest)?;
    if enqueued > 0 {
        log::warn(
            "reconcile enqueued memberships whose webhooks never came",
            &[("jobs", &enqueued.to_string())],
        );
    }
    Ok(RunSummary::new(format!(
        "{read} orders since {} in {pages} pages: {paid} paid, {seen} already handled, {enqueued} membership jobs for missed webhooks",
        time::format_utc(since)
    ))
    .counter("orders", read)
    .counter("paid", paid)
    .counter("already_handled", seen)
    .counter("enqueued", enqueued))
}
