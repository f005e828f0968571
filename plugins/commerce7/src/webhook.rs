//! `POST /webhooks/commerce7`: Commerce7's order events. The host has checked the Basic
//! credentials before this runs (Commerce7 signs nothing). A paid order, created or updated, is
//! acted on once (see [`crate::orders`]); anything else — another object or action, an unpaid
//! order, another tenant — is acknowledged and ignored with a log line, so that Commerce7, which
//! disables a webhook that keeps failing, never sees an error for an event this connector does
//! not use. Only a body that is not Commerce7's envelope is refused (400).

use crate::config::Settings;
use crate::orders::{self, Acted, Order};
use connector_sdk::{log, time, Error, Webhook, WebhookReply};
use serde::Deserialize;

/// Commerce7's webhook envelope.
#[derive(Deserialize)]
struct Envelope {
    object: String,
    action: String,
    payload: serde_json::Value,
    #[serde(rename = "tenantId")]
    tenant_id: Option<String>,
}

fn reply(status: u16, body: serde_json::Value) -> WebhookReply {
    WebhookReply {
        status,
        body: body.to_string().into_bytes(),
    }
}

fn ignored(why: &str, object: &str, action: &str) -> WebhookReply {
    log::info(
        "webhook ignored",
        &[("why", why), ("object", object), ("action", action)],
    );
    reply(200, serde_json::json!({ "ignored": why }))
}

/// Handles one webhook call.
pub fn handle(event: Webhook) -> Result<WebhookReply, Error> {
    let settings = Settings::load()?;
    let envelope: Envelope = match serde_json::from_slice(&event.body) {
        Ok(e) => e,
        Err(e) => {
            log::warn(
                "webhook body is not Commerce7's envelope",
                &[("error", &e.to_string())],
            );
            return Ok(reply(
                400,
                serde_json::json!({ "error": format!("expected Commerce7's webhook JSON {{object, action, payload, tenantId}}: {e}") }),
            ));
        }
    };
    let (object, action) = (envelope.object.as_str(), envelope.action.as_str());
    if envelope.tenant_id.as_deref() != Some(settings.tenant.as_str()) {
        log::warn(
            "webhook from another tenant ignored",
            &[("tenant", envelope.tenant_id.as_deref().unwrap_or("(none)"))],
        );
        return Ok(reply(
            200,
            serde_json::json!({ "ignored": "another tenant" }),
        ));
    }
    if object != "Order" {
        return Ok(ignored("not an order", object, action));
    }
    if !matches!(action, "Create" | "Update") {
        return Ok(ignored("not a create or update", object, action));
    }
    let Some(order) = Order::paid(&envelope.payload) else {
        return Ok(ignored(
            "not a paid order with a customer and a total",
            object,
            action,
        ));
    };
    let acted = orders::act(&settings, &order, "webhook", time::now())?;
    let body = match &acted {
        Acted::Seen => serde_json::json!({ "order": order.id, "seen": true }),
        Acted::Nothing(why) => {
            serde_json::json!({ "order": order.id, "action": "none", "why": why })
        }
        Acted::Enqueued { kind, job, tier } => {
            serde_json::json!({ "order": order.id, "action": kind, "tier": tier, "job": job })
        }
    };
    Ok(reply(200, body))
}
