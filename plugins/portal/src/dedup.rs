//! De-duplication, shared by both sources: an incoming lead is matched to the back office's leads
//! by `zoho_lead_id`, then `portal_lead_id`, then e-mail (trimmed, lower-cased), and either
//! inserted, merged into the one lead it matches, or — when it matches two different leads, or
//! a lead whose id of the same kind is another — recorded as a conflict for a person to resolve
//! instead of guessed at. A merge never replaces a non-empty value with an empty one.
//!
//! [`decide`] is the rule, pure; [`apply`] reads the candidates and writes the outcome.

use connector_sdk::db::{self, FromRow, NamedRow, Value};
use connector_sdk::{time, Error};

/// Where a lead came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Portal,
    Zoho,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Portal => "portal",
            Source::Zoho => "zoho",
        }
    }
}

/// A lead as a source sent it, normalised: empty text is `None`, e-mail trimmed and lower-cased.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Incoming {
    pub zoho_id: Option<String>,
    pub portal_id: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub source: Option<String>,
    pub status: Option<String>,
    /// RFC 3339.
    pub created_at: Option<String>,
    /// The source record's version: the portal's `updated_at`, Zoho's `Modified_Time`, as the
    /// source wrote it. A re-read of a version already applied changes nothing, so the two
    /// sources never undo each other's edits by being read again.
    pub version: Option<String>,
}

/// Trimmed text, `None` when empty.
pub fn text(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// An e-mail as leads are matched and stored: trimmed, lower-cased, `None` when empty.
pub fn email(v: Option<&str>) -> Option<String> {
    text(v).map(|e| e.to_lowercase())
}

/// A back-office lead, as far as matching and merging go.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Existing {
    pub id: i64,
    pub zoho_id: Option<String>,
    pub portal_id: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub source: Option<String>,
    pub status: Option<String>,
    pub portal_version: Option<String>,
    pub zoho_version: Option<String>,
}

impl FromRow for Existing {
    fn from_row(r: &NamedRow<'_>) -> Result<Self, Error> {
        let t = |c: &str| text(r.opt(c).and_then(Value::as_str));
        Ok(Existing {
            id: r.i64("id")?,
            zoho_id: t("zoho_lead_id"),
            portal_id: t("portal_lead_id"),
            email: email(r.opt("email").and_then(Value::as_str)),
            name: t("name"),
            phone: t("phone"),
            source: t("source"),
            status: t("status"),
            portal_version: t("portal_version"),
            zoho_version: t("zoho_version"),
        })
    }
}

/// A source timestamp as (Unix seconds, nanoseconds), fraction kept: the portal writes
/// microseconds, and two versions in one second must still compare.
fn instant(s: &str) -> Option<(i64, u32)> {
    let seconds = time::parse(s)?;
    let fraction = s
        .get(19..)
        .and_then(|rest| rest.strip_prefix('.'))
        .map(|rest| {
            let digits: String = rest
                .chars()
                .take_while(char::is_ascii_digit)
                .take(9)
                .collect();
            format!("{digits:0<9}").parse::<u32>().unwrap_or(0)
        })
        .unwrap_or(0);
    Some((seconds, fraction))
}

