//! Commerce7's side of webhooks: the envelope `{"object","action","payload","user","tenantId"}` and posting it to a receiver, with Basic auth (a webhook configured with a username and password) or without.
//!
//! Commerce7 documents no signature header; the only authentication it offers is the optional
//! Basic auth, so a receiver that wants one must check that.

use super::data::Order;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use std::time::Duration;

/// The staff user a webhook names as having made the change.
pub const WEBHOOK_USER: &str = "staff@example-winery.com";

/// A webhook body: `object` ("Order", "Club Membership", "Customer"…), `action` ("Create",
/// "Update", "Bulk Update", "Delete"), the full record as `payload`, and the tenant.
pub fn webhook_body(object: &str, action: &str, payload: Value, tenant: &str) -> Value {
    json!({
        "object": object,
        "action": action,
        "payload": payload,
        "user": WEBHOOK_USER,
        "tenantId": tenant,
    })
}

/// The body of an Order webhook for `order` (its full JSON as payload) from `tenant`.
pub fn order_webhook_body(order: &Order, action: &str, tenant: &str) -> Value {
    webhook_body("Order", action, order.to_json(), tenant)
}

/// Posts `body` as JSON to `url`, with Basic `username:password` when `auth` is given, as
/// Commerce7 does; answers the receiver's status and body text, or why nothing came back.
pub async fn post_webhook(
    url: &str,
    auth: Option<(&str, &str)>,
    body: &Value,
) -> Result<(u16, String), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("building the webhook client: {e}"))?;
    let mut req = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some((user, password)) = auth {
        let token = STANDARD.encode(format!("{user}:{password}"));
        req = req.header("authorization", format!("Basic {token}"));
    }
    let res = req
        .send()
        .await
        .map_err(|e| format!("posting the webhook to {url}: {e}"))?;
    let status = res.status().as_u16();
    let text = res
        .text()
        .await
        .map_err(|e| format!("reading the webhook answer from {url}: {e}"))?;
    Ok((status, text))
}

/// Sends a webhook for `object`/`action` with `payload` from `tenant` to `url`, with Basic
/// `username:password`.
pub async fn send_webhook(
    url: &str,
    username: &str,
    password: &str,
    object: &str,
    action: &str,
    payload: Value,
    tenant: &str,
) -> Result<(u16, String), String> {
    let body = webhook_body(object, action, payload, tenant);
    post_webhook(url, Some((username, password)), &body).await
}

/// [`send_webhook`] for a webhook configured without a username and password.
pub async fn send_webhook_without_auth(
    url: &str,
    object: &str,
    action: &str,
    payload: Value,
    tenant: &str,
) -> Result<(u16, String), String> {
    let body = webhook_body(object, action, payload, tenant);
    post_webhook(url, None, &body).await
}
