//! What a push leaves behind: the package's standing in `product_integrations` (per system, so
//! one failing never hides the other; rate-limit hits too) and one `zoho_sync_logs` row per
//! attempt.

use crate::catalogue::Entry;
use crate::crm::Outcome;
use connector_sdk::db::{self, Value};
use connector_sdk::Error;
use serde_json::json;

/// Rate-limit hits kept per package.
const HITS_KEPT: usize = 20;

/// A Zoho system: its name in columns and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    Crm,
    Billing,
}

impl System {
    pub fn as_str(self) -> &'static str {
        match self {
            System::Crm => "crm",
            System::Billing => "billing",
        }
    }

    fn remote_column(self) -> &'static str {
        match self {
            System::Crm => "crm_product_id",
            System::Billing => "billing_plan_code",
        }
    }
}

const LOG_COLUMNS: &str = "run_id, sku, system, attempt, action, status, http_status, error_code, \
     error_message, remote_id, created_at";

/// Records `outcome` of pushing `entry` to `system` at `now` (RFC 3339), in run `run_id`, and
/// updates `entry`'s standing to match.
pub fn push(
    run_id: u64,
    entry: &mut Entry,
    system: System,
    outcome: &Outcome,
    now: &str,
) -> Result<(), Error> {
    let standing = match system {
        System::Crm => &mut entry.crm,
        System::Billing => &mut entry.billing,
    };
    let attempt = standing.attempts + 1;
    let s = system.as_str();
    let stamp = Value::Timestamp(now.to_owned());
    let sku = Value::Text(entry.package.sku.clone());
    let mut columns: Vec<String> = vec!["sku".into(), "updated_at".into()];
    let mut row: Vec<Value> = vec![sku.clone(), stamp.clone()];
    let mut set = |c: String, v: Value| {
        columns.push(c);
        row.push(v);
    };
    set(format!("{s}_attempted_at"), stamp.clone());
    let log_status;
    match outcome {
        Ok(pushed) => {
            set(format!("{s}_status"), "ok".into());
            set(format!("{s}_synced_at"), stamp.clone());
            set(format!("{s}_attempts"), Value::Integer(0));
            set(format!("{s}_error_code"), Value::Null);
            set(format!("{s}_error_message"), Value::Null);
            if let Some(id) = &pushed.remote_id {
                set(system.remote_column().into(), Value::Text(id.clone()));
                standing.remote_id = Some(id.clone());
            }
            standing.status = "ok".into();
            standing.attempts = 0;
            log_status = "ok";
        }
        Err(f) => {
            set(format!("{s}_status"), "failed".into());
            set(format!("{s}_attempts"), Value::Integer(attempt));
            set(format!("{s}_error_code"), Value::Text(f.code.clone()));
            set(format!("{s}_error_message"), Value::Text(f.message.clone()));
            standing.status = "failed".into();
            standing.attempts = attempt;
            log_status = if f.limited.is_some() {
                "rate_limited"
            } else {
                "failed"
            };
            if let Some((pool, retry_after_ms)) = &f.limited {
                entry.rate_limit_hits.push(json!({
                    "at": now, "system": s, "pool": pool, "retry_after_ms": retry_after_ms,
                }));
                let excess = entry.rate_limit_hits.len().saturating_sub(HITS_KEPT);
                entry.rate_limit_hits.drain(..excess);
                set("last_rate_limit_at".into(), stamp.clone());
                set(
                    "rate_limit_hits".into(),
                    Value::Json(
                        serde_json::Value::Array(entry.rate_limit_hits.clone()).to_string(),
                    ),
                );
            }
        }
    }
    let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
    db::upsert("product_integrations", &columns, &["sku"], &[row])?;
    let (action, http_status, code, message, remote) = match outcome {
        Ok(p) => (
            Some(p.action.clone()),
            None,
            None,
            None,
            p.remote_id.clone(),
        ),
        Err(f) => (
            None,
            f.http_status,
            Some(f.code.clone()),
            Some(f.message.clone()),
            None,
        ),
    };
    let opt = |v: Option<String>| v.map_or(Value::Null, Value::Text);
    db::execute(
        &format!(
            "INSERT INTO zoho_sync_logs ({LOG_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ),
        &[
            Value::Integer(run_id as i64),
            sku,
            Value::Text(s.into()),
            Value::Integer(attempt),
            opt(action),
            Value::Text(log_status.into()),
            http_status.map_or(Value::Null, |h| Value::Integer(h.into())),
            opt(code),
            opt(message),
            opt(remote),
            stamp,
        ],
    )?;
    Ok(())
}
