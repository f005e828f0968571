//! [`Commerce7Data`]: the fake's shared state (credentials, tenants, clock, rate limit, scripted failures) and what a test does with it.

use super::data::{
    Channel, Club, ClubType, Contact, Customer, DeliveryMethod, Membership, MembershipStatus,
    Order, OrderItem, PaymentStatus,
};
use super::error::ApiError;
use super::generate::{generate, Dataset, Rng};
use super::quota::RateLimit;
use super::tenant::Tenant;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

/// The app id new data answers to until [`Commerce7Data::set_credentials`].
pub const DEFAULT_APP_ID: &str = "fake-commerce7-app";
/// The secret key new data answers to until [`Commerce7Data::set_credentials`].
pub const DEFAULT_SECRET: &str = "fake-commerce7-secret";

/// Everything the router and the test share, behind one mutex.
#[derive(Debug)]
pub(super) struct Store {
    pub(super) app_id: String,
    pub(super) secret: String,
    pub(super) tenants: BTreeMap<String, Tenant>,
    clock: Option<DateTime<Utc>>,
    pub(super) rate_limit: Option<RateLimit>,
    /// Statuses the next membership calls answer, one each.
    fail_next: VecDeque<u16>,
    /// Permanent failures of membership writes concerning a customer.
    pub(super) customer_failures: HashMap<String, ApiError>,
    ids: Rng,
    pub(super) throttled: usize,
}

impl Store {
    /// The clock: fixed by [`Commerce7Data::set_clock`] or the wall clock, in milliseconds
    /// (the precision the API keeps, which keeps cursor keys exact).
    pub(super) fn now(&self) -> DateTime<Utc> {
        self.clock.unwrap_or_else(Utc::now).trunc_subsecs(3)
    }

    /// A UUID no record of `tenant` has.
    pub(super) fn fresh_id(&mut self, tenant: &str) -> String {
        loop {
            let id = self.ids.uuid();
            let taken = self.tenants.get(tenant).is_some_and(|t| t.has_id(&id));
            if !taken {
                return id;
            }
        }
    }

    /// Consumes the next scripted membership failure, if any.
    pub(super) fn take_failure(&mut self) -> Option<ApiError> {
        self.fail_next.pop_front().map(ApiError::status)
    }
}

/// The fake's data: credentials, tenants and their records, shared by the router and the
/// test (cheap to clone). Each handle is *scoped* to one tenant, which its record methods
/// read and change; the router serves every tenant, picked by the `tenant` header. Clock,
/// credentials, rate limit and scripted failures are shared by all tenants. A handle whose
/// tenant was [removed](Self::remove_tenant) reads as empty and its changes are dropped.
#[derive(Clone)]
pub struct Commerce7Data {
    inner: Arc<Mutex<Store>>,
    tenant: Arc<str>,
}