/// What to do with an incoming lead.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// No lead matches: a new one.
    Insert,
    /// The lead it matched by its own source's id, with these changes.
    Update {
        id: i64,
        changes: Vec<(&'static str, String)>,
    },
    /// A lead first seen from the other source (or the back office), matched by another key,
    /// with these changes (at least the missing id).
    Merge {
        id: i64,
        changes: Vec<(&'static str, String)>,
    },
    /// Matched, nothing to change.
    Unchanged { id: i64 },
    /// Matches that cannot all be the same person.
    Conflict { reason: String, leads: Vec<i64> },
}

/// How `incoming` from `source` relates to the leads matching its ids and e-mail.
pub fn decide(
    source: Source,
    incoming: &Incoming,
    by_zoho: Option<&Existing>,
    by_portal: Option<&Existing>,
    by_email: Option<&Existing>,
) -> Decision {
    let matches: Vec<(&str, &Existing)> = [
        ("zoho_lead_id", by_zoho),
        ("portal_lead_id", by_portal),
        ("email", by_email),
    ]
    .into_iter()
    .filter_map(|(key, lead)| lead.map(|l| (key, l)))
    .collect();
    let Some(&(key, lead)) = matches.first() else {
        return Decision::Insert;
    };
    let mut leads: Vec<i64> = matches.iter().map(|(_, l)| l.id).collect();
    leads.sort_unstable();
    leads.dedup();
    if leads.len() > 1 {
        let reason = matches
            .iter()
            .map(|(k, l)| format!("{k} matches lead {}", l.id))
            .collect::<Vec<_>>()
            .join(", ");
        return Decision::Conflict { reason, leads };
    }
    for (kind, ours, theirs) in [
        ("zoho_lead_id", &incoming.zoho_id, &lead.zoho_id),
        ("portal_lead_id", &incoming.portal_id, &lead.portal_id),
    ] {
        if let (Some(a), Some(b)) = (ours, theirs) {
            if a != b {
                return Decision::Conflict {
                    reason: format!(
                        "{key} matches lead {}, whose {kind} is {b:?}, not {a:?}",
                        lead.id
                    ),
                    leads,
                };
            }
        }
    }
    let own_known = match source {
        Source::Zoho => incoming.zoho_id.is_some() && incoming.zoho_id == lead.zoho_id,
        Source::Portal => incoming.portal_id.is_some() && incoming.portal_id == lead.portal_id,
    };
    let applied = match source {
        Source::Zoho => &lead.zoho_version,
        Source::Portal => &lead.portal_version,
    };
    if own_known {
        let seen = applied.as_deref().and_then(instant);
        if let (Some(new), Some(seen)) = (incoming.version.as_deref().and_then(instant), seen) {
            if new <= seen {
                return Decision::Unchanged { id: lead.id };
            }
        }
    }
    let mut changes = Vec::new();
    for (column, new, old) in [
        ("zoho_lead_id", &incoming.zoho_id, &lead.zoho_id),
        ("portal_lead_id", &incoming.portal_id, &lead.portal_id),
        ("email", &incoming.email, &lead.email),
        ("name", &incoming.name, &lead.name),
        ("phone", &incoming.phone, &lead.phone),
        ("source", &incoming.source, &lead.source),
        ("status", &incoming.status, &lead.status),
    ] {
        if let Some(new) = new {
            if old.as_ref() != Some(new) {
                changes.push((column, new.clone()));
            }
        }
    }
    if changes.is_empty() {
        return Decision::Unchanged { id: lead.id };
    }
    if let Some(v) = &incoming.version {
        let column = match source {
            Source::Zoho => "zoho_version",
            Source::Portal => "portal_version",
        };
        changes.push((column, v.clone()));
    }
    if own_known {
        Decision::Update {
            id: lead.id,
            changes,
        }
    } else {
        Decision::Merge {
            id: lead.id,
            changes,
        }
    }
}

/// What happened to the leads of a page.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub fetched: u64,
    pub inserted: u64,
    pub updated: u64,
    pub merged: u64,
    pub unchanged: u64,
    pub conflicts: u64,
}

/// Matches `incoming` against the leads table and writes the outcome at `stamp`; counts it.
pub fn apply(
    source: Source,
    incoming: &Incoming,
    stamp: &Value,
    counts: &mut Counts,
) -> Result<(), Error> {
    counts.fetched += 1;
    let opt = |v: &Option<String>| v.clone().map_or(Value::Null, Value::Text);
    let found: Vec<Existing> = db::query(
        "SELECT id, zoho_lead_id, portal_lead_id, email, name, phone, source, status, \
         portal_version, zoho_version FROM leads WHERE zoho_lead_id = $1 OR portal_lead_id = $2 OR lower(email) = $3",
        &[
            opt(&incoming.zoho_id),
            opt(&incoming.portal_id),
            opt(&incoming.email),
        ],
    )?
    .decode()?;
    let pick = |f: &dyn Fn(&Existing) -> bool| found.iter().find(|e| f(e));
    let by_zoho = incoming
        .zoho_id
        .as_ref()
        .and_then(|z| pick(&|e: &Existing| e.zoho_id.as_ref() == Some(z)));
    let by_portal = incoming
        .portal_id
        .as_ref()
        .and_then(|p| pick(&|e: &Existing| e.portal_id.as_ref() == Some(p)));
    let by_email = incoming
        .email
        .as_ref()
        .and_then(|m| pick(&|e: &Existing| e.email.as_ref() == Some(m)));
    let origin = Value::Text(source.as_str().into());
    // The version column of the incoming lead's source gets its version; the other stays NULL.
    let version = |column: Source| {
        if column == source {
            opt(&incoming.version)
        } else {
            Value::Null
        }
    };
    match decide(source, incoming, by_zoho, by_portal, by_email) {
        Decision::Insert => {
            db::execute(
                "INSERT INTO leads (portal_lead_id, zoho_lead_id, email, name, phone, source, status, \
                 created_at, updated_at, last_source, portal_version, zoho_version) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                &[
                    opt(&incoming.portal_id),
                    opt(&incoming.zoho_id),
                    opt(&incoming.email),
                    opt(&incoming.name),
                    opt(&incoming.phone),
                    opt(&incoming.source),
                    opt(&incoming.status),
                    incoming
                        .created_at
                        .clone()
                        .map_or_else(|| stamp.clone(), Value::Timestamp),
                    stamp.clone(),
                    origin,
                    version(Source::Portal),
                    version(Source::Zoho),
                ],
            )?;
            counts.inserted += 1;
        }
        Decision::Update { id, changes } => {
            write(id, changes, stamp, origin)?;
            counts.updated += 1;
        }
        Decision::Merge { id, changes } => {
            write(id, changes, stamp, origin)?;
            counts.merged += 1;
        }
        Decision::Unchanged { .. } => counts.unchanged += 1,
        Decision::Conflict { reason, leads } => {
            let source_id = match source {
                Source::Zoho => &incoming.zoho_id,
                Source::Portal => &incoming.portal_id,
            };
            let ids = leads
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            db::execute(
                "INSERT INTO lead_conflicts (source, source_id, email, reason, lead_ids, first_seen_at, last_seen_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (source, source_id) DO UPDATE SET \
                 email = excluded.email, reason = excluded.reason, lead_ids = excluded.lead_ids, \
                 seen = lead_conflicts.seen + 1, last_seen_at = excluded.last_seen_at",
                &[
                    Value::Text(source.as_str().into()),
                    opt(source_id),
                    opt(&incoming.email),
                    Value::Text(reason.clone()),
                    Value::Text(ids),
                    stamp.clone(),
                ],
            )?;
            connector_sdk::log::warn(
                "lead conflict recorded, not merged",
                &[("source", source.as_str()), ("reason", &reason)],
            );
            counts.conflicts += 1;
        }
    }
    Ok(())
}

