//! `customer_sales`: per-customer aggregates recomputed from `sales` for the customers a run
//! touched, with names and CNPJs from `/Contacts`; and `days_since_last_purchase` kept current
//! for every customer, touched or not.

use crate::client::Client;
use crate::config::{ContactsLookup, Settings};
use crate::odata::{self, MAX_PAGE};
use crate::rows::{customer_row, Aggregate, Contact};
use crate::{sql, time};
use connector_sdk::db::{self, Row, Value};
use connector_sdk::Error;
use std::collections::{BTreeMap, BTreeSet};

/// Customers per aggregate query or delete (parameters per statement stay far under the cap).
const CHUNK: usize = 500;
/// Rows per upsert call (the host batches them into statements).
const UPSERT_ROWS: usize = 2000;

/// What a recomputation did.
#[derive(Default)]
pub struct Recomputed {
    /// Customers whose row was written.
    pub written: u64,
    /// Customers whose row was removed: they have no deal left.
    pub removed: u64,
}

fn values(ids: &[i64]) -> Vec<Value> {
    ids.iter().map(|&i| Value::Integer(i)).collect()
}

/// Every customer that has deals in `sales` or a row in `customer_sales` (what a walk over every
/// deal recomputes: the second set catches customers whose last deal moved away).
pub fn all() -> Result<BTreeSet<i64>, Error> {
    let mut all = BTreeSet::new();
    for sql in [sql::CUSTOMERS_IN_SALES, sql::CUSTOMERS_IN_CUSTOMER_SALES] {
        let mut after = i64::MIN;
        loop {
            let rows = db::query(sql, &[after.into()])?;
            for id in rows
                .rows
                .iter()
                .filter_map(|r| r.first().and_then(Value::as_i64))
            {
                all.insert(id);
                after = id;
            }
            if rows.rows.len() < 10_000 {
                break;
            }
        }
    }
    Ok(all)
}

/// Recomputes the `customer_sales` rows of `customers` from `sales`.
pub fn recompute(
    customers: &BTreeSet<i64>,
    client: &mut Client,
    settings: &Settings,
    now: i64,
) -> Result<Recomputed, Error> {
    let mut done = Recomputed::default();
    if customers.is_empty() {
        return Ok(done);
    }
    let ids: Vec<i64> = customers.iter().copied().collect();
    let mut aggregates = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let rows = db::query(&sql::aggregates(chunk.len()), &values(chunk))?;
        for row in &rows.rows {
            aggregates.push(Aggregate::from_row(row)?);
        }
    }
    let with_deals: BTreeSet<i64> = aggregates.iter().map(|a| a.customer_id).collect();
    let gone: Vec<i64> = ids
        .iter()
        .copied()
        .filter(|id| !with_deals.contains(id))
        .collect();
    for chunk in gone.chunks(CHUNK) {
        done.removed += db::execute(&sql::delete_customers(chunk.len()), &values(chunk))?;
    }
    let contacts = contacts(&with_deals, client, settings)?;
    let rows: Vec<Row> = aggregates
        .iter()
        .map(|a| customer_row(a, contacts.get(&a.customer_id), now))
        .collect();
    for chunk in rows.chunks(UPSERT_ROWS) {
        db::upsert(
            "customer_sales",
            sql::CUSTOMER_COLUMNS,
            &["customer_id"],
            chunk,
        )?;
    }
    done.written = rows.len() as u64;
    Ok(done)
}

/// The contacts among `wanted` that Ploomes has, by id. A scan costs one request per 300
/// contacts of the account, a by-id lookup one per `contacts_batch` customers; `auto` scans when
/// more than ten by-id requests would be needed (typically a first, full sync).
fn contacts(
    wanted: &BTreeSet<i64>,
    client: &mut Client,
    settings: &Settings,
) -> Result<BTreeMap<i64, Contact>, Error> {
    let mut found = BTreeMap::new();
    let scan = match settings.contacts_lookup {
        ContactsLookup::Scan => !wanted.is_empty(),
        ContactsLookup::ById => false,
        ContactsLookup::Auto => wanted.len() > settings.contacts_batch * 10,
    };
    if scan {
        let mut after = 0i64;
        loop {
            let url = odata::contacts_scan_url(
                &settings.base_url,
                after,
                settings.client_tag_id,
                MAX_PAGE,
            );
            let page: Vec<Contact> = client.list(&url, "GET /Contacts")?;
            let full = page.len() >= MAX_PAGE as usize;
            for c in page {
                after = after.max(c.id);
                if wanted.contains(&c.id) {
                    found.insert(c.id, c);
                }
            }
            if !full {
                break;
            }
        }
    }
    // Contacts a scan did not see (no longer tagged, say) are asked for by id.
    let missing: Vec<i64> = wanted
        .iter()
        .copied()
        .filter(|id| !found.contains_key(id))
        .collect();
    for chunk in missing.chunks(settings.contacts_batch) {
        let url = odata::contacts_by_id_url(&settings.base_url, chunk);
        for c in client.list::<Contact>(&url, "GET /Contacts")? {
            found.insert(c.id, c);
        }
    }
    Ok(found)
}

/// Brings `days_since_last_purchase` up to date for every customer (days pass for customers no
/// run touched too). Writes only the rows whose value changes; returns how many.
pub fn refresh_days(now: i64) -> Result<u64, Error> {
    let mut changed: Vec<(i64, i64)> = Vec::new();
    let mut after = i64::MIN;
    loop {
        let rows = db::query(sql::PURCHASE_DATES, &[after.into()])?;
        for row in &rows.rows {
            let Some(id) = row.first().and_then(Value::as_i64) else {
                continue;
            };
            after = id;
            let Some(last) = row.get(1).and_then(Value::as_str).and_then(time::parse) else {
                continue;
            };
            let days = time::days_between(last, now);
            if row.get(2).and_then(Value::as_i64) != Some(days) {
                changed.push((id, days));
            }
        }
        if rows.rows.len() < 5000 {
            break;
        }
    }
    let stamp = Value::Timestamp(time::format_utc(now));
    for chunk in changed.chunks(CHUNK - 1) {
        let mut params = Vec::with_capacity(1 + 2 * chunk.len());
        params.push(stamp.clone());
        for &(id, days) in chunk {
            params.push(id.into());
            params.push(days.into());
        }
        db::execute(&sql::set_days(chunk.len()), &params)?;
    }
    Ok(changed.len() as u64)
}
