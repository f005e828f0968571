//! The router: `/v1/` routes behind the auth gate, and the read-only resources (clubs, customers, orders).

use super::auth::{gate, TenantId};
use super::data::Order;
use super::error::ApiError;
use super::memberships;
use super::query::{self, Kind, Tail, Val};
use super::store::Commerce7Data;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{json, Value};

/// The fake Commerce7 routes over `data`, every one behind Basic auth and the `tenant` header.
pub fn router(data: Commerce7Data) -> Router {
    Router::new()
        .route("/v1/club", get(clubs))
        .route("/v1/club/{id}", get(club))
        .route(
            "/v1/club-membership",
            get(memberships::list).post(memberships::create),
        )
        .route(
            "/v1/club-membership/{id}",
            get(memberships::get_one)
                .put(memberships::update)
                .delete(memberships::delete),
        )
        .route("/v1/customer", get(customers))
        .route("/v1/customer/{id}", get(customer))
        .route("/v1/order", get(orders))
        .route("/v1/order/{id}", get(order))
        .fallback(|| async { ApiError::not_found("Not found") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "methodNotAllowed",
                "Method not allowed",
            )
        })
        .layer(middleware::from_fn_with_state(data.clone(), gate))
        .with_state(data)
}

/// A list answer: `{"<plural>":[…],"total":N}` or `{"<plural>":[…],"cursor":…}`.
pub(super) fn list_answer(plural: &str, rows: Vec<Value>, tail: Tail) -> Response {
    let mut body = json!({ plural: rows });
    match tail {
        Tail::Total(n) => body["total"] = json!(n),
        Tail::Cursor(c) => body["cursor"] = json!(c),
    }
    Json(body).into_response()
}

async fn clubs(
    State(data): State<Commerce7Data>,
    Extension(TenantId(tenant)): Extension<TenantId>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let fields = [("type", Kind::Text), ("updatedAt", Kind::Date)];
    let q = query::parse(&query::params(&uri), &fields)?;
    let s = data.lock();
    let t = s.tenants.get(&tenant).ok_or_else(ApiError::unauthorized)?;
    let (page, tail) = query::paginate(&t.clubs, &q.mode, |c| {
        q.filters.iter().all(|f| {
            f.accepts(&match f.field() {
                "type" => Val::Text(c.club_type.as_str().to_owned()),
                _ => Val::Date(Some(c.updated_at)),
            })
        })
    });
    let rows = page.into_iter().map(|c| c.to_json()).collect();
    Ok(list_answer("clubs", rows, tail))
}

async fn club(
    State(data): State<Commerce7Data>,
    Extension(TenantId(tenant)): Extension<TenantId>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let s = data.lock();
    let t = s.tenants.get(&tenant).ok_or_else(ApiError::unauthorized)?;
    t.clubs
        .get(&id)
        .map(|c| Json(c.to_json()))
        .ok_or_else(|| ApiError::not_found("Club not found"))
}

async fn customers(
    State(data): State<Commerce7Data>,
    Extension(TenantId(tenant)): Extension<TenantId>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let fields = [
        ("createdAt", Kind::Date),
        ("updatedAt", Kind::Date),
        ("lastOrderDate", Kind::Date),
        ("lifetimeValue", Kind::Num),
        ("orderCount", Kind::Num),
        ("emailMarketingStatus", Kind::Text),
    ];
    let q = query::parse(&query::params(&uri), &fields)?;
    let s = data.lock();
    let t = s.tenants.get(&tenant).ok_or_else(ApiError::unauthorized)?;
    let (page, tail) = query::paginate(&t.customers, &q.mode, |c| {
        let passes = q.filters.iter().all(|f| {
            f.accepts(&match f.field() {
                "createdAt" => Val::Date(Some(c.created_at)),
                "updatedAt" => Val::Date(Some(c.updated_at)),
                "lastOrderDate" => Val::Date(c.last_order_date),
                "lifetimeValue" => Val::Num(c.lifetime_value),
                "orderCount" => Val::Num(i64::from(c.order_count)),
                _ => Val::Text(c.email_marketing_status.clone()),
            })
        });
        // `q=` matches names and email addresses, case-insensitively.
        passes
            && q.q.as_ref().is_none_or(|needle| {
                let name = format!("{} {}", c.first_name, c.last_name).to_lowercase();
                name.contains(needle.as_str())
                    || c.emails
                        .iter()
                        .any(|e| e.value.to_lowercase().contains(needle.as_str()))
            })
    });
    let rows = page.into_iter().map(|c| t.customer_json(c)).collect();
    Ok(list_answer("customers", rows, tail))
}

async fn customer(
    State(data): State<Commerce7Data>,
    Extension(TenantId(tenant)): Extension<TenantId>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let s = data.lock();
    let t = s.tenants.get(&tenant).ok_or_else(ApiError::unauthorized)?;
    t.customers
        .get(&id)
        .map(|c| Json(t.customer_json(c)))
        .ok_or_else(|| ApiError::not_found("Customer not found"))
}

/// An order's value of a filterable field.
fn order_field(o: &Order, field: &str) -> Val {
    match field {
        "orderPaidDate" => Val::Date(o.order_paid_date),
        "orderSubmittedDate" => Val::Date(Some(o.order_submitted_date)),
        "createdAt" => Val::Date(Some(o.created_at)),
        "updatedAt" => Val::Date(Some(o.updated_at)),
        "orderNumber" => Val::Num(i64::try_from(o.order_number).unwrap_or(i64::MAX)),
        "total" => Val::Num(o.total),
        "customerId" => Val::Text(o.customer_id.clone()),
        "paymentStatus" => Val::Text(o.payment_status.as_str().to_owned()),
        _ => Val::Text(o.channel.as_str().to_owned()),
    }
}

async fn orders(
    State(data): State<Commerce7Data>,
    Extension(TenantId(tenant)): Extension<TenantId>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let fields = [
        ("orderPaidDate", Kind::Date),
        ("orderSubmittedDate", Kind::Date),
        ("createdAt", Kind::Date),
        ("updatedAt", Kind::Date),
        ("orderNumber", Kind::Num),
        ("total", Kind::Num),
        ("customerId", Kind::Text),
        ("paymentStatus", Kind::Text),
        ("channel", Kind::Text),
    ];
    let q = query::parse(&query::params(&uri), &fields)?;
    let s = data.lock();
    let t = s.tenants.get(&tenant).ok_or_else(ApiError::unauthorized)?;
    let (page, tail) = query::paginate(&t.orders, &q.mode, |o| {
        q.filters
            .iter()
            .all(|f| f.accepts(&order_field(o, f.field())))
    });
    let rows = page.into_iter().map(Order::to_json).collect();
    Ok(list_answer("orders", rows, tail))
}

async fn order(
    State(data): State<Commerce7Data>,
    Extension(TenantId(tenant)): Extension<TenantId>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let s = data.lock();
    let t = s.tenants.get(&tenant).ok_or_else(ApiError::unauthorized)?;
    t.orders
        .get(&id)
        .map(|o| Json(o.to_json()))
        .ok_or_else(|| ApiError::not_found("Order not found"))
}
