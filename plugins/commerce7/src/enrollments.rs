//! `tier_enrollments` and `customer_flags`: reading an enrollment, and keeping a customer's
//! flags in step with their live enrollments.

use crate::config::Settings;
use connector_sdk::db::{self, FromRow, NamedRow, Value};
use connector_sdk::Error;

/// One enrollment.
#[derive(Debug, Clone)]
pub struct Enrollment {
    pub id: i64,
    pub customer_id: String,
    pub tier: String,
    pub club_id: String,
    pub status: String,
    pub membership_id: Option<String>,
}

impl FromRow for Enrollment {
    fn from_row(r: &NamedRow<'_>) -> Result<Self, Error> {
        Ok(Enrollment {
            id: r.i64("id")?,
            customer_id: r.str("customer_id")?.to_owned(),
            tier: r.str("tier")?.to_owned(),
            club_id: r.str("club_id")?.to_owned(),
            status: r.str("status")?.to_owned(),
            membership_id: r
                .opt("membership_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

/// Enrollment `id`, if it exists.
pub fn get(id: i64) -> Result<Option<Enrollment>, Error> {
    Ok(db::query(
        "SELECT id, customer_id, tier, club_id, status, membership_id FROM tier_enrollments WHERE id = $1",
        &[Value::Integer(id)],
    )?
    .decode()?
    .pop())
}

/// Sets enrollment `id`'s status and last action at `stamp`; `membership` when known.
pub fn mark(
    id: i64,
    status: &str,
    action: &str,
    membership: Option<&str>,
    stamp: &Value,
) -> Result<(), Error> {
    db::execute(
        "UPDATE tier_enrollments SET status = $2, last_action = $3, last_action_at = $4, \
         last_error = NULL, updated_at = $4, membership_id = COALESCE($5, membership_id) WHERE id = $1",
        &[
            Value::Integer(id),
            Value::Text(status.into()),
            Value::Text(action.into()),
            stamp.clone(),
            membership.map_or(Value::Null, |m| Value::Text(m.into())),
        ],
    )?;
    Ok(())
}

/// Brings `customer`'s flags in line with their live (pending or active) enrollments: a member
/// while any remains, of the highest such tier.
pub fn refresh_flags(settings: &Settings, customer: &str, stamp: &Value) -> Result<(), Error> {
    let live = db::query(
        "SELECT tier FROM tier_enrollments WHERE customer_id = $1 AND status IN ('pending', 'active')",
        &[Value::Text(customer.into())],
    )?;
    let best = live
        .rows
        .iter()
        .filter_map(|r| r.first().and_then(Value::as_str))
        .max_by_key(|t| settings.rank(t).map_or(-1, |r| r as i64))
        .map(str::to_owned);
    db::execute(
        "INSERT INTO customer_flags (customer_id, is_member, tier, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (customer_id) DO UPDATE SET is_member = excluded.is_member, tier = excluded.tier, \
         updated_at = excluded.updated_at",
        &[
            Value::Text(customer.into()),
            Value::Boolean(best.is_some()),
            best.map_or(Value::Null, Value::Text),
            stamp.clone(),
        ],
    )?;
    Ok(())
}
