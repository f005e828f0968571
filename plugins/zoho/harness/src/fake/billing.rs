//! Zoho Billing v1 over HTTP: the token and organization checks, listing and creating
//! products, listing, reading, creating and updating plans, and Billing's
//! `{"code": …, "message": …}` errors.

use super::accounts::Credential;
use super::params::Params;
use super::plans::{render_plan, BillingProduct, Plan};
use super::reply::{self, BillingError};
use super::{dates, ZohoData};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use serde_json::{json, Map, Value};

/// The header naming the Billing organization.
const ORG_HEADER: &str = "x-com-zoho-subscriptions-organizationid";
/// Largest `per_page`.
const MAX_PER_PAGE: usize = 200;

/// The Billing routes.
pub(super) fn routes() -> Router<ZohoData> {
    Router::new()
        .route(
            "/billing/v1/products",
            get(list_products).post(create_product),
        )
        .route("/billing/v1/plans", get(list_plans).post(create_plan))
        .route(
            "/billing/v1/plans/{plan_code}",
            get(get_plan).put(update_plan),
        )
}

fn error(status: StatusCode, code: i64, message: impl Into<String>) -> BillingError {
    BillingError::new(status, code, message)
}

fn invalid(name: &str) -> BillingError {
    BillingError::invalid(name)
}

/// The token and organization checks every Billing call passes first.
fn check(data: &ZohoData, headers: &HeaderMap) -> Result<(), BillingError> {
    let s = data.lock();
    match s.auth.check(headers, s.now()) {
        Credential::Valid => {}
        // Zoho's finance APIs tell "no token" (14) from "a token that does not work" (57).
        Credential::Missing => {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                14,
                "The request could not be authenticated as the authentication value you entered is invalid. Enter a valid authentication value and try again.",
            ))
        }
        Credential::Invalid => {
            return Err(error(
                StatusCode::UNAUTHORIZED,
                57,
                "You are not authorized to perform this operation",
            ))
        }
    }
    match headers.get(ORG_HEADER).and_then(|v| v.to_str().ok()) {
        None => Err(error(
            StatusCode::BAD_REQUEST,
            6041,
            "Organization ID is missing",
        )),
        Some(org) if org.trim() != s.billing.org_id => Err(error(
            StatusCode::BAD_REQUEST,
            6041,
            format!(
                "This user is not associated with the CompanyID/CompanyName:{}.",
                org.trim()
            ),
        )),
        Some(_) => Ok(()),
    }
}

/// The scripted failure for `plan_code`, if any.
fn scripted(data: &ZohoData, plan_code: &str) -> Result<(), BillingError> {
    let s = data.lock();
    match s.billing.failures.get(plan_code) {
        None => Ok(()),
        Some((status, code, message)) => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Err(error(status, *code, message.clone()))
        }
    }
}

/// `page` and `per_page` (at most 200).
fn paging(query: Option<&str>) -> Result<(usize, usize), BillingError> {
    let params = Params::from_query(query);
    let number = |name: &str, default: usize| match params.get(name) {
        None => Some(default),
        Some(v) => v.trim().parse::<usize>().ok(),
    };
    let page = number("page", 1)
        .filter(|&p| p >= 1)
        .ok_or_else(|| invalid("page"))?;
    let per_page = number("per_page", MAX_PER_PAGE)
        .filter(|n| (1..=MAX_PER_PAGE).contains(n))
        .ok_or_else(|| invalid("per_page"))?;
    Ok((page, per_page))
}

/// One page of `items` in Billing's list envelope under `key`.
fn page_of(
    key: &str,
    report: &str,
    filter: &str,
    items: Vec<Value>,
    page: usize,
    per_page: usize,
) -> Response {
    let start = (page - 1).saturating_mul(per_page);
    let has_more = items.len() > start.saturating_add(per_page);
    let rows: Vec<Value> = items.into_iter().skip(start).take(per_page).collect();
    let mut body = json!({
        "code": 0,
        "message": "success",
        "page_context": {
            "page": page,
            "per_page": per_page,
            "has_more_page": has_more,
            "report_name": report,
            "applied_filter": filter,
            "sort_column": "created_time",
            "sort_order": "D",
        },
    });
    body[key] = Value::Array(rows);
    reply::json(StatusCode::OK, &body)
}

