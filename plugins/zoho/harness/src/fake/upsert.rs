//! Upsert Records (`POST /crm/v8/{module}/upsert`): request checks, per-record validation
//! against the module's fields, matching on `duplicate_check_fields`, scripted failures, and
//! the `200`/`207`/`400` answer with one result per record.

use super::crm::{admit, invalid_module};
use super::data::{user_short, Crm, Kind, Module};
use super::reply::{self, CrmError};
use super::{dates, ZohoData};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{json, Map, Value};

/// Most records one write may carry.
const MAX_RECORDS: usize = 100;

fn invalid_data(details: Value) -> Value {
    reply::crm_error_body("INVALID_DATA", details, "invalid data")
}

/// `POST /crm/v8/{module}/upsert`.
pub(super) async fn upsert(
    State(data): State<ZohoData>,
    Path(module): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, CrmError> {
    let _slot = admit(&data, &headers).await?;
    let module = Module::from_api_name(&module).ok_or_else(|| invalid_module().wrapped())?;
    // What Zoho answers a body that is not a JSON object.
    let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(&body) else {
        return Err(CrmError::bad(
            "INVALID_DATA",
            json!({ "expected_data_type": "jsonobject" }),
            "body",
        ));
    };
    let records = match request.get("data") {
        Some(Value::Array(records)) if !records.is_empty() => records,
        Some(_) => {
            return Err(CrmError::bad(
                "INVALID_DATA",
                json!({ "expected_data_type": "jsonarray", "api_name": "data", "json_path": "$.data" }),
                "invalid data",
            ))
        }
        None => {
            return Err(CrmError::bad(
                "REQUIRED_PARAM_MISSING",
                json!({ "param_name": "data" }),
                "required param is missing",
            ))
        }
    };
    if records.len() > MAX_RECORDS {
        return Err(CrmError::bad(
            "LIMIT_EXCEEDED",
            json!({ "maximum_length": MAX_RECORDS, "api_name": "data" }),
            "count of records in your request exceeds the limit",
        )
        .wrapped());
    }
    let check_fields = duplicate_check_fields(module, request.get("duplicate_check_fields"))?;
    let mut s = data.lock();
    let now = dates::whole_seconds(s.now());
    let results: Vec<Value> = records
        .iter()
        .enumerate()
        .map(|(i, record)| upsert_one(&mut s.crm, module, i, record, &check_fields, now))
        .collect();
    let ok = results.iter().filter(|r| r["status"] == "success").count();
    let status = if ok == results.len() {
        StatusCode::OK
    } else if ok == 0 {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::MULTI_STATUS
    };
    Ok(reply::json(status, &json!({ "data": results })))
}

/// The fields to match existing records on, in order (the module's system-defined one when
/// the request names none).
fn duplicate_check_fields(module: Module, given: Option<&Value>) -> Result<Vec<String>, CrmError> {
    let Some(given) = given else {
        return Ok(vec![module.default_duplicate_check().to_owned()]);
    };
    let bad = |path: String| {
        CrmError::bad(
            "INVALID_DATA",
            json!({ "api_name": "duplicate_check_fields", "json_path": path }),
            "invalid data",
        )
    };
    let Value::Array(items) = given else {
        return Err(bad("$.duplicate_check_fields".to_owned()));
    };
    items
        .iter()
        .enumerate()
        .map(
            |(i, item)| match item.as_str().and_then(|n| module.field(n)) {
                Some(field) if field.kind != Kind::System => Ok(field.name.to_owned()),
                _ => Err(bad(format!("$.duplicate_check_fields[{i}]"))),
            },
        )
        .collect()
}

/// Whether `value` fits `kind` (`null` empties any field but a boolean).
fn fits(kind: Kind, value: &Value) -> Result<(), Value> {
    let ok = match (kind, value) {
        (Kind::Boolean, v) => v.is_boolean(),
        (_, Value::Null) => true,
        (Kind::Text(max), Value::String(s)) => {
            if s.chars().count() > max {
                return Err(json!({ "maximum_length": max }));
            }
            true
        }
        (Kind::TextArea | Kind::Picklist, v) => v.is_string(),
        (Kind::Email, Value::String(s)) => s
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.')),
        (Kind::Number(_), v) => v.is_number(),
        (Kind::Date, Value::String(s)) => NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
        (Kind::Lookup, Value::Object(o)) => {
            o.get("id").is_some_and(|id| id.is_string() || id.is_u64())
        }
        (Kind::MultiSelect, Value::Array(items)) => items.iter().all(Value::is_string),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(json!({ "expected_data_type": kind.data_type() }))
    }
}

/// The writable values of one input record, or its error item.
fn validate(
    module: Module,
    i: usize,
    input: &Value,
) -> Result<(Option<u64>, Map<String, Value>), Value> {
    let Value::Object(input) = input else {
        return Err(invalid_data(json!({
            "expected_data_type": "jsonobject", "api_name": "data", "json_path": format!("$.data[{i}]"),
        })));
    };
    let mut id = None;
    let mut values = Map::new();
    for (name, value) in input {
        let path = format!("$.data[{i}].{name}");
        if name == "id" {
            let parsed = value.as_str().and_then(|s| s.parse::<u64>().ok());
            if parsed.is_none() {
                return Err(invalid_data(json!({ "api_name": "id", "json_path": path })));
            }
            id = parsed;
            continue;
        }
        let Some(field) = module.field(name) else {
            return Err(invalid_data(json!({ "api_name": name, "json_path": path })));
        };
        if field.kind == Kind::System {
            // Read-only fields are set by the CRM; Zoho ignores them on write.
            continue;
        }
        if let Err(Value::Object(mut details)) = fits(field.kind, value) {
            details.insert("api_name".to_owned(), json!(name));
            details.insert("json_path".to_owned(), json!(path));
            return Err(invalid_data(Value::Object(details)));
        }
        values.insert(name.clone(), value.clone());
    }
    Ok((id, values))
}

fn is_blank(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(_) => false,
    }
}

