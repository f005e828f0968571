//! `/v1/club-membership`: list, read, create, update (cancel) and delete, with Commerce7's validation and business rules.
//!
//! Rules (the API documents the fields, not every rule; the unconfirmed ones are marked):
//! - create needs `customerId` and `clubId` of existing records and `orderDeliveryMethod`
//!   Pickup|Ship; `signupDate` defaults to now, `status` to Active;
//! - a customer has at most one Active membership per club: creating or reactivating a
//!   second answers a business-rule 422 (unconfirmed);
//! - setting `status` to Cancelled needs `cancelDate` (422 naming it otherwise); cancelling a
//!   membership that is already Cancelled answers a business-rule 422 (unconfirmed);
//! - reactivating (status Active) clears `cancelDate` and `cancellationReason` unless the body
//!   sets them; `id`, `customerId`, `createdAt` and unknown fields are ignored.

use super::auth::{json_object, TenantId};
use super::data::{parse_date, DeliveryMethod, Membership, MembershipStatus};
use super::error::{ApiError, FieldError};
use super::query::{self, Kind, Val};
use super::routes::list_answer;
use super::store::Commerce7Data;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

const NOT_FOUND: &str = "Club membership not found";

/// A field read from a body: absent, null, or a value.
enum Field<T> {
    Absent,
    Null,
    Set(T),
}

impl<T> Field<T> {
    fn set(self) -> Option<T> {
        match self {
            Field::Set(v) => Some(v),
            _ => None,
        }
    }
}

/// Reads text field `name`, recording a type error.
fn text(obj: &Map<String, Value>, name: &str, errors: &mut Vec<FieldError>) -> Field<String> {
    match obj.get(name) {
        None => Field::Absent,
        Some(Value::Null) => Field::Null,
        Some(Value::String(s)) => Field::Set(s.clone()),
        Some(_) => {
            errors.push(FieldError::invalid(name, "must be a string"));
            Field::Absent
        }
    }
}

/// Reads a field with `parse`, recording `expected` when it does not parse.
fn parsed<T>(
    obj: &Map<String, Value>,
    name: &str,
    expected: &str,
    errors: &mut Vec<FieldError>,
    parse: impl Fn(&str) -> Option<T>,
) -> Field<T> {
    match text(obj, name, errors) {
        Field::Set(s) => match parse(&s) {
            Some(v) => Field::Set(v),
            None => {
                errors.push(FieldError::invalid(name, expected));
                Field::Absent
            }
        },
        Field::Null => Field::Null,
        Field::Absent => Field::Absent,
    }
}

fn date(
    obj: &Map<String, Value>,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Field<DateTime<Utc>> {
    parsed(obj, name, "must be an ISO-8601 date", errors, parse_date)
}

fn status(obj: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Field<MembershipStatus> {
    let expected = "must be one of Active, Cancelled, On Hold";
    parsed(obj, "status", expected, errors, MembershipStatus::parse)
}

fn delivery(obj: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Field<DeliveryMethod> {
    let expected = "must be one of Pickup, Ship";
    parsed(
        obj,
        "orderDeliveryMethod",
        expected,
        errors,
        DeliveryMethod::parse,
    )
}

fn meta(obj: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Field<Map<String, Value>> {
    match obj.get("metaData") {
        None => Field::Absent,
        Some(Value::Null) => Field::Null,
        Some(Value::Object(m)) => Field::Set(m.clone()),
        Some(_) => {
            errors.push(FieldError::invalid("metaData", "must be an object"));
            Field::Absent
        }
    }
}

/// The four pass-through reference fields.
const REFERENCES: [&str; 4] = [
    "billToCustomerAddressId",
    "shipToCustomerAddressId",
    "pickupInventoryLocationId",
    "customerCreditCardId",
];

fn reference_mut<'a>(m: &'a mut Membership, name: &str) -> Option<&'a mut Option<String>> {
    match name {
        "billToCustomerAddressId" => Some(&mut m.bill_to_customer_address_id),
        "shipToCustomerAddressId" => Some(&mut m.ship_to_customer_address_id),
        "pickupInventoryLocationId" => Some(&mut m.pickup_inventory_location_id),
        "customerCreditCardId" => Some(&mut m.customer_credit_card_id),
        _ => None,
    }
}

/// `GET /v1/club-membership`: filters `clubId`, `customerId`, `status` and dates.
pub(super) async fn list(
    State(data): State<Commerce7Data>,
    Extension(TenantId(tenant)): Extension<TenantId>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let fields = [
        ("clubId", Kind::Text),
        ("customerId", Kind::Text),
        ("status", Kind::Text),
        ("signupDate", Kind::Date),
        ("cancelDate", Kind::Date),
        ("createdAt", Kind::Date),
        ("updatedAt", Kind::Date),
    ];
    let q = query::parse(&query::params(&uri), &fields)?;
    let s = data.lock();
    let t = s.tenants.get(&tenant).ok_or_else(ApiError::unauthorized)?;
    let (page, tail) = query::paginate(&t.memberships, &q.mode, |m| {
        q.filters.iter().all(|f| {
            f.accepts(&match f.field() {
                "clubId" => Val::Text(m.club_id.clone()),
                "customerId" => Val::Text(m.customer_id.clone()),
                "status" => Val::Text(m.status.as_str().to_owned()),
                "signupDate" => Val::Date(Some(m.signup_date)),
                "cancelDate" => Val::Date(m.cancel_date),
                "createdAt" => Val::Date(Some(m.created_at)),
                _ => Val::Date(Some(m.updated_at)),
            })
        })
    });
    let rows = page.into_iter().map(|m| t.membership_json(m)).collect();
    Ok(list_answer("clubMemberships", rows, tail))
}

/// `GET /v1/club-membership/{id}`.
pub(super) async fn get_one(
    State(data): State<Commerce7Data>,
    Extension(TenantId(tenant)): Extension<TenantId>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let s = data.lock();
    let t = s.tenants.get(&tenant).ok_or_else(ApiError::unauthorized)?;
    t.memberships
        .get(&id)
        .map(|m| Json(t.membership_json(m)))
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))
}

