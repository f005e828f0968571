//! Job `expire` (daily, 02:00 UTC): every active enrollment whose `expires_at` has passed is
//! marked `expired`, its customer's flags brought in line (no longer a member when no other
//! live enrollment remains), and a `cancel_membership` job enqueued — all in one checkpoint, so
//! the marks and the jobs commit together or not at all. A dry run reports what it would expire
//! and enqueue; the host rolls the rest back.

use crate::config::Settings;
use crate::enrollments;
use connector_sdk::db::{self, Value};
use connector_sdk::{log, queue, state, time, Error, RunContext, RunSummary};
use serde_json::json;
use std::collections::BTreeSet;

/// Runs job `expire`.
pub fn run(ctx: &RunContext) -> Result<RunSummary, Error> {
    let settings = Settings::load()?;
    let now = time::now();
    let stamp = Value::Timestamp(time::format_utc(now));
    let due = db::query(
        "SELECT id, customer_id, tier FROM tier_enrollments \
         WHERE status = 'active' AND expires_at < $1 ORDER BY expires_at, id",
        std::slice::from_ref(&stamp),
    )?;
    let mut customers = BTreeSet::new();
    let mut listed = Vec::new();
    for row in due.named() {
        let id = row.i64("id")?;
        let customer = row.str("customer_id")?;
        db::execute(
            "UPDATE tier_enrollments SET status = 'expired', last_action = 'expire', \
             last_action_at = $2, updated_at = $2 WHERE id = $1",
            &[Value::Integer(id), stamp.clone()],
        )?;
        queue::enqueue(
            "cancel_membership",
            &json!({ "enrollment": id }),
            queue::Options {
                max_attempts: Some(settings.max_attempts),
                dedup_key: Some(format!("cancel:{id}")),
                ..queue::Options::default()
            },
        )?;
        log::info(
            if ctx.dry_run {
                "would expire"
            } else {
                "expired"
            },
            &[
                ("enrollment", &id.to_string()),
                ("customer", customer),
                ("tier", row.str("tier")?),
            ],
        );
        customers.insert(customer.to_owned());
        if listed.len() < 20 {
            listed.push(format!("{} ({customer}, {})", id, row.str("tier")?));
        }
    }
    for customer in &customers {
        enrollments::refresh_flags(&settings, customer, &stamp)?;
    }
    state::checkpoint()?;
    let n = due.rows.len();
    let verb = if ctx.dry_run {
        "would expire"
    } else {
        "expired"
    };
    let mut message = format!(
        "{verb} {n} enrollments of {} customers; {n} cancel_membership jobs",
        customers.len()
    );
    if !listed.is_empty() {
        message.push_str(&format!(": {}", listed.join(", ")));
        if n > listed.len() {
            message.push_str(&format!(", … {} more", n - listed.len()));
        }
    }
    Ok(RunSummary::new(message)
        .counter("expired", n as u64)
        .counter("customers", customers.len() as u64))
}
