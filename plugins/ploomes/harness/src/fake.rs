//! A fake Ploomes API for the tests, the benchmark and the demo.
//!
//! [`PloomesData`] holds reproducible generated data ([`Generate`]) and lets a test change it —
//! also *during* a sync, through [`PloomesData::on_deals_request`]. [`router`] serves the OData
//! subset a Ploomes client uses:
//!
//! - `GET /Deals` and `GET /Contacts` with `$select` (unknown fields answer `400`), `$filter`
//!   (see `filter`: `and`/`or`/`not`, comparisons, `Contact/Tags/any(t: t/TagId eq N)`),
//!   `$orderby` (any fields, `asc`/`desc`), `$top` (at most 300, the real per-page limit) and
//!   `$skip`; answers `{"@odata.context": …, "value": [...]}` with dates in `-03:00`;
//! - `GET /Account` (the official credential check);
//! - a `User-Key` check on every route: a missing or wrong key answers `403` with a JSON error.
//!
//! Quotas (`429`, or Ploomes' `403` HTML page) and faults come from [`fake_upstreams::FakeServer`]:
//!
//! ```no_run
//! # async fn demo() {
//! use fake_upstreams::{FakeServer, Quota, QuotaAnswer};
//! use ploomes_harness::fake as ploomes;
//! let data = ploomes::PloomesData::generate(&ploomes::Generate::small(), "key-1");
//! let server = FakeServer::start(ploomes::router(data.clone())).await;
//! server.set_quota(Some(Quota::per_minute(120, QuotaAnswer::ForbiddenHtml)));
//! # }
//! ```

mod api;
mod dates;
mod filter;
mod generate;
#[cfg(test)]
mod tests;

pub use api::{router, MAX_TOP};
pub use dates::{format as format_date, parse as parse_date};
pub use generate::{Generate, Rng};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

/// A deal. Dates are Unix seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Deal {
    pub id: i64,
    pub title: String,
    pub contact_id: Option<i64>,
    /// `None`: the deal has no amount (Ploomes allows it).
    pub amount: Option<f64>,
    /// 1 open, 2 won, 3 lost.
    pub status_id: i64,
    pub pipeline_id: i64,
    pub stage_id: i64,
    pub owner_id: i64,
    pub create_date: i64,
    pub finish_date: Option<i64>,
    pub last_update_date: i64,
}

/// A contact (a customer when it has deals).
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub id: i64,
    pub name: String,
    pub cnpj: Option<String>,
    pub tag_ids: Vec<i64>,
    pub last_update_date: i64,
}

/// A change applied just before a given `/Deals` request is answered.
type Hook = Box<dyn FnOnce(&PloomesData) + Send>;

struct Store {
    api_key: String,
    deals: BTreeMap<i64, Deal>,
    /// (LastUpdateDate, Id) of every deal: the keyset order.
    order: BTreeSet<(i64, i64)>,
    contacts: BTreeMap<i64, Contact>,
    deals_requests: usize,
    hooks: Vec<(usize, Hook)>,
    failing: Option<u16>,
    served: Vec<(i64, i64)>,
    clock: Option<i64>,
}

impl Store {
    fn now(&self) -> i64 {
        self.clock.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        })
    }

    fn put(&mut self, deal: Deal) {
        if let Some(old) = self.deals.get(&deal.id) {
            self.order.remove(&(old.last_update_date, old.id));
        }
        self.order.insert((deal.last_update_date, deal.id));
        self.deals.insert(deal.id, deal);
    }
}

/// The fake's data, shared by its router and the test (cheap to clone).
#[derive(Clone)]
pub struct PloomesData {
    inner: Arc<Mutex<Store>>,
}

impl std::fmt::Debug for PloomesData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("PloomesData")
            .field("deals", &s.deals.len())
            .field("contacts", &s.contacts.len())
            .finish()
    }
}

impl PloomesData {
    /// Generated data answering only `api_key`.
    pub fn generate(g: &Generate, api_key: &str) -> Self {
        let (contacts, deals) = generate::generate(g);
        Self::from_parts(contacts, deals, api_key)
    }

