//! A fake Supabase Data API (PostgREST behind Supabase's API gateway) serving the portal's `leads` table.
//!
//! [`PortalData`] holds reproducible generated leads ([`PortalData::generate`]) and lets a test
//! change them, also *during* a sync ([`PortalData::on_leads_request`]). [`router`] serves
//! `GET` and `HEAD /rest/v1/leads` the way PostgREST does:
//!
//! - the gateway's key check first ([`ApiKey`]; see `auth` for the exact rules and bodies);
//! - `select=` (columns, `*`, `alias:column`), filters `column=[not.]op.value` with `eq neq gt gte
//!   lt lte like ilike in is isdistinct`, `or=(…)`/`and=(…)` trees (nested, negated), `order=`
//!   with `asc`/`desc`/`nullsfirst`/`nullslast`, `limit`/`offset` and the `Range` header;
//! - typed comparisons: timestamps compare as instants, uuids as uuids, text byte-wise (C collation);
//! - answers like PostgREST: `json_agg` bodies, `Content-Range`, `Prefer: count=exact` with
//!   `206` whenever a page holds fewer rows than the total (the last page of several too) and
//!   `416` when the offset is beyond it, `max-rows` (1000, as on Supabase), errors
//!   `{code,details,hint,message}` with PostgREST's or Postgres' codes and statuses, and
//!   `Proxy-Status`.
//!
//! What PostgREST accepts but the fake does not implement (writes, embedding, casts, JSON paths,
//! regex and full-text operators, `(any)`/`(all)`, CSV, a non-UTC `Prefer: timezone`) answers
//! `501` with code `FAKE501`, which no real server sends.
//!
//! Quotas, resets, hangs and malformed bodies come from [`fake_upstreams::FakeServer`]:
//!
//! ```no_run
//! # async fn demo() {
//! use fake_upstreams::FakeServer;
//! use portal_harness::fake::{router, ApiKey, PortalData};
//! let data = PortalData::generate(7, 2_500, ApiKey::sample_secret());
//! let server = FakeServer::start(router(data.clone())).await;
//! // GET {base_url}/rest/v1/leads?select=id,created_at&order=created_at.asc,id.asc&limit=1000
//! // with `apikey: <data.key()>`
//! # }
//! ```

mod api;
mod auth;
mod columns;
mod data;
mod error;
mod filter;
mod predicate;
mod query;
mod range;
mod select;
#[cfg(test)]
mod tests;
mod time;

pub use api::{router, DEFAULT_MAX_ROWS};
pub use data::Rng;
pub use time::{format as format_timestamp, parse as parse_timestamp};

use chrono::{DateTime, Utc};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

/// One row of `public.leads`. Timestamps have microsecond precision, like `timestamptz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lead {
    /// `uuid`, rendered lowercase with hyphens.
    pub id: String,
    /// `text not null`.
    pub name: String,
    /// `text`, nullable.
    pub email: Option<String>,
    /// `text`, nullable (E.164 when present).
    pub phone: Option<String>,
    /// `text not null`: where the lead came from (`landing-page`, `whatsapp`, …).
    pub source: String,
    /// `text not null`: `new`, `contacted`, `qualified`, `converted` or `lost`.
    pub status: String,
    /// `text`, nullable: the Zoho CRM lead id once the lead has been copied there.
    pub zoho_lead_id: Option<String>,
    /// `timestamptz not null`.
    pub created_at: DateTime<Utc>,
    /// `timestamptz not null`, bumped by every [`PortalData::update_lead`].
    pub updated_at: DateTime<Utc>,
}

/// The project key the fake accepts, which also decides how it must be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiKey {
    /// A legacy JWT key (`eyJ…`, anon or service_role): the fake requires it in `apikey` *and*
    /// as `Authorization: Bearer <key>` (the strict reading of the legacy documentation).
    Legacy(String),
    /// A new secret key (`sb_secret_…`): `apikey` only; it is not a JWT, so any `Authorization`
    /// header is refused, and so is a browser `User-Agent`.
    Secret(String),
}

impl ApiKey {
    /// The key kind from its shape: `eyJ…` is legacy, `sb_secret_…` secret; anything else `None`.
    pub fn detect(key: &str) -> Option<ApiKey> {
        if key.starts_with("eyJ") && key.split('.').count() == 3 {
            Some(ApiKey::Legacy(key.to_owned()))
        } else if key.starts_with("sb_secret_") && key.len() > "sb_secret_".len() {
            Some(ApiKey::Secret(key.to_owned()))
        } else {
            None
        }
    }