impl std::fmt::Debug for Commerce7Data {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("Commerce7Data")
            .field("tenant", &self.tenant)
            .field("tenants", &s.tenants.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Commerce7Data {
    /// Data with one empty tenant, answering [`DEFAULT_APP_ID`]:[`DEFAULT_SECRET`], with
    /// Commerce7's rate limit on and the wall clock.
    pub fn new(tenant: &str) -> Self {
        Self::from_dataset(tenant, Dataset::default())
    }

    /// Data with one tenant holding `data`.
    pub fn from_dataset(tenant: &str, data: Dataset) -> Self {
        let mut tenants = BTreeMap::new();
        tenants.insert(tenant.to_owned(), Tenant::from_dataset(data));
        let store = Store {
            app_id: DEFAULT_APP_ID.to_owned(),
            secret: DEFAULT_SECRET.to_owned(),
            tenants,
            clock: None,
            rate_limit: Some(RateLimit::commerce7()),
            fail_next: VecDeque::new(),
            customer_failures: HashMap::new(),
            ids: Rng::new(0x00C0_FFEE_C7C7),
            throttled: 0,
        };
        Commerce7Data {
            inner: Arc::new(Mutex::new(store)),
            tenant: tenant.into(),
        }
    }

    /// Data with one tenant holding [`generate`]`(seed, customers, clubs)`.
    pub fn generate(tenant: &str, seed: u64, customers: usize, clubs: usize) -> Self {
        Self::from_dataset(tenant, generate(seed, customers, clubs))
    }

    /// Locks the store (a panic in another test thread does not poison it for us).
    pub(super) fn lock(&self) -> MutexGuard<'_, Store> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on this handle's tenant with the clock; a removed tenant reads as empty and
    /// takes no changes (re-creating it would let the router serve it again).
    fn with<R>(&self, f: impl FnOnce(&mut Tenant, DateTime<Utc>) -> R) -> R {
        let mut s = self.lock();
        let now = s.now();
        match s.tenants.get_mut(&*self.tenant) {
            Some(t) => f(t, now),
            None => f(&mut Tenant::default(), now),
        }
    }

    /// Requests must carry Basic `app_id:secret` from now on.
    pub fn set_credentials(&self, app_id: &str, secret: &str) {
        let mut s = self.lock();
        s.app_id = app_id.to_owned();
        s.secret = secret.to_owned();
    }

    /// The `Authorization` header value a client should send: `Basic base64(app_id:secret)`.
    pub fn authorization(&self) -> String {
        let s = self.lock();
        format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", s.app_id, s.secret))
        )
    }

    /// The tenant this handle reads and changes.
    pub fn tenant_id(&self) -> &str {
        &self.tenant
    }

    /// Adds (or replaces) tenant `id` holding `data`; returns a handle scoped to it.
    pub fn add_tenant(&self, id: &str, data: Dataset) -> Commerce7Data {
        self.lock()
            .tenants
            .insert(id.to_owned(), Tenant::from_dataset(data));
        Commerce7Data {
            inner: self.inner.clone(),
            tenant: id.into(),
        }
    }

    /// A handle scoped to tenant `id`, if the data has it.
    pub fn tenant(&self, id: &str) -> Option<Commerce7Data> {
        self.lock().tenants.contains_key(id).then(|| Commerce7Data {
            inner: self.inner.clone(),
            tenant: id.into(),
        })
    }

    /// Removes tenant `id` (the app uninstalled): its requests answer 401 from now on.
    pub fn remove_tenant(&self, id: &str) -> bool {
        self.lock().tenants.remove(id).is_some()
    }

    /// Adds (or replaces, by id) the records of `data` in this tenant.
    pub fn load(&self, data: Dataset) {
        self.with(|t, _| t.load(data));
    }

    /// Every record of this tenant.
    pub fn dataset(&self) -> Dataset {
        self.with(|t, _| t.dataset())
    }

    /// This tenant's clubs, by id.
    pub fn clubs(&self) -> Vec<Club> {
        self.with(|t, _| t.clubs.values().cloned().collect())
    }

    /// This tenant's customers, by id.
    pub fn customers(&self) -> Vec<Customer> {
        self.with(|t, _| t.customers.values().cloned().collect())
    }

    /// This tenant's club memberships, by id.
    pub fn memberships(&self) -> Vec<Membership> {
        self.with(|t, _| t.memberships.values().cloned().collect())
    }

    /// This tenant's orders, by id.
    pub fn orders(&self) -> Vec<Order> {
        self.with(|t, _| t.orders.values().cloned().collect())
    }

    /// One customer.
    pub fn customer(&self, id: &str) -> Option<Customer> {
        self.with(|t, _| t.customers.get(id).cloned())
    }

    /// One club membership.
    pub fn membership(&self, id: &str) -> Option<Membership> {
        self.with(|t, _| t.memberships.get(id).cloned())
    }

    /// One order.
    pub fn order(&self, id: &str) -> Option<Order> {
        self.with(|t, _| t.orders.get(id).cloned())
    }

    /// A customer's JSON as `GET /v1/customer/{id}` answers it (a webhook payload).
    pub fn customer_json(&self, id: &str) -> Option<Value> {
        self.with(|t, _| t.customers.get(id).map(|c| t.customer_json(c)))
    }

    /// A membership's JSON as `GET /v1/club-membership/{id}` answers it (a webhook payload).
    pub fn membership_json(&self, id: &str) -> Option<Value> {
        self.with(|t, _| t.memberships.get(id).map(|m| t.membership_json(m)))
    }

    /// The time changes are stamped with: the wall clock unless [`set_clock`](Self::set_clock).
    /// The rate limit's window runs on it too.
    pub fn now(&self) -> DateTime<Utc> {
        self.lock().now()
    }

    /// Fixes the clock (`None`: the wall clock again).
    pub fn set_clock(&self, at: Option<DateTime<Utc>>) {
        self.lock().clock = at;
    }

    /// Moves the clock forward by `by` (fixing it first at the current time if it was the wall clock).
    pub fn advance_clock(&self, by: Duration) {
        let mut s = self.lock();
        let now = s.now();
        s.clock = Some(now + by);
    }

    /// Sets (or with `None` removes) the per-tenant rate limit; windows start empty.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        let mut s = self.lock();
        s.rate_limit = limit;
        for t in s.tenants.values_mut() {
            t.window.clear();
        }
    }