/// `POST /v1/club-membership`: answers 200 with the new membership.
pub(super) async fn create(
    State(data): State<Commerce7Data>,
    Extension(TenantId(tenant)): Extension<TenantId>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let obj = json_object(&headers, &body)?;
    let mut errors = Vec::new();
    let customer_id = text(&obj, "customerId", &mut errors).set();
    let club_id = text(&obj, "clubId", &mut errors).set();
    let method = delivery(&obj, &mut errors).set();
    let signup = date(&obj, "signupDate", &mut errors).set();
    let status = status(&obj, &mut errors)
        .set()
        .unwrap_or(MembershipStatus::Active);
    let cancel_date = date(&obj, "cancelDate", &mut errors).set();
    let reason = text(&obj, "cancellationReason", &mut errors).set();
    let meta_data = meta(&obj, &mut errors).set().unwrap_or_default();
    let references: Vec<Option<String>> = REFERENCES
        .iter()
        .map(|name| text(&obj, name, &mut errors).set())
        .collect();
    let mut s = data.lock();
    if let Some(e) = customer_id
        .as_ref()
        .and_then(|c| s.customer_failures.get(c))
    {
        return Err(e.clone());
    }
    let t = s.tenants.get(&tenant).ok_or_else(ApiError::unauthorized)?;
    match &customer_id {
        None => errors.push(FieldError::required("customerId")),
        Some(c) if !t.customers.contains_key(c) => {
            errors.push(FieldError::invalid("customerId", "Customer not found"));
        }
        Some(_) => {}
    }
    match &club_id {
        None => errors.push(FieldError::required("clubId")),
        Some(c) if !t.clubs.contains_key(c) => {
            errors.push(FieldError::invalid("clubId", "Club not found"));
        }
        Some(_) => {}
    }
    if method.is_none() && !errors.iter().any(|e| e.field == "orderDeliveryMethod") {
        errors.push(FieldError::required("orderDeliveryMethod"));
    }
    if status == MembershipStatus::Cancelled && cancel_date.is_none() {
        errors.push(FieldError::required("cancelDate"));
    }
    let (Some(customer_id), Some(club_id), Some(method), true) =
        (customer_id, club_id, method, errors.is_empty())
    else {
        return Err(ApiError::validation(errors));
    };
    if status == MembershipStatus::Active
        && t.active_membership(&customer_id, &club_id, None).is_some()
    {
        return Err(ApiError::rule(
            "Customer is already an active member of this club",
        ));
    }
    let now = s.now();
    let id = s.fresh_id(&tenant);
    let mut m = Membership {
        id,
        customer_id,
        club_id,
        status,
        order_delivery_method: method,
        signup_date: signup.unwrap_or(now),
        cancel_date,
        cancellation_reason: reason,
        bill_to_customer_address_id: None,
        ship_to_customer_address_id: None,
        pickup_inventory_location_id: None,
        customer_credit_card_id: None,
        meta_data,
        created_at: now,
        updated_at: now,
    };
    for (name, value) in REFERENCES.iter().zip(references) {
        if let Some(slot) = reference_mut(&mut m, name) {
            *slot = value;
        }
    }
    let t = s
        .tenants
        .get_mut(&tenant)
        .ok_or_else(ApiError::unauthorized)?;
    let answer = t.membership_json(&m);
    t.put_membership(m, now);
    Ok(Json(answer))
}

