//! What Ploomes sends (deals and contacts as OData JSON) and the rows the connector writes:
//! a deal becomes a `sales` row, a customer's aggregates become a `customer_sales` row.

use crate::time;
use connector_sdk::db::{Row, Value};
use connector_sdk::Error;
use serde::Deserialize;

/// An OData list answer: `{"@odata.context": …, "value": [...]}`.
#[derive(Deserialize)]
pub struct Page<T> {
    pub value: Vec<T>,
}

/// A deal, with the fields of `odata::DEAL_FIELDS`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Deal {
    pub id: i64,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub contact_id: Option<i64>,
    #[serde(default)]
    pub amount: Option<f64>,
    #[serde(default)]
    pub status_id: Option<i64>,
    #[serde(default)]
    pub pipeline_id: Option<i64>,
    #[serde(default)]
    pub stage_id: Option<i64>,
    #[serde(default)]
    pub owner_id: Option<i64>,
    #[serde(default)]
    pub create_date: Option<String>,
    #[serde(default)]
    pub finish_date: Option<String>,
    #[serde(default)]
    pub last_update_date: Option<String>,
}

/// A contact, with the fields of `odata::CONTACT_FIELDS`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Contact {
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "CNPJ")]
    pub cnpj: Option<String>,
}

/// `open`, `won` or `lost` for Ploomes' `StatusId` 1, 2, 3; `None` for anything else.
pub fn status_name(status_id: Option<i64>) -> Option<&'static str> {
    match status_id {
        Some(1) => Some("open"),
        Some(2) => Some("won"),
        Some(3) => Some("lost"),
        _ => None,
    }
}

/// A date Ploomes sent, as a timestamp value (NULL when absent); an unreadable date is an error
/// naming the deal and the field.
fn date(deal: i64, field: &str, value: Option<String>) -> Result<Value, Error> {
    match value {
        None => Ok(Value::Null),
        Some(s) if s.is_empty() => Ok(Value::Null),
        // Ploomes' own form passes as is (the host stores timestamps in UTC).
        Some(s) if time::is_rfc3339(&s) => Ok(Value::Timestamp(s)),
        Some(s) => time::normalize(&s).map(Value::Timestamp).ok_or_else(|| {
            Error::invalid(format!(
                "deal {deal}: {field} {s:?} is not a date-time Ploomes is expected to send"
            ))
        }),
    }
}

/// The `sales` row of `deal` in `sql::SALES_COLUMNS` order.
pub fn sales_row(deal: Deal, synced_at: &str) -> Result<Row, Error> {
    Ok(vec![
        deal.id.into(),
        deal.contact_id.into(),
        deal.title.into(),
        deal.amount.filter(|a| a.is_finite()).into(),
        deal.status_id.into(),
        status_name(deal.status_id).into(),
        deal.pipeline_id.into(),
        deal.stage_id.into(),
        deal.owner_id.into(),
        date(deal.id, "CreateDate", deal.create_date)?,
        date(deal.id, "FinishDate", deal.finish_date)?,
        date(deal.id, "LastUpdateDate", deal.last_update_date)?,
        Value::Timestamp(synced_at.to_owned()),
    ])
}

/// One customer's aggregates, as read back from `sql::aggregates`.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub customer_id: i64,
    pub total_deals: i64,
    pub won_deals: i64,
    pub open_deals: i64,
    pub lost_deals: i64,
    /// Won deals that have an amount (the average's denominator).
    pub won_with_amount: i64,
    pub total_revenue: f64,
    /// Unix seconds.
    pub first_purchase: Option<i64>,
    /// Unix seconds.
    pub last_purchase: Option<i64>,
}

/// Money rounded to cents (sums of floats drift by fractions of a cent).
pub fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl Aggregate {
    /// Reads one row of `sql::aggregates` (columns in its order).
    pub fn from_row(row: &[Value]) -> Result<Aggregate, Error> {
        let int = |i: usize| row.get(i).and_then(Value::as_i64).unwrap_or(0);
        let real = |i: usize| row.get(i).and_then(Value::as_f64).unwrap_or(0.0);
        let when = |i: usize| row.get(i).and_then(Value::as_str).and_then(time::parse);
        let customer_id = row
            .first()
            .and_then(Value::as_i64)
            .ok_or_else(|| Error::invalid("an aggregate row has no customer id"))?;
        Ok(Aggregate {
            customer_id,
            total_deals: int(1),
            won_deals: int(2),
            open_deals: int(3),
            lost_deals: int(4),
            won_with_amount: int(5),
            total_revenue: cents(real(6)),
            first_purchase: when(7),
            last_purchase: when(8),
        })
    }

    /// The average amount of the won deals that have one, rounded to the cent (half away from
    /// zero); none without such deals (the replaced job's `AVG(amount) FILTER (WHERE won)`).
    pub fn average_deal_value(&self) -> Option<f64> {
        if self.won_with_amount == 0 {
            return None;
        }
        // From whole cents, so that 8217.345 rounds to 8217.35 as it would on paper.
        let revenue_cents = (self.total_revenue * 100.0).round();
        Some((revenue_cents / self.won_with_amount as f64).round() / 100.0)
    }
}

/// The `customer_sales` row in `sql::CUSTOMER_COLUMNS` order; `now` is the run's time.
pub fn customer_row(agg: &Aggregate, contact: Option<&Contact>, now: i64) -> Row {
    let stamp =
        |t: Option<i64>| -> Value { t.map(|t| Value::Timestamp(time::format_utc(t))).into() };
    let now_value = Value::Timestamp(time::format_utc(now));
    vec![
        agg.customer_id.into(),
        contact.and_then(|c| c.name.clone()).into(),
        contact.and_then(|c| c.cnpj.clone()).into(),
        // The number of won deals, as the replaced aggregation defined `total_sales`.
        agg.won_deals.into(),
        agg.total_deals.into(),
        agg.won_deals.into(),
        agg.open_deals.into(),
        agg.lost_deals.into(),
        agg.total_revenue.into(),
        agg.average_deal_value().into(),
        stamp(agg.first_purchase),
        stamp(agg.last_purchase),
        agg.last_purchase.map(|t| time::days_between(t, now)).into(),
        now_value.clone(),
        now_value,
    ]
}