    /// A fixed, well-formed secret key for tests and the demo.
    pub fn sample_secret() -> ApiKey {
        ApiKey::Secret("sb_secret_FakePortal0123456789abcdefghijkl".to_owned())
    }

    /// A fixed legacy service_role-style JWT (header and claims are real base64url JSON; the
    /// signature is not, since nothing verifies it).
    pub fn sample_legacy() -> ApiKey {
        ApiKey::Legacy(
            concat!(
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.",
            "eyJpc3MiOiJzdXBhYmFzZSIsInJlZiI6ImZha2Vwb3J0YWxyZWYiLCJyb2xlIjoic2VydmljZV9yb2xlIiwi",
            "aWF0IjoxNzUxMzI4MDAwLCJleHAiOjIwNjY5MDQwMDB9.",
            "ZmFrZS1zaWduYXR1cmUtbm90LXZlcmlmaWVk"
        )
            .to_owned(),
        )
    }

    /// The key text.
    pub fn as_str(&self) -> &str {
        match self {
            ApiKey::Legacy(k) | ApiKey::Secret(k) => k,
        }
    }
}

/// A PostgREST error to answer instead of the next request (see [`PortalData::fail_next`]).
#[derive(Debug, Clone)]
struct ScriptedError {
    status: u16,
    code: String,
    message: String,
    details: Option<String>,
    hint: Option<String>,
}

/// A change applied just before a given `/rest/v1/leads` request is answered.
type Hook = Box<dyn FnOnce(&PortalData) + Send>;

struct Store {
    key: ApiKey,
    max_rows: Option<usize>,
    /// The table in heap order: insertion order, an updated row moving to the end (a new tuple
    /// version), which is what an unordered `SELECT` returns.
    leads: Vec<Lead>,
    clock: Option<DateTime<Utc>>,
    rng: Rng,
    failures: VecDeque<ScriptedError>,
    requests: usize,
    hooks: Vec<(usize, Hook)>,
}

impl Store {
    fn now(&self) -> DateTime<Utc> {
        time::truncate(self.clock.unwrap_or_else(Utc::now))
    }
}

/// The fake's data, shared by its router and the test (cheap to clone).
#[derive(Clone)]
pub struct PortalData {
    inner: Arc<Mutex<Store>>,
}

impl std::fmt::Debug for PortalData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("PortalData")
            .field("leads", &s.leads.len())
            .field("max_rows", &s.max_rows)
            .finish()
    }
}

impl PortalData {
    /// `n` reproducible leads drawn from `seed`, answering only `key`. They are created over
    /// the first half of 2025 (some updated later), with a bulk import of a fifth of them
    /// sharing one `created_at` (so keyset pages must tie-break on `id`) and a few nulls in
    /// `email`, `phone` and `zoho_lead_id`.
    pub fn generate(seed: u64, n: usize, key: ApiKey) -> Self {
        let mut rng = Rng::new(seed);
        let leads = data::generate(&mut rng, n);
        Self::build(leads, key, rng)
    }

    /// A table holding exactly `leads` (in this heap order), answering only `key`.
    pub fn from_leads(leads: Vec<Lead>, key: ApiKey) -> Self {
        Self::build(leads, key, Rng::new(0x5eed))
    }