/// Writes `changes` to lead `id`, stamped as written by `origin` at `stamp`.
fn write(
    id: i64,
    changes: Vec<(&'static str, String)>,
    stamp: &Value,
    origin: Value,
) -> Result<(), Error> {
    let sets: Vec<String> = changes
        .iter()
        .enumerate()
        .map(|(i, (column, _))| format!("{column} = ${}", i + 4))
        .collect();
    let mut params = vec![Value::Integer(id), stamp.clone(), origin];
    params.extend(changes.into_iter().map(|(_, v)| Value::Text(v)));
    db::execute(
        &format!(
            "UPDATE leads SET updated_at = $2, last_source = $3, {} WHERE id = $1",
            sets.join(", ")
        ),
        &params,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lead(id: i64, zoho: Option<&str>, portal: Option<&str>, mail: Option<&str>) -> Existing {
        Existing {
            id,
            zoho_id: zoho.map(str::to_owned),
            portal_id: portal.map(str::to_owned),
            email: mail.map(str::to_owned),
            name: Some("Ana".into()),
            ..Existing::default()
        }
    }

    #[test]
    fn normalising_trims_and_lowercases_and_drops_empties() {
        assert_eq!(
            email(Some("  Ana@Example.COM ")),
            Some("ana@example.com".into())
        );
        assert_eq!(email(Some("   ")), None);
        assert_eq!(text(Some(" x ")), Some("x".into()));
    }

    #[test]
    fn the_highest_key_decides_and_two_leads_are_a_conflict() {
        let a = lead(1, Some("Z1"), None, Some("a@x.com"));
        let b = lead(2, None, Some("P2"), Some("b@x.com"));
        let incoming = Incoming {
            zoho_id: Some("Z1".into()),
            email: Some("b@x.com".into()),
            ..Incoming::default()
        };
        match decide(Source::Zoho, &incoming, Some(&a), None, Some(&b)) {
            Decision::Conflict { leads, .. } => assert_eq!(leads, [1, 2]),
            other => panic!("{other:?}"),
        }
        let incoming = Incoming {
            portal_id: Some("P2".into()),
            zoho_id: Some("Z9".into()),
            ..Incoming::default()
        };
        assert_eq!(
            decide(Source::Zoho, &incoming, None, Some(&b), None),
            Decision::Merge {
                id: 2,
                changes: vec![("zoho_lead_id", "Z9".into())]
            }
        );
        let same = Incoming {
            zoho_id: Some("Z1".into()),
            email: Some("a@x.com".into()),
            name: Some("Ana".into()),
            ..Incoming::default()
        };
        assert_eq!(
            decide(Source::Zoho, &same, Some(&a), None, Some(&a)),
            Decision::Unchanged { id: 1 }
        );
    }
}
