//! What to push: every package in `service_packages` beside where it stands in
//! `product_integrations`, and, per Zoho system, whether and why it needs a push now.
//!
//! The catalogue is read whole (one query) and judged here rather than in SQL, because the
//! product source is written by another application whose timestamps may come in any form
//! ([`time::parse`] reads them all) and staleness is date arithmetic, which SQLite and PostgreSQL
//! spell differently. A catalogue of service packages holds hundreds or thousands of rows.

use connector_sdk::db::{self, FromRow, NamedRow, Value};
use connector_sdk::{time, Error};

/// One package, as its owner wrote it.
#[derive(Debug, Clone)]
pub struct Package {
    pub sku: String,
    pub name: String,
    pub description: Option<String>,
    pub price: f64,
    /// `monthly` or `yearly`.
    pub interval: String,
    pub active: bool,
    pub category: Option<String>,
    /// Unix seconds.
    pub updated_at: i64,
}

/// Where a package stands in one Zoho system.
#[derive(Debug, Clone, Default)]
pub struct Standing {
    /// `pending`, `ok` or `failed` (`pending` before the first push).
    pub status: String,
    pub synced_at: Option<i64>,
    pub attempts: i64,
    /// The CRM record id or the Billing plan code, once known.
    pub remote_id: Option<String>,
}

/// Why a package needs a push to a system, in the order candidates are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    /// Named in the manual run's input.
    Requested,
    /// The last push failed.
    Failed,
    /// Never pushed.
    Never,
    /// Changed in `service_packages` since its last push.
    Changed,
    /// Pushed longer ago than `stale_hours`.
    Stale,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Requested => "requested",
            Reason::Failed => "failed",
            Reason::Never => "never",
            Reason::Changed => "changed",
            Reason::Stale => "stale",
        }
    }
}

/// A package and its standing in both systems.
#[derive(Debug, Clone)]
pub struct Entry {
    pub package: Package,
    pub crm: Standing,
    pub billing: Standing,
    /// The `rate_limit_hits` JSON array as stored.
    pub rate_limit_hits: Vec<serde_json::Value>,
}

/// A package to push, and why, per system (`None`: that system is up to date).
#[derive(Debug, Clone)]
pub struct Candidate {
    pub entry: Entry,
    pub crm: Option<Reason>,
    pub billing: Option<Reason>,
}

impl Candidate {
    /// The more urgent of the two reasons.
    pub fn reason(&self) -> Reason {
        self.crm
            .into_iter()
            .chain(self.billing)
            .min()
            .unwrap_or(Reason::Stale)
    }
}

const SELECT: &str = "SELECT p.sku, p.name, p.description, p.price, p.billing_interval, p.status, \
     p.category, p.updated_at, i.crm_status, i.crm_synced_at, i.crm_attempts, i.crm_product_id, \
     i.billing_status, i.billing_synced_at, i.billing_attempts, i.billing_plan_code, \
     i.rate_limit_hits \
     FROM service_packages p LEFT JOIN product_integrations i ON i.sku = p.sku \
     ORDER BY p.sku";

fn text(row: &NamedRow<'_>, name: &str) -> Option<String> {
    row.opt(name).and_then(Value::as_str).map(str::to_owned)
}

fn when(row: &NamedRow<'_>, name: &str) -> Result<Option<i64>, Error> {
    match text(row, name) {
        None => Ok(None),
        Some(s) => time::parse(&s)
            .map(Some)
            .ok_or_else(|| Error::invalid(format!("column {name}: {s:?} is not a date-time"))),
    }
}

fn standing(row: &NamedRow<'_>, system: &str, remote: &str) -> Result<Standing, Error> {
    Ok(Standing {
        status: text(row, &format!("{system}_status")).unwrap_or_else(|| "pending".into()),
        synced_at: when(row, &format!("{system}_synced_at"))?,
        attempts: row
            .opt(&format!("{system}_attempts"))
            .and_then(Value::as_i64)
            .unwrap_or(0),
        remote_id: text(row, remote),
    })
}

impl FromRow for Entry {
    fn from_row(row: &NamedRow<'_>) -> Result<Self, Error> {
        let sku = row.str("sku")?.to_owned();
        let at_fault =
            |e: Error| Error::invalid(format!("service package {sku:?}: {}", e.message()));
        let package = Package {
            sku: sku.clone(),
            name: row.str("name").map_err(at_fault)?.to_owned(),
            description: text(row, "description"),
            price: row.f64("price").map_err(at_fault)?,
            interval: row.str("billing_interval").map_err(at_fault)?.to_owned(),
            active: row.str("status").map_err(at_fault)? == "active",
            category: text(row, "category"),
            updated_at: when(row, "updated_at")
                .map_err(at_fault)?
                .ok_or_else(|| at_fault(Error::invalid("column updated_at is NULL")))?,
        };
        let hits = match text(row, "rate_limit_hits") {
            None => Vec::new(),
            Some(json) => serde_json::from_str(&json).unwrap_or_default(),
        };
        Ok(Entry {
            package,
            crm: standing(row, "crm", "crm_product_id").map_err(at_fault)?,
            billing: standing(row, "billing", "billing_plan_code").map_err(at_fault)?,
            rate_limit_hits: hits,
        })
    }
}

