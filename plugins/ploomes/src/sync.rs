//! One sync run: walk `/Deals` by keyset on (LastUpdateDate, Id) from the saved cursor, upsert each
//! page into `sales` and checkpoint it together with the cursor (and, incrementally, the set of
//! customers still to recompute); then recompute those customers' `customer_sales` rows. A walk
//! from the beginning (first run, `full` job, changed settings) recomputes every customer at its
//! end instead of tracking them page by page.
//!
//! Why a keyset and not `$skip`: a deal updated during the sync moves to the end of the
//! (LastUpdateDate, Id) order, so pages already read never shift — no row is skipped and no
//! version is read twice; the updated deal is read again, in its new version, when the walk
//! reaches it. Why an incremental run starts at `LastUpdateDate ge (cursor - overlap_seconds)`
//! rather than strictly after the cursor: Ploomes stamps `LastUpdateDate` in whole seconds, so a
//! deal written later in the cursor's own second but with a lower `Id` would sort before the
//! cursor, and a write committed a little after its stamp could too; re-reading that short span
//! is harmless (upserts). A run that was interrupted resumes strictly after its cursor, since it
//! is still walking the past.

use crate::client::Client;
use crate::config::Settings;
use crate::customers;
use crate::odata::{self, Start};
use crate::rows::{sales_row, status_name, Deal};
use crate::{sql, time};
use connector_sdk::db::{self, Row, Value};
use connector_sdk::{log, state, Error, RunSummary};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// State key of the deal cursor.
const CURSOR: &str = "deals_cursor";
/// State key of the customers whose deals changed but whose aggregates are not recomputed yet.
const PENDING: &str = "pending_customers";
/// Recompute (and forget) pending customers once this many have piled up, so the state value
/// stays small on huge first syncs.
const PENDING_FLUSH: usize = 5000;

/// Where the last checkpointed page ended.
#[derive(Serialize, Deserialize, Debug, Clone)]
struct Cursor {
    /// `Settings::scope` when it was written; another scope means a full sync.
    scope: String,
    /// The last deal's `LastUpdateDate`, as Ploomes wrote it.
    date: String,
    /// The last deal's `Id`.
    id: i64,
    /// Whether the run that wrote it reached the end of the deals.
    complete: bool,
    /// Whether the walk started at the beginning: its end recomputes every customer.
    #[serde(default)]
    full: bool,
}

/// Counters for the run summary.
#[derive(Default)]
struct Counts {
    pages: u64,
    deals: u64,
    unknown_status: u64,
    customers_written: u64,
    customers_removed: u64,
    days_refreshed: u64,
}

