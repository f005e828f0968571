//! A paid order, from a webhook or from reconcile, acted on exactly once: recorded in the
//! `order_actions` ledger (its key is the order id, so a redelivered webhook or a re-read order
//! finds it and does nothing), counted into the customer's lifetime value, and — when it
//! qualifies the customer for a tier above any they hold — given a pending enrollment and an
//! `add_membership` or `upgrade_membership` job. Ledger, flags, enrollment and job commit together.

use crate::config::Settings;
use connector_sdk::db::{self, Value};
use connector_sdk::{log, queue, time, Error};
use serde_json::json;

/// The parts of a Commerce7 order this connector reads.
#[derive(Debug, Clone)]
pub struct Order {
    pub id: String,
    pub customer_id: String,
    /// Cents.
    pub total: i64,
}

impl Order {
    /// The order in `v` if it is a paid order with a customer; `None` for anything else.
    pub fn paid(v: &serde_json::Value) -> Option<Order> {
        if v.get("paymentStatus").and_then(|s| s.as_str()) != Some("Paid") {
            return None;
        }
        Some(Order {
            id: v.get("id")?.as_str()?.to_owned(),
            customer_id: v.get("customerId")?.as_str()?.to_owned(),
            total: v.get("total")?.as_i64()?,
        })
    }
}

/// What acting on an order did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acted {
    /// The ledger had it: nothing new.
    Seen,
    /// Recorded; no job (`why`).
    Nothing(String),
    /// Recorded and a job enqueued.
    Enqueued {
        kind: &'static str,
        job: u64,
        tier: String,
    },
}

/// Acts on `order` once, at `now` (Unix seconds); `source` is `webhook` or `reconcile`.
pub fn act(settings: &Settings, order: &Order, source: &str, now: i64) -> Result<Acted, Error> {
    let stamp = Value::Timestamp(time::format_utc(now));
    let customer = Value::Text(order.customer_id.clone());
    let recorded = db::execute(
        "INSERT INTO order_actions (order_id, customer_id, total_cents, action, source, created_at) \
         VALUES ($1, $2, $3, 'none', $4, $5) ON CONFLICT (order_id) DO NOTHING",
        &[
            Value::Text(order.id.clone()),
            customer.clone(),
            Value::Integer(order.total),
            Value::Text(source.into()),
            stamp.clone(),
        ],
    )?;
    if recorded == 0 {
        return Ok(Acted::Seen);
    }
    db::execute(
        "INSERT INTO customer_flags (customer_id, lifetime_cents, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (customer_id) DO UPDATE SET \
         lifetime_cents = customer_flags.lifetime_cents + excluded.lifetime_cents, \
         updated_at = excluded.updated_at",
        &[customer.clone(), Value::Integer(order.total), stamp.clone()],
    )?;
    let lifetime = db::query(
        "SELECT lifetime_cents FROM customer_flags WHERE customer_id = $1",
        std::slice::from_ref(&customer),
    )?
    .rows
    .first()
    .and_then(|r| r.first())
    .and_then(Value::as_i64)
    .unwrap_or(order.total);
    let Some((rank, tier)) = settings.qualify(order.total, lifetime) else {
        return Ok(Acted::Nothing(format!(
            "qualifies for no tier (order {} cents, lifetime {lifetime} cents)",
            order.total
        )));
    };
    let live = db::query(
        "SELECT id, tier FROM tier_enrollments WHERE customer_id = $1 AND status IN ('pending', 'active')",
        std::slice::from_ref(&customer),
    )?;
    let held: Vec<(i64, Option<usize>)> = live
        .named()
        .map(|r| Ok((r.i64("id")?, settings.rank(r.str("tier")?))))
        .collect::<Result<_, Error>>()?;
    if let Some(best) = held
        .iter()
        .filter_map(|(_, r)| *r)
        .max()
        .filter(|b| *b >= rank)
    {
        return Ok(Acted::Nothing(format!(
            "already holds tier {:?}",
            settings.tiers[best].name
        )));
    }
    let enrollment = db::query(
        "INSERT INTO tier_enrollments (customer_id, tier, club_id, status, source_order_id, \
         enrolled_at, expires_at, updated_at) VALUES ($1, $2, $3, 'pending', $4, $5, $6, $5) RETURNING id",
        &[
            customer,
            Value::Text(tier.name.clone()),
            Value::Text(tier.club_id.clone()),
            Value::Text(order.id.clone()),
            stamp,
            Value::Timestamp(time::format_utc(now + settings.membership)),
        ],
    )?
    .rows
    .first()
    .and_then(|r| r.first())
    .and_then(Value::as_i64)
    .ok_or_else(|| Error::Internal("the new enrollment's id did not come back".into()))?;
    let (kind, payload) = if held.is_empty() {
        ("add_membership", json!({ "enrollment": enrollment }))
    } else {
        let replaces: Vec<i64> = held.iter().map(|(id, _)| *id).collect();
        (
            "upgrade_membership",
            json!({ "enrollment": enrollment, "replaces": replaces }),
        )
    };
    let job = queue::enqueue(
        kind,
        &payload,
        queue::Options {
            max_attempts: Some(settings.max_attempts),
            dedup_key: Some(format!("order:{}", order.id)),
            ..queue::Options::default()
        },
    )?;
    db::execute(
        "UPDATE order_actions SET action = $2, tier = $3, job_id = $4 WHERE order_id = $1",
        &[
            Value::Text(order.id.clone()),
            Value::Text(kind.into()),
            Value::Text(tier.name.clone()),
            Value::Integer(job as i64),
        ],
    )?;
    log::info(
        "membership job enqueued",
        &[
            ("order", &order.id),
            ("customer", &order.customer_id),
            ("tier", &tier.name),
            ("kind", kind),
            ("source", source),
        ],
    );
    Ok(Acted::Enqueued {
        kind,
        job,
        tier: tier.name.clone(),
    })
}