/// `PUT /v1/club-membership/{id}`: a partial update of root fields (a cancel is one).
pub(super) async fn update(
    State(data): State<Commerce7Data>,
    Extension(TenantId(tenant)): Extension<TenantId>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let mut s = data.lock();
    let now = s.now();
    let t = s.tenants.get(&tenant).ok_or_else(ApiError::unauthorized)?;
    let old = t
        .memberships
        .get(&id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    if let Some(e) = s.customer_failures.get(&old.customer_id) {
        return Err(e.clone());
    }
    let obj = json_object(&headers, &body)?;
    let mut errors = Vec::new();
    let status = status(&obj, &mut errors);
    let cancel_date = date(&obj, "cancelDate", &mut errors);
    let reason = text(&obj, "cancellationReason", &mut errors);
    let method = delivery(&obj, &mut errors);
    let signup = date(&obj, "signupDate", &mut errors);
    let club_id = text(&obj, "clubId", &mut errors);
    let meta_data = meta(&obj, &mut errors);
    let references: Vec<(&str, Field<String>)> = REFERENCES
        .iter()
        .map(|name| (*name, text(&obj, name, &mut errors)))
        .collect();
    if matches!(method, Field::Null) {
        errors.push(FieldError::required("orderDeliveryMethod"));
    }
    if matches!(signup, Field::Null) {
        errors.push(FieldError::required("signupDate"));
    }
    let mut m = old.clone();
    match club_id {
        Field::Set(c) if !t.clubs.contains_key(&c) => {
            errors.push(FieldError::invalid("clubId", "Club not found"));
        }
        Field::Set(c) => m.club_id = c,
        Field::Null => errors.push(FieldError::required("clubId")),
        Field::Absent => {}
    }
    let asked = status.set();
    if asked == Some(MembershipStatus::Cancelled) && old.status == MembershipStatus::Cancelled {
        return Err(ApiError::rule("Club membership is already cancelled"));
    }
    if asked == Some(MembershipStatus::Active) && old.status == MembershipStatus::Cancelled {
        m.cancel_date = None;
        m.cancellation_reason = None;
    }
    m.status = asked.unwrap_or(old.status);
    match cancel_date {
        Field::Set(d) => m.cancel_date = Some(d),
        Field::Null => m.cancel_date = None,
        Field::Absent => {}
    }
    if asked == Some(MembershipStatus::Cancelled) && m.cancel_date.is_none() {
        errors.push(FieldError::required("cancelDate"));
    }
    match reason {
        Field::Set(r) => m.cancellation_reason = Some(r),
        Field::Null => m.cancellation_reason = None,
        Field::Absent => {}
    }
    if let Some(v) = method.set() {
        m.order_delivery_method = v;
    }
    if let Some(v) = signup.set() {
        m.signup_date = v;
    }
    match meta_data {
        // A sub-object is replaced whole, as the API does.
        Field::Set(v) => m.meta_data = v,
        Field::Null => m.meta_data = Map::new(),
        Field::Absent => {}
    }
    for (name, value) in references {
        if let Some(slot) = reference_mut(&mut m, name) {
            match value {
                Field::Set(v) => *slot = Some(v),
                Field::Null => *slot = None,
                Field::Absent => {}
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    if m.status == MembershipStatus::Active
        && t.active_membership(&m.customer_id, &m.club_id, Some(&m.id))
            .is_some()
    {
        return Err(ApiError::rule(
            "Customer is already an active member of this club",
        ));
    }
    m.updated_at = now;
    let t = s
        .tenants
        .get_mut(&tenant)
        .ok_or_else(ApiError::unauthorized)?;
    let answer = t.membership_json(&m);
    t.put_membership(m, now);
    Ok(Json(answer))
}

/// `DELETE /v1/club-membership/{id}`: answers 200 with the deleted membership.
pub(super) async fn delete(
    State(data): State<Commerce7Data>,
    Extension(TenantId(tenant)): Extension<TenantId>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let mut s = data.lock();
    let now = s.now();
    let customer = s
        .tenants
        .get(&tenant)
        .and_then(|t| t.memberships.get(&id))
        .map(|m| m.customer_id.clone())
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    if let Some(e) = s.customer_failures.get(&customer) {
        return Err(e.clone());
    }
    let t = s
        .tenants
        .get_mut(&tenant)
        .ok_or_else(ApiError::unauthorized)?;
    let m = t
        .memberships
        .remove(&id)
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))?;
    // Deleting ends the membership for the customer's `clubs[]` too.
    t.touch_customer(&customer, now);
    Ok(Json(t.membership_json(&m)))
}