    fn build(leads: Vec<Lead>, key: ApiKey, rng: Rng) -> Self {
        let leads = leads.into_iter().map(data::truncate_lead).collect();
        PortalData {
            inner: Arc::new(Mutex::new(Store {
                key,
                max_rows: Some(DEFAULT_MAX_ROWS),
                leads,
                clock: None,
                rng,
                failures: VecDeque::new(),
                requests: 0,
                hooks: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The accepted key.
    pub fn key(&self) -> ApiKey {
        self.lock().key.clone()
    }

    /// Accepts `key` (and only it) from now on, e.g. to test a rotation.
    pub fn set_key(&self, key: ApiKey) {
        self.lock().key = key;
    }

    /// Sets PostgREST's `max-rows` (`None`: unlimited). Supabase's default is 1000.
    pub fn set_max_rows(&self, max_rows: Option<usize>) {
        self.lock().max_rows = max_rows;
    }

    /// Every lead, ordered by `(created_at, id)`.
    pub fn leads(&self) -> Vec<Lead> {
        let mut all = self.lock().leads.clone();
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        all
    }

    /// One lead by id (any case, with or without hyphens).
    pub fn lead(&self, id: &str) -> Option<Lead> {
        let id = data::normalize_uuid(id)?;
        self.lock().leads.iter().find(|l| l.id == id).cloned()
    }

    /// How many leads the table holds.
    pub fn len(&self) -> usize {
        self.lock().leads.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The time inserts and updates stamp: the wall clock unless [`set_now`](Self::set_now),
    /// truncated to microseconds like `timestamptz`.
    pub fn now(&self) -> DateTime<Utc> {
        self.lock().now()
    }

    /// Fixes the clock (`None`: the wall clock again).
    pub fn set_now(&self, at: Option<DateTime<Utc>>) {
        self.lock().clock = at;
    }

    /// Adds a `new` lead created now with a fresh (seeded) uuid; returns the id.
    pub fn insert_lead(
        &self,
        name: &str,
        email: Option<&str>,
        phone: Option<&str>,
        source: &str,
    ) -> String {
        let mut s = self.lock();
        let now = s.now();
        let id = data::uuid_v4(&mut s.rng);
        s.leads.push(Lead {
            id: id.clone(),
            name: name.to_owned(),
            email: email.map(str::to_owned),
            phone: phone.map(str::to_owned),
            source: source.to_owned(),
            status: "new".to_owned(),
            zoho_lead_id: None,
            created_at: now,
            updated_at: now,
        });
        id
    }

    /// Inserts `lead` as given (timestamps truncated to microseconds), replacing any lead with
    /// the same id.
    pub fn put_lead(&self, lead: Lead) {
        let lead = data::truncate_lead(lead);
        let mut s = self.lock();
        s.leads.retain(|l| l.id != lead.id);
        s.leads.push(lead);
    }

    /// Changes lead `id` with `f` and stamps `updated_at` now (the row moves to the end of the
    /// heap, like a new tuple version); false if there is no such lead.
    pub fn update_lead(&self, id: &str, f: impl FnOnce(&mut Lead)) -> bool {
        let Some(id) = data::normalize_uuid(id) else {
            return false;
        };
        let mut s = self.lock();
        let now = s.now();
        let Some(i) = s.leads.iter().position(|l| l.id == id) else {
            return false;
        };
        let mut lead = s.leads.remove(i);
        f(&mut lead);
        // The id is the primary key: a closure that changed it must not create a duplicate.
        lead.id = id;
        lead.updated_at = now;
        let lead = data::truncate_lead(lead);
        s.leads.push(lead);
        true
    }

    /// Deletes lead `id`; false if there is no such lead.
    pub fn delete_lead(&self, id: &str) -> bool {
        let Some(id) = data::normalize_uuid(id) else {
            return false;
        };
        let mut s = self.lock();
        let before = s.leads.len();
        s.leads.retain(|l| l.id != id);
        s.leads.len() != before
    }

    /// Answers the next authenticated `/rest/v1/leads` request with this PostgREST error
    /// instead (queued: each call scripts one more request). A status outside 100–999 becomes 500.
    pub fn fail_next(
        &self,
        status: u16,
        code: &str,
        message: &str,
        details: Option<&str>,
        hint: Option<&str>,
    ) {
        self.lock().failures.push_back(ScriptedError {
            status,
            code: code.to_owned(),
            message: message.to_owned(),
            details: details.map(str::to_owned),
            hint: hint.map(str::to_owned),
        });
    }

    /// Runs `f` just before the `n`-th authenticated `/rest/v1/leads` request from now
    /// (1 = the next one) is answered, so a test can change data in the middle of a sync.
    pub fn on_leads_request(&self, n: usize, f: impl FnOnce(&PortalData) + Send + 'static) {
        let mut s = self.lock();
        let at = s.requests + n.max(1);
        s.hooks.push((at, Box::new(f)));
    }

    /// Authenticated `/rest/v1/leads` requests seen so far (answered or failed).
    pub fn leads_requests(&self) -> usize {
        self.lock().requests
    }
}
