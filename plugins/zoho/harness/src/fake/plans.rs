//! Zoho Billing's data: products and plans as the API renders them, the organization id and
//! scripted failures, and the helpers tests use to set them up and check them.

use super::{dates, ZohoData};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

/// A Billing plan, with the fields the API answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The plan's unique code (its key in URLs).
    pub plan_code: String,
    /// The Billing product it belongs to.
    pub product_id: String,
    /// The plan's display name.
    pub name: String,
    /// Free text shown to customers (empty when none).
    pub description: String,
    /// What each billing cycle costs.
    pub recurring_price: f64,
    /// Billing happens every `interval` `interval_unit`s.
    pub interval: u32,
    /// `months` or `years`.
    pub interval_unit: String,
    /// How many cycles a subscription runs; -1 until cancelled.
    pub billing_cycles: i64,
    /// Free days before the first charge.
    pub trial_period: u32,
    /// A one-off charge with the first invoice.
    pub setup_fee: f64,
    /// `active` or `inactive`.
    pub status: String,
    /// When the plan was created, `2025-07-01T10:00:00+0000`.
    pub created_time: String,
    /// When the plan was last changed, same format.
    pub updated_time: String,
}

impl Plan {
    /// A monthly, active plan with no trial, setup fee or description, renewing until
    /// cancelled (timestamps are set when it is stored).
    pub fn monthly(plan_code: &str, product_id: &str, name: &str, recurring_price: f64) -> Self {
        Plan {
            plan_code: plan_code.to_owned(),
            product_id: product_id.to_owned(),
            name: name.to_owned(),
            description: String::new(),
            recurring_price,
            interval: 1,
            interval_unit: "months".to_owned(),
            billing_cycles: -1,
            trial_period: 0,
            setup_fee: 0.0,
            status: "active".to_owned(),
            created_time: String::new(),
            updated_time: String::new(),
        }
    }
}

/// A Billing product (what plans are grouped under).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BillingProduct {
    /// The product's numeric id (as text).
    pub product_id: String,
    /// The product's display name.
    pub name: String,
    /// Free text (empty when none).
    pub description: String,
    /// `active` or `inactive`.
    pub status: String,
    /// When the product was created, `2025-07-01T10:00:00+0000`.
    pub created_time: String,
    /// When the product was last changed, same format.
    pub updated_time: String,
}

/// The first Billing product id handed out.
const FIRST_PRODUCT_ID: u64 = 903_000_000_079_200;

/// Billing's state.
pub(super) struct Billing {
    /// What `X-com-zoho-subscriptions-organizationid` must say.
    pub(super) org_id: String,
    pub(super) products: BTreeMap<String, BillingProduct>,
    pub(super) plans: BTreeMap<String, Plan>,
    next_product_id: u64,
    /// plan_code → (HTTP status, Zoho code, message).
    pub(super) failures: HashMap<String, (u16, i64, String)>,
}

impl Billing {
    pub(super) fn new(org_id: &str) -> Self {
        Billing {
            org_id: org_id.to_owned(),
            products: BTreeMap::new(),
            plans: BTreeMap::new(),
            next_product_id: FIRST_PRODUCT_ID,
            failures: HashMap::new(),
        }
    }

    pub(super) fn plan_count(&self) -> usize {
        self.plans.len()
    }

    /// Stores a new product; returns it.
    pub(super) fn add_product(
        &mut self,
        name: &str,
        description: &str,
        stamp: &str,
    ) -> BillingProduct {
        let product = BillingProduct {
            product_id: self.next_product_id.to_string(),
            name: name.to_owned(),
            description: description.to_owned(),
            status: "active".to_owned(),
            created_time: stamp.to_owned(),
            updated_time: stamp.to_owned(),
        };
        self.next_product_id += 1;
        self.products
            .insert(product.product_id.clone(), product.clone());
        product
    }

    /// A product as the API renders it (with how many plans it has).
    pub(super) fn render_product(&self, p: &BillingProduct) -> Value {
        let mut v = serde_json::to_value(p).unwrap_or_else(|_| json!({}));
        let plans = self
            .plans
            .values()
            .filter(|plan| plan.product_id == p.product_id)
            .count();
        v["plans_count"] = json!(plans);
        v
    }
}

/// A plan as the API renders it.
pub(super) fn render_plan(p: &Plan) -> Value {
    serde_json::to_value(p).unwrap_or_else(|_| json!({}))
}

/// Setting up and checking Billing from a test.
impl ZohoData {
    /// Adds an active Billing product; returns its `product_id`.
    pub fn add_billing_product(&self, name: &str) -> String {
        let mut s = self.lock();
        let stamp = dates::billing(s.now());
        s.billing.add_product(name, "", &stamp).product_id
    }

    /// Stores `plan` as is (replacing one with the same code); empty timestamps become now.
    pub fn add_billing_plan(&self, mut plan: Plan) {
        let mut s = self.lock();
        let stamp = dates::billing(s.now());
        if plan.created_time.is_empty() {
            plan.created_time = stamp.clone();
        }
        if plan.updated_time.is_empty() {
            plan.updated_time = stamp;
        }
        s.billing.plans.insert(plan.plan_code.clone(), plan);
    }

    /// Every plan, by plan code.
    pub fn billing_plans(&self) -> Vec<Plan> {
        self.lock().billing.plans.values().cloned().collect()
    }

    /// The plan with this code.
    pub fn billing_plan(&self, plan_code: &str) -> Option<Plan> {
        self.lock().billing.plans.get(plan_code).cloned()
    }

    /// Every Billing product, by id.
    pub fn billing_products(&self) -> Vec<BillingProduct> {
        self.lock().billing.products.values().cloned().collect()
    }
}