/// Runs job `sync` (incremental) or `full` (ignores the cursor).
pub fn run(full: bool) -> Result<RunSummary, Error> {
    let settings = Settings::load()?;
    let now = time::now();
    let synced_at = time::format_utc(now);
    let scope = settings.scope();
    let mut cursor: Option<Cursor> = state::get_json(CURSOR)?;
    if let Some(c) = cursor.as_ref().filter(|c| c.scope != scope) {
        log::info(
            "the deal cursor was written under other settings; syncing every deal",
            &[("was", &c.scope), ("now", &scope)],
        );
        cursor = None;
    }
    if full {
        cursor = None;
    }
    let mut pending: BTreeSet<i64> = state::get_json::<Vec<i64>>(PENDING)?
        .unwrap_or_default()
        .into_iter()
        .collect();
    let mut start = match &cursor {
        None => Start::Beginning,
        Some(c) if c.complete => {
            let since = time::parse(&c.date).ok_or_else(|| {
                Error::invalid(format!("the saved cursor date {:?} does not parse", c.date))
            })? - settings.overlap_seconds;
            Start::Since(time::format_utc(since))
        }
        Some(c) => Start::After {
            date: c.date.clone(),
            id: c.id,
        },
    };
    // A walk from the beginning (or resuming one) recomputes every customer at its end, so its
    // pages need not track which customers they touch.
    let full_walk = cursor.as_ref().is_none_or(|c| !c.complete && c.full);
    log::info(
        "sync starting",
        &[
            ("from", &format!("{start:?}")),
            ("full", &full_walk.to_string()),
            ("pending_customers", &pending.len().to_string()),
        ],
    );

    let mut client = Client::new(&settings);
    let mut counts = Counts::default();
    loop {
        let url = odata::deals_url(
            &settings.base_url,
            &start,
            settings.client_tag_id,
            settings.page_size,
        );
        let deals: Vec<Deal> = client.list(&url, "GET /Deals")?;
        let Some(last) = deals.last() else {
            break;
        };
        let last_date = last.last_update_date.clone().ok_or_else(|| {
            Error::upstream(format!(
                "GET /Deals: deal {} has no LastUpdateDate to page on",
                last.id
            ))
        })?;
        let last_id = last.id;
        let full_page = deals.len() >= settings.page_size as usize;
        let page_len = deals.len();
        let pending_before = pending.len();
        let track = (!full_walk).then_some(&mut pending);
        write_page(deals, &synced_at, track, &mut counts)?;
        if pending.len() >= PENDING_FLUSH {
            let done = customers::recompute(&pending, &mut client, &settings, now)?;
            counts.customers_written += done.written;
            counts.customers_removed += done.removed;
            pending.clear();
        }
        let c = Cursor {
            scope: scope.clone(),
            date: last_date.clone(),
            id: last_id,
            complete: false,
            full: full_walk,
        };
        state::set_json(CURSOR, &c)?;
        // The set only grows between flushes: unchanged size, unchanged set.
        if pending.len() != pending_before {
            state::set_json(PENDING, &pending)?;
        }
        state::checkpoint()?;
        cursor = Some(c);
        counts.pages += 1;
        log::debug(
            "page written",
            &[
                ("page", &counts.pages.to_string()),
                ("deals", &page_len.to_string()),
                ("cursor", &format!("{last_date} #{last_id}")),
            ],
        );
        if !full_page {
            break;
        }
        start = Start::After {
            date: last_date,
            id: last_id,
        };
    }

    if full_walk {
        pending.extend(customers::all()?);
    }
    let done = customers::recompute(&pending, &mut client, &settings, now)?;
    counts.customers_written += done.written;
    counts.customers_removed += done.removed;
    pending.clear();
    state::set_json(PENDING, &pending)?;
    if let Some(mut c) = cursor {
        c.complete = true;
        c.full = false;
        state::set_json(CURSOR, &c)?;
    }
    counts.days_refreshed = customers::refresh_days(now)?;

    let message = format!(
        "{} deals in {} pages; {} customers recomputed, {} removed; {} HTTP requests",
        counts.deals,
        counts.pages,
        counts.customers_written,
        counts.customers_removed,
        client.requests
    );
    log::info("sync finished", &[("summary", &message)]);
    Ok(RunSummary::new(message)
        .counter("pages", counts.pages)
        .counter("deals", counts.deals)
        .counter("deals_unknown_status", counts.unknown_status)
        .counter("customers_written", counts.customers_written)
        .counter("customers_removed", counts.customers_removed)
        .counter("days_refreshed", counts.days_refreshed)
        .counter("requests", client.requests)
        .counter("quota_backoffs", client.quota_backoffs)
        .counter("quota_wait_ms", client.quota_wait.as_millis() as u64)
        .counter("decode_retries", client.decode_retries))
}

/// Upserts one page into `sales`. With `pending`, adds to it the customers each deal belongs to
/// now and the ones it was stored under before (a deal can move between customers).
fn write_page(
    deals: Vec<Deal>,
    synced_at: &str,
    mut pending: Option<&mut BTreeSet<i64>>,
    counts: &mut Counts,
) -> Result<(), Error> {
    if let Some(pending) = pending.as_deref_mut() {
        let ids: Vec<Value> = deals.iter().map(|d| Value::Integer(d.id)).collect();
        let before = db::query(&sql::stored_customers(ids.len()), &ids)?;
        pending.extend(
            before
                .rows
                .iter()
                .filter_map(|r| r.get(1).and_then(Value::as_i64)),
        );
    }
    counts.deals += deals.len() as u64;
    let mut rows: Vec<Row> = Vec::with_capacity(deals.len());
    for deal in deals {
        if status_name(deal.status_id).is_none() {
            counts.unknown_status += 1;
            log::warn(
                "deal with a status other than open, won or lost; stored with status NULL",
                &[
                    ("deal", &deal.id.to_string()),
                    ("status_id", &format!("{:?}", deal.status_id)),
                ],
            );
        }
        if let Some(pending) = pending.as_deref_mut() {
            pending.extend(deal.contact_id);
        }
        rows.push(sales_row(deal, synced_at)?);
    }
    db::upsert("sales", sql::SALES_COLUMNS, &["id"], &rows)?;
    Ok(())
}