    /// Data made of these contacts and deals, answering only `api_key`.
    pub fn from_parts(contacts: Vec<Contact>, deals: Vec<Deal>, api_key: &str) -> Self {
        let mut store = Store {
            api_key: api_key.to_owned(),
            deals: BTreeMap::new(),
            order: BTreeSet::new(),
            contacts: contacts.into_iter().map(|c| (c.id, c)).collect(),
            deals_requests: 0,
            hooks: Vec::new(),
            failing: None,
            served: Vec::new(),
            clock: None,
        };
        for d in deals {
            store.put(d);
        }
        PloomesData {
            inner: Arc::new(Mutex::new(store)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every deal, by id.
    pub fn deals(&self) -> Vec<Deal> {
        self.lock().deals.values().cloned().collect()
    }

    /// One deal.
    pub fn deal(&self, id: i64) -> Option<Deal> {
        self.lock().deals.get(&id).cloned()
    }

    /// Every contact, by id.
    pub fn contacts(&self) -> Vec<Contact> {
        self.lock().contacts.values().cloned().collect()
    }

    /// The time mutations stamp (Unix seconds): the wall clock, unless [`set_clock`](Self::set_clock).
    pub fn now(&self) -> i64 {
        self.lock().now()
    }

    /// Fixes the clock mutations stamp with (`None`: the wall clock again).
    pub fn set_clock(&self, at: Option<i64>) {
        self.lock().clock = at;
    }

    /// Adds a deal created now for `contact_id`; returns its id (higher than every other).
    pub fn insert_deal(&self, contact_id: Option<i64>, amount: f64, status_id: i64) -> i64 {
        let mut s = self.lock();
        let now = s.now();
        let id = s.deals.keys().next_back().copied().unwrap_or(400_000_000) + 1;
        s.put(Deal {
            id,
            title: format!("Novo pedido {id}"),
            contact_id,
            amount: Some(amount),
            status_id,
            pipeline_id: 110_000_123,
            stage_id: 110_000_456,
            owner_id: 40_012,
            create_date: now,
            finish_date: (status_id != 1).then_some(now),
            last_update_date: now,
        });
        id
    }

    /// Changes deal `id` with `f` and stamps it updated now; false if there is no such deal.
    pub fn update_deal(&self, id: i64, f: impl FnOnce(&mut Deal)) -> bool {
        let mut s = self.lock();
        let now = s.now();
        let Some(mut deal) = s.deals.get(&id).cloned() else {
            return false;
        };
        f(&mut deal);
        deal.last_update_date = now;
        s.put(deal);
        true
    }

    /// Wins (2), loses (3) or reopens (1) deal `id`, as Ploomes' Win/Lose/Reopen actions do.
    pub fn set_status(&self, id: i64, status_id: i64) -> bool {
        let now = self.now();
        self.update_deal(id, |d| {
            d.status_id = status_id;
            d.finish_date = (status_id != 1).then_some(now);
        })
    }

    /// Changes contact `id` with `f` (names, CNPJ, tags).
    pub fn update_contact(&self, id: i64, f: impl FnOnce(&mut Contact)) -> bool {
        let mut s = self.lock();
        let now = s.now();
        match s.contacts.get_mut(&id) {
            Some(c) => {
                f(c);
                c.last_update_date = now;
                true
            }
            None => false,
        }
    }

    /// Runs `f` just before the `n`-th `/Deals` request from now (1 = the next one) is answered,
    /// so a test can change data in the middle of a sync.
    pub fn on_deals_request(&self, n: usize, f: impl FnOnce(&PloomesData) + Send + 'static) {
        let mut s = self.lock();
        let at = s.deals_requests + n.max(1);
        s.hooks.push((at, Box::new(f)));
    }

    /// While `Some(status)`, `/Deals` answers that status with a JSON error (an outage).
    pub fn fail_deals(&self, status: Option<u16>) {
        self.lock().failing = status;
    }

    /// `/Deals` requests with a valid key answered so far.
    pub fn deals_requests(&self) -> usize {
        self.lock().deals_requests
    }

    /// (Id, LastUpdateDate) of every deal version served by `/Deals` since the last
    /// [`clear_served`](Self::clear_served), in order.
    pub fn served_deals(&self) -> Vec<(i64, i64)> {
        self.lock().served.clone()
    }

    /// Forgets the served-deal log.
    pub fn clear_served(&self) {
        self.lock().served.clear();
    }
}