/// A JSON object body, or Billing's malformed-JSON error.
fn object(body: &Bytes) -> Result<Map<String, Value>, BillingError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            1038,
            "JSON is not well formed",
        )),
    }
}

/// Typed reads of a request body's members; a member of the wrong type is `invalid`.
struct Input(Map<String, Value>);

impl Input {
    fn text(&self, name: &str) -> Result<Option<String>, BillingError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(name)),
        }
    }

    fn required_text(&self, name: &str) -> Result<String, BillingError> {
        self.text(name)?
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| invalid(name))
    }

    /// A number ≥ 0.
    fn amount(&self, name: &str) -> Result<Option<f64>, BillingError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|n| *n >= 0.0)
                .map(Some)
                .ok_or_else(|| invalid(name)),
        }
    }

    /// A whole number ≥ `min`.
    fn integer(&self, name: &str, min: i64) -> Result<Option<i64>, BillingError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .filter(|n| *n >= min)
                .map(Some)
                .ok_or_else(|| invalid(name)),
        }
    }

    /// One of `allowed`.
    fn choice(&self, name: &str, allowed: &[&str]) -> Result<Option<String>, BillingError> {
        match self.text(name)? {
            Some(v) if !allowed.contains(&v.as_str()) => Err(invalid(name)),
            v => Ok(v),
        }
    }
}

/// Applies the optional plan members present in `input` to `plan`.
fn apply(plan: &mut Plan, input: &Input) -> Result<(), BillingError> {
    if let Some(v) = input.text("name")? {
        if v.trim().is_empty() {
            return Err(invalid("name"));
        }
        plan.name = v;
    }
    if let Some(v) = input.text("description")? {
        plan.description = v;
    }
    if let Some(v) = input.amount("recurring_price")? {
        plan.recurring_price = v;
    }
    if let Some(v) = input.integer("interval", 1)? {
        plan.interval = u32::try_from(v).map_err(|_| invalid("interval"))?;
    }
    if let Some(v) = input.choice("interval_unit", &["months", "years"])? {
        plan.interval_unit = v;
    }
    if let Some(v) = input.integer("billing_cycles", -1)? {
        plan.billing_cycles = v;
    }
    if let Some(v) = input.integer("trial_period", 0)? {
        plan.trial_period = u32::try_from(v).map_err(|_| invalid("trial_period"))?;
    }
    if let Some(v) = input.amount("setup_fee")? {
        plan.setup_fee = v;
    }
    if let Some(v) = input.choice("status", &["active", "inactive"])? {
        plan.status = v;
    }
    Ok(())
}

