//! Zoho Billing: one plan per package, its `plan_code` the SKU, under the configured Billing
//! product. A plan the connector created before is updated (`PUT /billing/v1/plans/{code}`,
//! created again if Zoho no longer has it); a new one is created (`POST /billing/v1/plans`,
//! updated instead if Zoho already has that code). Every call carries the organization header.

use crate::catalogue::Package;
use crate::client::{Client, Failure};
use crate::config::Settings;
use crate::crm::{Outcome, Pushed};
use connector_sdk::http::Request;
use serde_json::{json, Value};

/// The header naming the Billing organization.
const ORG_HEADER: &str = "X-com-zoho-subscriptions-organizationid";
/// Billing's code for "the plan code already exists".
const EXISTS: &str = "1001";

/// The plan members the connector owns (on update, the code and product stay as created).
pub fn plan(p: &Package) -> Value {
    json!({
        "name": p.name,
        "description": p.description.clone().unwrap_or_default(),
        "recurring_price": p.price,
        "interval": 1,
        "interval_unit": if p.interval == "yearly" { "years" } else { "months" },
        "billing_cycles": -1,
        "status": if p.active { "active" } else { "inactive" },
    })
}

/// Whether `sku` can be a plan code (and a path segment): letters, digits, `-`, `_`, `.`.
pub fn valid_code(sku: &str) -> bool {
    !sku.is_empty()
        && sku.len() <= 100
        && sku
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Creates or updates the plan for `p`; `known` is the plan code recorded by an earlier push.
pub fn push(
    client: &mut Client<'_>,
    settings: &Settings,
    p: &Package,
    known: Option<&str>,
) -> Outcome {
    if !valid_code(&p.sku) {
        return Err(Failure::local(
            "INVALID_SKU",
            format!(
                "SKU {:?} cannot be a Billing plan code: use letters, digits, '-', '_' or '.' (at most 100)",
                p.sku
            ),
        ));
    }
    if known.is_some() {
        match update(client, settings, p) {
            Err(f) if f.http_status == Some(404) => create(client, settings, p),
            other => other,
        }
    } else {
        match create(client, settings, p) {
            Err(f) if f.code == EXISTS => update(client, settings, p),
            other => other,
        }
    }
}

fn create(client: &mut Client<'_>, settings: &Settings, p: &Package) -> Outcome {
    let mut body = plan(p);
    body["plan_code"] = json!(p.sku);
    body["product_id"] = json!(settings.billing_product_id);
    call(
        client,
        settings,
        Request::post(client.url("/billing/v1/plans")),
        &body,
        "create",
        p,
    )
}

fn update(client: &mut Client<'_>, settings: &Settings, p: &Package) -> Outcome {
    let url = client.url(&format!("/billing/v1/plans/{}", p.sku));
    call(
        client,
        settings,
        Request::put(url).idempotent(true),
        &plan(p),
        "update",
        p,
    )
}

fn call(
    client: &mut Client<'_>,
    settings: &Settings,
    request: Request,
    body: &Value,
    action: &str,
    p: &Package,
) -> Outcome {
    let request = request
        .json(body)
        .map_err(Failure::internal)?
        .header(ORG_HEADER, &settings.billing_org_id);
    let response = client.send(request)?;
    let ok = matches!(response.status, 200 | 201)
        && serde_json::from_slice::<Value>(&response.body)
            .ok()
            .is_some_and(|d| d.get("code").and_then(Value::as_i64) == Some(0));
    if ok {
        Ok(Pushed {
            remote_id: Some(p.sku.clone()),
            action: action.to_owned(),
        })
    } else {
        let what = if action == "create" {
            "POST /billing/v1/plans"
        } else {
            "PUT /billing/v1/plans/{code}"
        };
        Err(Failure::answer(&response, what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_codes_are_checked_before_any_call() {
        assert!(valid_code("GOLD-M_1.2"));
        assert!(!valid_code("gold plan") && !valid_code("a/b") && !valid_code(""));
    }
}