    /// Empties every tenant's rate-limit window.
    pub fn reset_rate_limit(&self) {
        let limit = self.lock().rate_limit;
        self.set_rate_limit(limit);
    }

    /// How many requests were answered 429 so far.
    pub fn throttled(&self) -> usize {
        self.lock().throttled
    }

    /// The next `n` calls to `/v1/club-membership…` (any tenant; counted once authenticated
    /// and admitted by the rate limit) answer `status` with the error JSON
    /// (`{"statusCode":503,"type":"serviceUnavailable",…}`), then the route works again.
    /// Queued after failures already pending.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.lock().fail_next.extend(std::iter::repeat_n(status, n));
    }

    /// From now on, membership writes concerning `customer_id` (a POST for it, a PUT or DELETE
    /// of its membership) answer `status` with `{"statusCode":status,"type":kind,"message":message,"errors":[]}`.
    pub fn fail_for_customer(&self, customer_id: &str, status: u16, kind: &str, message: &str) {
        let code =
            axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::BAD_REQUEST);
        self.lock()
            .customer_failures
            .insert(customer_id.to_owned(), ApiError::new(code, kind, message));
    }

    /// Drops every scripted failure.
    pub fn clear_failures(&self) {
        let mut s = self.lock();
        s.fail_next.clear();
        s.customer_failures.clear();
    }

    /// Adds a Traditional or Subscription club created now.
    pub fn add_club(&self, title: &str, club_type: ClubType) -> Club {
        let mut s = self.lock();
        let (now, id) = (s.now(), s.fresh_id(&self.tenant));
        let club = Club {
            id,
            title: title.to_owned(),
            slug: title.to_lowercase().replace(' ', "-"),
            club_type,
            created_at: now,
            updated_at: now,
        };
        if let Some(t) = s.tenants.get_mut(&*self.tenant) {
            t.clubs.put(club.clone());
        }
        club
    }

    /// Adds a customer created now, without orders.
    pub fn add_customer(&self, first_name: &str, last_name: &str, email: &str) -> Customer {
        let mut s = self.lock();
        let now = s.now();
        let ids = [
            s.fresh_id(&self.tenant),
            s.fresh_id(&self.tenant),
            s.fresh_id(&self.tenant),
        ];
        let [id, email_id, phone_id] = ids;
        let customer = Customer {
            id,
            first_name: first_name.to_owned(),
            last_name: last_name.to_owned(),
            emails: vec![Contact {
                id: email_id,
                value: email.to_owned(),
            }],
            phones: vec![Contact {
                id: phone_id,
                value: "+17075550100".to_owned(),
            }],
            city: "Napa".to_owned(),
            state_code: "CA".to_owned(),
            zip_code: "94558".to_owned(),
            email_marketing_status: "Subscribed".to_owned(),
            created_at: now,
            updated_at: now,
            order_count: 0,
            lifetime_value: 0,
            last_order_date: None,
        };
        if let Some(t) = s.tenants.get_mut(&*self.tenant) {
            t.customers.put(customer.clone());
        }
        customer
    }

    /// Adds an Active (Ship) membership signed up now, without the API's checks (test setup).
    pub fn add_membership(&self, customer_id: &str, club_id: &str) -> Membership {
        let mut s = self.lock();
        let (now, id) = (s.now(), s.fresh_id(&self.tenant));
        let m = Membership {
            id,
            customer_id: customer_id.to_owned(),
            club_id: club_id.to_owned(),
            status: MembershipStatus::Active,
            order_delivery_method: DeliveryMethod::Ship,
            signup_date: now,
            cancel_date: None,
            cancellation_reason: None,
            bill_to_customer_address_id: None,
            ship_to_customer_address_id: None,
            pickup_inventory_location_id: None,
            customer_credit_card_id: None,
            meta_data: Map::new(),
            created_at: now,
            updated_at: now,
        };
        if let Some(t) = s.tenants.get_mut(&*self.tenant) {
            t.put_membership(m.clone(), now);
        }
        m
    }

    /// Changes membership `id` with `f` and stamps it updated now.
    pub fn update_membership(
        &self,
        id: &str,
        f: impl FnOnce(&mut Membership),
    ) -> Option<Membership> {
        self.with(|t, now| {
            let mut m = t.memberships.get(id)?.clone();
            f(&mut m);
            m.updated_at = now;
            t.put_membership(m.clone(), now);
            Some(m)
        })
    }

    /// Adds a Web order for `customer_id` submitted and paid now, of `total_cents` (8% of it
    /// tax), with the next order number; the customer's lifetime value grows by it. The
    /// customer need not exist (a guest order).
    pub fn add_paid_order(&self, customer_id: &str, total_cents: i64) -> Order {
        let (id, item_id) = {
            let mut s = self.lock();
            (s.fresh_id(&self.tenant), s.fresh_id(&self.tenant))
        };
        self.with(|t, now| {
            let tax_total = total_cents * 8 / 108;
            let order = Order {
                id,
                order_number: t.next_order_number(),
                order_submitted_date: now,
                order_paid_date: Some(now),
                payment_status: PaymentStatus::Paid,
                channel: Channel::Web,
                customer_id: customer_id.to_owned(),
                sub_total: total_cents - tax_total,
                tax_total,
                total: total_cents,
                items: vec![OrderItem {
                    id: item_id,
                    product_title: "Cabernet Sauvignon 2019".to_owned(),
                    sku: "CS19".to_owned(),
                    quantity: 1,
                    price: total_cents - tax_total,
                }],
                created_at: now,
                updated_at: now,
            };
            t.put_order(order.clone(), now);
            order
        })
    }

    /// Changes order `id` with `f` and stamps it updated now (the customer's order information
    /// follows).
    pub fn update_order(&self, id: &str, f: impl FnOnce(&mut Order)) -> Option<Order> {
        self.with(|t, now| {
            let mut order = t.orders.get(id)?.clone();
            f(&mut order);
            order.updated_at = now;
            t.put_order(order.clone(), now);
            Some(order)
        })
    }

    /// Voids order `id`: `paymentStatus` Cancelled, no paid date.
    pub fn cancel_order(&self, id: &str) -> Option<Order> {
        self.update_order(id, |o| {
            o.payment_status = PaymentStatus::Cancelled;
            o.order_paid_date = None;
        })
    }
}