/// `GET /billing/v1/products`.
async fn list_products(
    State(data): State<ZohoData>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, BillingError> {
    check(&data, &headers)?;
    let (page, per_page) = paging(query.as_deref())?;
    let s = data.lock();
    let mut products: Vec<&BillingProduct> = s.billing.products.values().collect();
    products.sort_by(|a, b| {
        b.created_time
            .cmp(&a.created_time)
            .then(a.product_id.cmp(&b.product_id))
    });
    let items = products
        .iter()
        .map(|p| s.billing.render_product(p))
        .collect();
    Ok(page_of(
        "products",
        "Products",
        "Status.All",
        items,
        page,
        per_page,
    ))
}

/// `POST /billing/v1/products`: `name` required.
async fn create_product(
    State(data): State<ZohoData>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, BillingError> {
    check(&data, &headers)?;
    let input = Input(object(&body)?);
    let name = input.required_text("name")?;
    let description = input.text("description")?.unwrap_or_default();
    let mut s = data.lock();
    let stamp = dates::billing(s.now());
    let product = s.billing.add_product(&name, &description, &stamp);
    let rendered = s.billing.render_product(&product);
    Ok(reply::json(
        StatusCode::CREATED,
        &json!({ "code": 0, "message": "The product has been created.", "product": rendered }),
    ))
}

/// `GET /billing/v1/plans`, newest first.
async fn list_plans(
    State(data): State<ZohoData>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, BillingError> {
    check(&data, &headers)?;
    let (page, per_page) = paging(query.as_deref())?;
    let s = data.lock();
    let mut plans: Vec<&Plan> = s.billing.plans.values().collect();
    plans.sort_by(|a, b| {
        b.created_time
            .cmp(&a.created_time)
            .then(a.plan_code.cmp(&b.plan_code))
    });
    let items = plans.into_iter().map(render_plan).collect();
    Ok(page_of(
        "plans",
        "Plans",
        "PlanStatus.All",
        items,
        page,
        per_page,
    ))
}

fn no_such_plan() -> BillingError {
    error(StatusCode::NOT_FOUND, 1002, "Plan does not exist.")
}

/// `GET /billing/v1/plans/{plan_code}`.
async fn get_plan(
    State(data): State<ZohoData>,
    Path(plan_code): Path<String>,
    headers: HeaderMap,
) -> Result<Response, BillingError> {
    check(&data, &headers)?;
    scripted(&data, &plan_code)?;
    let s = data.lock();
    let plan = s.billing.plans.get(&plan_code).ok_or_else(no_such_plan)?;
    Ok(reply::json(
        StatusCode::OK,
        &json!({ "code": 0, "message": "success", "plan": render_plan(plan) }),
    ))
}

/// `POST /billing/v1/plans`: `plan_code`, `name`, `recurring_price` and an existing
/// `product_id` required; `interval` defaults to 1 and `interval_unit` to `months`.
async fn create_plan(
    State(data): State<ZohoData>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, BillingError> {
    check(&data, &headers)?;
    let input = Input(object(&body)?);
    let plan_code = input.required_text("plan_code")?;
    scripted(&data, &plan_code)?;
    let name = input.required_text("name")?;
    let price = input
        .amount("recurring_price")?
        .ok_or_else(|| invalid("recurring_price"))?;
    let product_id = input.required_text("product_id")?;
    let mut plan = Plan::monthly(&plan_code, &product_id, &name, price);
    apply(&mut plan, &input)?;
    let mut s = data.lock();
    if !s.billing.products.contains_key(&plan.product_id) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            1002,
            "Product does not exist.",
        ));
    }
    if s.billing.plans.contains_key(&plan.plan_code) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            1001,
            format!("The plan code \"{}\" already exists.", plan.plan_code),
        ));
    }
    let stamp = dates::billing(s.now());
    plan.created_time = stamp.clone();
    plan.updated_time = stamp;
    let rendered = render_plan(&plan);
    s.billing.plans.insert(plan.plan_code.clone(), plan);
    Ok(reply::json(
        StatusCode::CREATED,
        &json!({ "code": 0, "message": "The plan has been created.", "plan": rendered }),
    ))
}

/// `PUT /billing/v1/plans/{plan_code}`: changes the members given (not the code or product).
async fn update_plan(
    State(data): State<ZohoData>,
    Path(plan_code): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, BillingError> {
    check(&data, &headers)?;
    scripted(&data, &plan_code)?;
    let input = Input(object(&body)?);
    let mut s = data.lock();
    let mut plan = s
        .billing
        .plans
        .get(&plan_code)
        .cloned()
        .ok_or_else(no_such_plan)?;
    // A plan's code and product are fixed once created.
    for (member, current) in [
        ("plan_code", &plan.plan_code),
        ("product_id", &plan.product_id),
    ] {
        if input.text(member)?.is_some_and(|v| &v != current) {
            return Err(invalid(member));
        }
    }
    apply(&mut plan, &input)?;
    plan.updated_time = dates::billing(s.now());
    let rendered = render_plan(&plan);
    s.billing.plans.insert(plan_code, plan);
    Ok(reply::json(
        StatusCode::OK,
        &json!({ "code": 0, "message": "Plan details have been updated.", "plan": rendered }),
    ))
}
