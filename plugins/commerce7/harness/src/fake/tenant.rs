//! One tenant's records and the rules that keep them consistent: order information derived from orders, customer `clubs[]` from active memberships, and the JSON of records that embed others.

use super::data::{
    customer_json, Club, Customer, Membership, MembershipStatus, Order, PaymentStatus,
};
use super::generate::Dataset;
use super::quota::Window;
use super::table::Table;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashMap;

/// A tenant: its records and its rate-limit window.
#[derive(Debug, Default)]
pub(super) struct Tenant {
    pub(super) clubs: Table<Club>,
    pub(super) customers: Table<Customer>,
    pub(super) memberships: Table<Membership>,
    pub(super) orders: Table<Order>,
    pub(super) window: Window,
}

/// Recomputes a customer's order count, lifetime value and last order date from `orders`
/// (only its Paid ones count).
pub(super) fn refresh_order_information<'a>(
    c: &mut Customer,
    orders: impl Iterator<Item = &'a Order>,
) {
    let mut count = 0;
    let mut value = 0;
    let mut last = None;
    for o in orders.filter(|o| o.customer_id == c.id && o.payment_status == PaymentStatus::Paid) {
        count += 1;
        value += o.total;
        last = last.max(o.order_paid_date);
    }
    c.order_count = count;
    c.lifetime_value = value;
    c.last_order_date = last;
}

/// [`refresh_order_information`] for many customers at once (orders grouped first, so it
/// stays linear for the demo's data set).
pub(super) fn refresh_all<'a, 'b>(
    customers: impl Iterator<Item = &'a mut Customer>,
    orders: impl Iterator<Item = &'b Order>,
) {
    let mut by_customer: HashMap<&str, Vec<&Order>> = HashMap::new();
    for o in orders {
        by_customer
            .entry(o.customer_id.as_str())
            .or_default()
            .push(o);
    }
    for c in customers {
        let mine = by_customer
            .get(c.id.as_str())
            .map_or(&[][..], Vec::as_slice);
        refresh_order_information(c, mine.iter().copied());
    }
}

impl Tenant {
    /// A tenant holding `data`.
    pub(super) fn from_dataset(data: Dataset) -> Self {
        let mut t = Tenant::default();
        t.load(data);
        t
    }

    /// Adds (or replaces, by id) every record of `data`, then re-derives the order information
    /// of the customers it brings.
    pub(super) fn load(&mut self, data: Dataset) {
        for c in data.clubs {
            self.clubs.put(c);
        }
        for m in data.memberships {
            self.memberships.put(m);
        }
        for o in data.orders {
            self.orders.put(o);
        }
        let mut customers = data.customers;
        refresh_all(customers.iter_mut(), self.orders.values());
        for c in customers {
            self.customers.put(c);
        }
    }

    /// The records as a [`Dataset`].
    pub(super) fn dataset(&self) -> Dataset {
        Dataset {
            clubs: self.clubs.values().cloned().collect(),
            customers: self.customers.values().cloned().collect(),
            memberships: self.memberships.values().cloned().collect(),
            orders: self.orders.values().cloned().collect(),
        }
    }

    /// Whether any record of the tenant has this id.
    pub(super) fn has_id(&self, id: &str) -> bool {
        self.clubs.contains_key(id)
            || self.customers.contains_key(id)
            || self.memberships.contains_key(id)
            || self.orders.contains_key(id)
    }

    /// The next order number (one past the highest).
    pub(super) fn next_order_number(&self) -> u64 {
        self.orders
            .values()
            .map(|o| o.order_number)
            .max()
            .map_or(1001, |n| n + 1)
    }

    /// Stores `order`, re-derives its customer's order information, and stamps the customer
    /// changed at `now` when that information moved (so an `updatedAt` customer sync sees it).
    pub(super) fn put_order(&mut self, order: Order, now: DateTime<Utc>) {
        let previous = self.orders.get(&order.id).map(|o| o.customer_id.clone());
        let customer_id = order.customer_id.clone();
        self.orders.put(order);
        // A test may move an order to another customer: both change.
        for id in previous.into_iter().chain([customer_id]) {
            let orders = &self.orders;
            self.customers.modify(&id, |c| {
                let before = (c.order_count, c.lifetime_value, c.last_order_date);
                refresh_order_information(c, orders.of_customer(&id));
                if before != (c.order_count, c.lifetime_value, c.last_order_date) {
                    c.updated_at = c.updated_at.max(now);
                }
            });
        }
    }

    /// Stores membership `m` and stamps its customer changed at `now` (its `clubs[]` may move).
    pub(super) fn put_membership(&mut self, m: Membership, now: DateTime<Utc>) {
        let customer_id = m.customer_id.clone();
        self.memberships.put(m);
        self.touch_customer(&customer_id, now);
    }

    /// Stamps customer `id` changed at `now`.
    pub(super) fn touch_customer(&mut self, id: &str, now: DateTime<Utc>) {
        self.customers
            .modify(id, |c| c.updated_at = c.updated_at.max(now));
    }

    /// The Active membership of `customer_id` in `club_id`, other than `except`, if any.
    pub(super) fn active_membership(
        &self,
        customer_id: &str,
        club_id: &str,
        except: Option<&str>,
    ) -> Option<&Membership> {
        self.memberships.of_customer(customer_id).find(|m| {
            m.club_id == club_id
                && m.status == MembershipStatus::Active
                && Some(m.id.as_str()) != except
        })
    }

    /// A membership's JSON with its club summary.
    pub(super) fn membership_json(&self, m: &Membership) -> Value {
        m.to_json(self.clubs.get(&m.club_id))
    }

    /// One customer's JSON: `clubs[]` from its Active memberships (oldest signup first).
    pub(super) fn customer_json(&self, c: &Customer) -> Value {
        let mut active: Vec<(&Membership, Option<&Club>)> = self
            .memberships
            .of_customer(&c.id)
            .filter(|m| m.status == MembershipStatus::Active)
            .map(|m| (m, self.clubs.get(&m.club_id)))
            .collect();
        active.sort_by(|a, b| (a.0.signup_date, &a.0.id).cmp(&(b.0.signup_date, &b.0.id)));
        customer_json(c, &active)
    }
}