/// Every package, by SKU.
pub fn read() -> Result<Vec<Entry>, Error> {
    db::query(SELECT, &[])?.decode()
}

/// Why `package` needs a push to a system standing at `s`, if it does, at `now`.
pub fn judge(package: &Package, s: &Standing, stale: i64, now: i64) -> Option<Reason> {
    match (s.status.as_str(), s.synced_at) {
        ("failed", _) => Some(Reason::Failed),
        (_, None) => Some(Reason::Never),
        (_, Some(synced)) if package.updated_at > synced => Some(Reason::Changed),
        (_, Some(synced)) if now - synced >= stale => Some(Reason::Stale),
        _ => None,
    }
}

/// The packages to push this run, most urgent first (requested, failed, never pushed, changed,
/// stale; then the longest unsynced), at most `max`. With `requested`, exactly those SKUs, to
/// both systems; an unknown SKU is an error naming it.
pub fn candidates(
    entries: Vec<Entry>,
    requested: Option<&[String]>,
    stale: i64,
    now: i64,
    max: usize,
) -> Result<Vec<Candidate>, Error> {
    if let Some(skus) = requested {
        if skus.len() > max {
            return Err(Error::invalid(format!(
                "input names {} SKUs; at most max_products ({max}) a run",
                skus.len()
            )));
        }
        let mut by_sku: std::collections::BTreeMap<String, Entry> = entries
            .into_iter()
            .map(|e| (e.package.sku.clone(), e))
            .collect();
        return skus
            .iter()
            .map(|sku| {
                let entry = by_sku.remove(sku).ok_or_else(|| {
                    Error::invalid(format!(
                        "input names SKU {sku:?}, which is not in service_packages (or is named twice)"
                    ))
                })?;
                Ok(Candidate {
                    entry,
                    crm: Some(Reason::Requested),
                    billing: Some(Reason::Requested),
                })
            })
            .collect();
    }
    let mut out: Vec<Candidate> = entries
        .into_iter()
        .filter_map(|entry| {
            let crm = judge(&entry.package, &entry.crm, stale, now);
            let billing = judge(&entry.package, &entry.billing, stale, now);
            (crm.is_some() || billing.is_some()).then_some(Candidate {
                entry,
                crm,
                billing,
            })
        })
        .collect();
    let oldest = |c: &Candidate| {
        c.entry
            .crm
            .synced_at
            .unwrap_or(i64::MIN)
            .min(c.entry.billing.synced_at.unwrap_or(i64::MIN))
    };
    out.sort_by(|a, b| {
        (a.reason(), oldest(a), &a.entry.package.sku).cmp(&(
            b.reason(),
            oldest(b),
            &b.entry.package.sku,
        ))
    });
    out.truncate(max);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(
        sku: &str,
        updated_at: i64,
        crm: (&str, Option<i64>),
        billing: (&str, Option<i64>),
    ) -> Entry {
        let s = |(status, synced_at): (&str, Option<i64>)| Standing {
            status: status.into(),
            synced_at,
            attempts: 0,
            remote_id: None,
        };
        Entry {
            package: Package {
                sku: sku.into(),
                name: sku.into(),
                description: None,
                price: 1.0,
                interval: "monthly".into(),
                active: true,
                category: None,
                updated_at,
            },
            crm: s(crm),
            billing: s(billing),
            rate_limit_hits: Vec::new(),
        }
    }

    #[test]
    fn candidates_come_most_urgent_first_and_per_system() {
        let day = 86_400;
        let now = 100 * day;
        let entries = vec![
            entry("fresh", 0, ("ok", Some(now - 10)), ("ok", Some(now - 10))),
            entry(
                "stale",
                0,
                ("ok", Some(now - 2 * day)),
                ("ok", Some(now - 10)),
            ),
            entry(
                "changed",
                now - 5,
                ("ok", Some(now - 10)),
                ("ok", Some(now - 10)),
            ),
            entry("new", 0, ("pending", None), ("pending", None)),
            entry(
                "billing-failed",
                0,
                ("ok", Some(now - 10)),
                ("failed", Some(now - 3 * day)),
            ),
        ];
        let got = candidates(entries.clone(), None, day, now, 100).unwrap();
        let order: Vec<(&str, Option<Reason>, Option<Reason>)> = got
            .iter()
            .map(|c| (c.entry.package.sku.as_str(), c.crm, c.billing))
            .collect();
        assert_eq!(
            order,
            vec![
                ("billing-failed", None, Some(Reason::Failed)),
                ("new", Some(Reason::Never), Some(Reason::Never)),
                ("changed", Some(Reason::Changed), Some(Reason::Changed)),
                ("stale", Some(Reason::Stale), None),
            ]
        );
        assert_eq!(
            candidates(entries.clone(), None, day, now, 2)
                .unwrap()
                .len(),
            2
        );
        let asked = ["fresh".to_owned()];
        let got = candidates(entries.clone(), Some(&asked), day, now, 100).unwrap();
        assert_eq!(got[0].crm, Some(Reason::Requested));
        let unknown = ["nope".to_owned()];
        match candidates(entries, Some(&unknown), day, now, 100) {
            Err(Error::Invalid(m)) => assert!(m.contains("\"nope\""), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
