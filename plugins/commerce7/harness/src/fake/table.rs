//! A tenant's collection of one record type: rows by id, kept in `(updatedAt, id)` order for paging and grouped by customer, so a cursor page or a customer's memberships cost no scan of the whole tenant.

use super::data::{Club, Customer, Membership, Order};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

/// What a [`Table`] needs of its rows.
pub(super) trait Keyed: Clone {
    /// The row's id.
    fn id(&self) -> &str;
    /// The row's `updatedAt`: its paging key, with the id.
    fn updated_at(&self) -> DateTime<Utc>;
    /// The customer the row belongs to, if it is grouped by one.
    fn customer(&self) -> Option<&str> {
        None
    }
}

impl Keyed for Club {
    fn id(&self) -> &str {
        &self.id
    }
    fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
}

impl Keyed for Customer {
    fn id(&self) -> &str {
        &self.id
    }
    fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
}

impl Keyed for Membership {
    fn id(&self) -> &str {
        &self.id
    }
    fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
    fn customer(&self) -> Option<&str> {
        Some(&self.customer_id)
    }
}

impl Keyed for Order {
    fn id(&self) -> &str {
        &self.id
    }
    fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
    fn customer(&self) -> Option<&str> {
        Some(&self.customer_id)
    }
}

/// The paging key: `updatedAt` in milliseconds (the precision of dates and cursors), then id.
pub(super) type PageKey = (i64, String);

fn page_key<T: Keyed>(row: &T) -> PageKey {
    (row.updated_at().timestamp_millis(), row.id().to_owned())
}

/// Rows by id, with their paging order and customer groups kept in step. Rows change only
/// through [`put`](Self::put), [`modify`](Self::modify) and [`remove`](Self::remove).
#[derive(Debug, Clone)]
pub(super) struct Table<T> {
    rows: BTreeMap<String, T>,
    order: BTreeSet<PageKey>,
    by_customer: HashMap<String, BTreeSet<String>>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            rows: BTreeMap::new(),
            order: BTreeSet::new(),
            by_customer: HashMap::new(),
        }
    }
}

impl<T: Keyed> Table<T> {
    /// One row.
    pub(super) fn get(&self, id: &str) -> Option<&T> {
        self.rows.get(id)
    }

    /// Whether a row has this id.
    pub(super) fn contains_key(&self, id: &str) -> bool {
        self.rows.contains_key(id)
    }

    /// Every row, by id.
    pub(super) fn values(&self) -> impl Iterator<Item = &T> {
        self.rows.values()
    }

    /// Adds or replaces a row (by id).
    pub(super) fn put(&mut self, row: T) {
        self.remove(row.id());
        self.order.insert(page_key(&row));
        if let Some(c) = row.customer() {
            self.by_customer
                .entry(c.to_owned())
                .or_default()
                .insert(row.id().to_owned());
        }
        self.rows.insert(row.id().to_owned(), row);
    }

    /// Changes row `id` with `f` (re-indexing it); the changed row, if there is one.
    pub(super) fn modify(&mut self, id: &str, f: impl FnOnce(&mut T)) -> Option<&T> {
        let mut row = self.rows.get(id)?.clone();
        f(&mut row);
        let id = row.id().to_owned();
        self.put(row);
        self.rows.get(&id)
    }

    /// Removes row `id`.
    pub(super) fn remove(&mut self, id: &str) -> Option<T> {
        let row = self.rows.remove(id)?;
        self.order.remove(&page_key(&row));
        if let Some(c) = row.customer() {
            if let Some(set) = self.by_customer.get_mut(c) {
                set.remove(id);
                if set.is_empty() {
                    self.by_customer.remove(c);
                }
            }
        }
        Some(row)
    }

    /// The rows after `after` (all when `None`) in `(updatedAt, id)` order.
    pub(super) fn in_order(&self, after: Option<&PageKey>) -> impl Iterator<Item = &T> {
        let from = after.map_or(Bound::Unbounded, |k| Bound::Excluded(k.clone()));
        self.order
            .range((from, Bound::Unbounded))
            .filter_map(|(_, id)| self.rows.get(id))
    }

    /// The rows of `customer_id`, by id.
    pub(super) fn of_customer(&self, customer_id: &str) -> impl Iterator<Item = &T> {
        self.by_customer
            .get(customer_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.rows.get(id))
    }
}