/// Upserts one record; returns its result item.
fn upsert_one(
    crm: &mut Crm,
    module: Module,
    i: usize,
    input: &Value,
    check_fields: &[String],
    now: DateTime<Utc>,
) -> Value {
    let (id, values) = match validate(module, i, input) {
        Ok(v) => v,
        Err(item) => return item,
    };
    let key = module.failure_key();
    if let Some((code, message)) = values
        .get(key)
        .and_then(Value::as_str)
        .and_then(|k| crm.failures.get(k))
    {
        let details = json!({ "api_name": key, "json_path": format!("$.data[{i}].{key}") });
        return reply::crm_error_body(code, details, message);
    }
    // An explicit id wins; otherwise the first duplicate check field that matches.
    let target = match id {
        Some(id) if crm.record(module, id).is_some() => Some((id, None)),
        Some(_) => {
            return reply::crm_error_body(
                "INVALID_DATA",
                json!({ "api_name": "id", "json_path": format!("$.data[{i}].id") }),
                "the id given seems to be invalid",
            )
        }
        None => check_fields.iter().find_map(|field| {
            let value = values.get(field).filter(|v| !v.is_null())?;
            crm.find_by(module, field, value)
                .map(|id| (id, Some(field.clone())))
        }),
    };
    let mandatory = module.mandatory();
    let missing = match target {
        None => is_blank(values.get(mandatory)),
        Some(_) => values.contains_key(mandatory) && is_blank(values.get(mandatory)),
    };
    if missing {
        return reply::crm_error_body(
            "MANDATORY_NOT_FOUND",
            json!({ "api_name": mandatory, "json_path": format!("$.data[{i}].{mandatory}") }),
            "required field not found",
        );
    }
    let (id, created, action, duplicate_field, message) = match target {
        Some((id, field)) => {
            let Some(record) = crm.record_mut(module, id) else {
                return reply::crm_error_body("INTERNAL_ERROR", json!({}), "Internal Server Error");
            };
            record.values.extend(values);
            record.modified = now;
            (id, record.created, "update", field, "record updated")
        }
        None => {
            let fresh: Map<String, Value> =
                values.into_iter().filter(|(_, v)| !v.is_null()).collect();
            (
                crm.insert(module, now, now, fresh),
                now,
                "insert",
                None,
                "record added",
            )
        }
    };
    json!({
        "code": "SUCCESS",
        "duplicate_field": duplicate_field,
        "action": action,
        "details": {
            "Modified_Time": dates::crm(now),
            "Modified_By": user_short(),
            "Created_Time": dates::crm(created),
            "id": id.to_string(),
            "Created_By": user_short(),
        },
        "message": message,
        "status": "success",
    })
}
