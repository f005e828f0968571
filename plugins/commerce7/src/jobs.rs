//! The membership jobs, each delivered by the host's queue (at most `max_attempts` times, with
//! its back-off between): `add_membership` and `upgrade_membership` create the Commerce7 club
//! membership of a pending enrollment (an upgrade then cancels the memberships it replaces);
//! `cancel_membership` cancels an expired enrollment's membership with
//! `PUT {status: "Cancelled", cancelDate, cancellationReason}`.
//!
//! Each is safe to deliver again: a membership an earlier attempt created is found (Commerce7
//! answers "already an active member") and used; one already cancelled or gone counts as
//! cancelled. A job's writes commit only when it succeeds, so a failed job leaves its enrollment
//! `pending` — visible with `connector-host queue list --status failed`, and finished by
//! `queue retry` once the cause is fixed.

use crate::client::Client;
use crate::config::Settings;
use crate::enrollments::{self, Enrollment};
use connector_sdk::http::{encode, Request};
use connector_sdk::{log, time, Job, JobError};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    enrollment: i64,
    #[serde(default)]
    replaces: Vec<i64>,
}

/// Handles one job.
pub fn handle(job: Job) -> Result<(), JobError> {
    let settings = Settings::load()?;
    let payload: Payload = serde_json::from_str(&job.payload).map_err(|e| {
        JobError::Permanent(format!(
            "job {} ({}): payload does not decode: {e}",
            job.id, job.kind
        ))
    })?;
    let client = Client::new(&settings);
    let Some(enrollment) = enrollments::get(payload.enrollment)? else {
        return Err(JobError::Permanent(format!(
            "enrollment {} does not exist",
            payload.enrollment
        )));
    };
    let stamp = connector_sdk::db::Value::Timestamp(time::format_utc(time::now()));
    match job.kind.as_str() {
        "add_membership" | "upgrade_membership" => {
            if enrollment.status != "pending" {
                log::info(
                    "enrollment is no longer pending; nothing to do",
                    &[("enrollment", &enrollment.id.to_string()), ("status", &enrollment.status)],
                );
                return Ok(());
            }
            let membership = create(&client, &enrollment)?;
            for old in payload.replaces.iter().filter_map(|id| enrollments::get(*id).transpose()) {
                let old = old?;
                if old.status != "active" && old.status != "pending" {
                    continue;
                }
                let reason = format!("Upgraded to {}", enrollment.tier);
                cancel(&client, &old, &reason)?;
                enrollments::mark(old.id, "replaced", "upgrade_membership", None, &stamp)?;
            }
            enrollments::mark(enrollment.id, "active", &job.kind, Some(&membership), &stamp)?;
            enrollments::refresh_flags(&settings, &enrollment.customer_id, &stamp)?;
            Ok(())
        }
        "cancel_membership" => {
            cancel(&client, &enrollment, &settings.cancellation_reason)?;
            connector_sdk::db::execute(
                "UPDATE tier_enrollments SET last_action = 'cancel_membership', last_action_at = $2, \
                 last_error = NULL, updated_at = $2 WHERE id = $1",
                &[connector_sdk::db::Value::Integer(enrollment.id), stamp],
            )?;
            Ok(())
        }
        other => Err(JobError::Permanent(format!(
            "unknown job kind {other:?}; this connector handles add_membership, upgrade_membership and cancel_membership"
        ))),
    }
}

/// Creates the club membership of `e` (or finds the one an earlier attempt created); returns
/// its id.
fn create(client: &Client<'_>, e: &Enrollment) -> Result<String, JobError> {
    let body = json!({
        "customerId": e.customer_id,
        "clubId": e.club_id,
        "orderDeliveryMethod": client.settings.delivery_method,
        "signupDate": time::format_utc(time::now()),
    });
    let what = "POST /club-membership";
    match client.call(
        Request::post(client.url("/club-membership")),
        what,
        Some(&body),
        true,
    )? {
        Ok(v) => id_of(&v, what),
        Err(r) if r.status == 422 && r.message.contains("already an active member") => {
            existing(client, e)?.ok_or_else(|| {
                JobError::Retry(format!(
                    "{r}; yet no active membership of customer {} in club {} is listed",
                    e.customer_id, e.club_id
                ))
            })
        }
        Err(r) => Err(r.job_error(client.settings)),
    }
}

/// The active membership of `e`'s customer in `e`'s club, if Commerce7 lists one.
fn existing(client: &Client<'_>, e: &Enrollment) -> Result<Option<String>, JobError> {
    let url = client.url(&format!(
        "/club-membership?customerId={}&clubId={}&status=Active&page=1&limit=1",
        encode(&e.customer_id),
        encode(&e.club_id)
    ));
    let what = "GET /club-membership";
    let v = client
        .call(Request::get(url), what, None, true)?
        .map_err(|r| r.job_error(client.settings))?;
    Ok(v.get("clubMemberships")
        .and_then(Value::as_array)
        .and_then(|l| l.first())
        .and_then(|m| m.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned))
}

/// Cancels `e`'s membership; one already cancelled, gone or never created counts as done.
fn cancel(client: &Client<'_>, e: &Enrollment, reason: &str) -> Result<(), JobError> {
    let Some(id) = &e.membership_id else {
        log::info(
            "enrollment has no Commerce7 membership; nothing to cancel",
            &[("enrollment", &e.id.to_string())],
        );
        return Ok(());
    };
    let body = json!({
        "status": "Cancelled",
        "cancelDate": time::format_utc(time::now()),
        "cancellationReason": reason,
    });
    let what = "PUT /club-membership/{id}";
    let url = client.url(&format!("/club-membership/{}", encode(id)));
    match client.call(Request::put(url), what, Some(&body), true)? {
        Ok(_) => Ok(()),
        Err(r)
            if r.status == 404 || (r.status == 422 && r.message.contains("already cancelled")) =>
        {
            log::info(
                "membership already cancelled or gone",
                &[("membership", id), ("answer", &r.to_string())],
            );
            Ok(())
        }
        Err(r) => Err(r.job_error(client.settings)),
    }
}

fn id_of(v: &Value, what: &str) -> Result<String, JobError> {
    v.get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| JobError::Retry(format!("{what}: the answer carries no membership id")))
}
