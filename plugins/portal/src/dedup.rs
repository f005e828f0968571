//! De-duplication, shared by both sources: an incoming lead is matched to the back office's leads
//! by `zoho_lead_id`, then `portal_lead_id`, then e-mail (trimmed, lower-cased), and either
//! inserted, merged into the one lead it matches, or — when it matches two different leads, or
//! a lead whose id of the same kind is another — recorded as a conflict for a person to resolve
//! instead of guessed at. A merge never replaces a non-empty value with an empty one.
//!
//! [`decide`] is the rule, pure; [`apply_page`] reads the candidates of a page of leads at once
//! and writes the outcomes.

use connector_sdk::db::{self, FromRow, NamedRow, Value};
use connector_sdk::{time, Error};
use std::collections::HashMap;

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

/// The columns a lead is matched and merged by, as [`Existing`] reads them.
const LEAD_COLUMNS: &str = "id, zoho_lead_id, portal_lead_id, email, name, phone, source, status, \
    portal_version, zoho_version";

/// Keys per lookup statement (the host binds at most 1,000 parameters to one).
const LOOKUP_KEYS: usize = 900;

/// New leads per insert statement (12 parameters each).
const INSERT_ROWS: usize = 80;

/// Matches a page of leads from `source` against the leads table and writes the outcomes at
/// `stamp`, in order, as if one lead were applied after another; counts them.
///
/// The page costs one lookup for the keys of all its leads, then only the writes: updates and
/// conflicts as they are decided, new leads together. A lead that matches one inserted earlier in
/// the same page first writes the pending new leads, so that it is decided, and a conflict
/// names, against real rows.
pub fn apply_page(
    source: Source,
    page: &[Incoming],
    stamp: &Value,
    counts: &mut Counts,
) -> Result<(), Error> {
    let mut known = Known::default();
    for lead in lookup(page)? {
        known.add(lead);
    }
    // New leads decided but not yet written, with where each stands in `known` (id 0 until then).
    let mut pending: Vec<(&Incoming, usize)> = Vec::new();
    for incoming in page {
        counts.fetched += 1;
        let mut found = known.matches(incoming);
        if found.iter().flatten().any(|&i| known.leads[i].id == 0) {
            insert(source, &pending, stamp, &mut known)?;
            pending.clear();
            found = known.matches(incoming);
        }
        let [by_zoho, by_portal, by_email] = found.map(|i| i.map(|i| &known.leads[i]));
        let origin = Value::Text(source.as_str().into());
        match decide(source, incoming, by_zoho, by_portal, by_email) {
            Decision::Insert => {
                let at = known.add(existing_of(source, incoming));
                pending.push((incoming, at));
                counts.inserted += 1;
                if pending.len() == INSERT_ROWS {
                    insert(source, &pending, stamp, &mut known)?;
                    pending.clear();
                }
            }
            Decision::Update { id, changes } => {
                known.change(id, &changes);
                write(id, changes, stamp, origin)?;
                counts.updated += 1;
            }
            Decision::Merge { id, changes } => {
                known.change(id, &changes);
                write(id, changes, stamp, origin)?;
                counts.merged += 1;
            }
            Decision::Unchanged { .. } => counts.unchanged += 1,
            Decision::Conflict { reason, leads } => {
                conflict(source, incoming, &reason, &leads, stamp)?;
                counts.conflicts += 1;
            }
        }
    }
    insert(source, &pending, stamp, &mut known)
}

/// The leads a page can match, as the page has left them so far, indexed by each key (the table
/// holds each key at most once: `zoho_lead_id`, `portal_lead_id` and `lower(email)` are unique).
#[derive(Default)]
struct Known {
    leads: Vec<Existing>,
    /// Zoho id, portal id, e-mail: where the lead holding it is in `leads`.
    by: [HashMap<String, usize>; 3],
}

impl Known {
    fn keys(lead: &Existing) -> [&Option<String>; 3] {
        [&lead.zoho_id, &lead.portal_id, &lead.email]
    }

    /// Adds `lead`; returns where it is.
    fn add(&mut self, lead: Existing) -> usize {
        let at = self.leads.len();
        for (index, key) in self.by.iter_mut().zip(Self::keys(&lead)) {
            if let Some(key) = key {
                index.insert(key.clone(), at);
            }
        }
        self.leads.push(lead);
        at
    }

    /// The leads holding `incoming`'s Zoho id, portal id and e-mail.
    fn matches(&self, incoming: &Incoming) -> [Option<usize>; 3] {
        let wanted = [&incoming.zoho_id, &incoming.portal_id, &incoming.email];
        let mut found = [None; 3];
        for (kind, key) in wanted.into_iter().enumerate() {
            found[kind] = key.as_ref().and_then(|k| {
                self.by[kind]
                    .get(k)
                    .copied()
                    // A key a lead has since changed away from no longer matches it.
                    .filter(|&i| Self::keys(&self.leads[i])[kind].as_ref() == Some(k))
            });
        }
        found
    }

    /// Applies `changes` to lead `id`.
    fn change(&mut self, id: i64, changes: &[(&'static str, String)]) {
        let Some(at) = self.leads.iter().position(|e| e.id == id) else {
            return;
        };
        let lead = &mut self.leads[at];
        for (column, value) in changes {
            let (field, kind) = match *column {
                "zoho_lead_id" => (&mut lead.zoho_id, Some(0)),
                "portal_lead_id" => (&mut lead.portal_id, Some(1)),
                "email" => (&mut lead.email, Some(2)),
                "name" => (&mut lead.name, None),
                "phone" => (&mut lead.phone, None),
                "source" => (&mut lead.source, None),
                "status" => (&mut lead.status, None),
                "portal_version" => (&mut lead.portal_version, None),
                "zoho_version" => (&mut lead.zoho_version, None),
                _ => continue,
            };
            *field = Some(value.clone());
            if let Some(kind) = kind {
                self.by[kind].insert(value.clone(), at);
            }
        }
    }
}

/// The leads matching any key of any lead in `page`, in as few statements as the parameter cap
/// allows.
fn lookup(page: &[Incoming]) -> Result<Vec<Existing>, Error> {
    let mut keys: Vec<(&str, &String)> = Vec::new();
    for (column, key) in page.iter().flat_map(|i| {
        [
            ("zoho_lead_id", &i.zoho_id),
            ("portal_lead_id", &i.portal_id),
            ("lower(email)", &i.email),
        ]
    }) {
        if let Some(key) = key {
            keys.push((column, key));
        }
    }
    keys.sort();
    keys.dedup();
    let mut found: Vec<Existing> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for chunk in keys.chunks(LOOKUP_KEYS) {
        let mut params = Vec::with_capacity(chunk.len());
        let mut clauses = Vec::new();
        for column in ["zoho_lead_id", "portal_lead_id", "lower(email)"] {
            let first = params.len();
            params.extend(
                chunk
                    .iter()
                    .filter(|(c, _)| *c == column)
                    .map(|(_, k)| Value::Text((*k).clone())),
            );
            if params.len() > first {
                let placeholders: Vec<String> = (first + 1..=params.len())
                    .map(|n| format!("${n}"))
                    .collect();
                clauses.push(format!("{column} IN ({})", placeholders.join(", ")));
            }
        }
        let rows: Vec<Existing> = db::query(
            &format!(
                "SELECT {LEAD_COLUMNS} FROM leads WHERE {}",
                clauses.join(" OR ")
            ),
            &params,
        )?
        .decode()?;
        found.extend(rows.into_iter().filter(|row| seen.insert(row.id)));
    }
    Ok(found)
}

/// A new lead as it will be stored.
fn existing_of(source: Source, incoming: &Incoming) -> Existing {
    let version = |column: Source| {
        if column == source {
            incoming.version.clone()
        } else {
            None
        }
    };
    Existing {
        id: 0,
        zoho_id: incoming.zoho_id.clone(),
        portal_id: incoming.portal_id.clone(),
        email: incoming.email.clone(),
        name: incoming.name.clone(),
        phone: incoming.phone.clone(),
        source: incoming.source.clone(),
        status: incoming.status.clone(),
        portal_version: version(Source::Portal),
        zoho_version: version(Source::Zoho),
    }
}

/// Writes the `pending` new leads, each `INSERT_ROWS` in one statement, and gives them in `known`
/// the ids the table gave them.
fn insert(
    source: Source,
    pending: &[(&Incoming, usize)],
    stamp: &Value,
    known: &mut Known,
) -> Result<(), Error> {
    let opt = |v: &Option<String>| v.clone().map_or(Value::Null, Value::Text);
    let version = |incoming: &Incoming, column: Source| {
        if column == source {
            opt(&incoming.version)
        } else {
            Value::Null
        }
    };
    for chunk in pending.chunks(INSERT_ROWS) {
        let mut params = Vec::with_capacity(chunk.len() * 12);
        let mut rows = Vec::with_capacity(chunk.len());
        for (incoming, _) in chunk {
            let n = params.len();
            rows.push(format!(
                "({})",
                (n + 1..=n + 12)
                    .map(|p| format!("${p}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            params.extend([
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
                Value::Text(source.as_str().into()),
                version(incoming, Source::Portal),
                version(incoming, Source::Zoho),
            ]);
        }
        let written: Vec<Existing> = db::query(
            &format!(
                "INSERT INTO leads (portal_lead_id, zoho_lead_id, email, name, phone, source, \
                 status, created_at, updated_at, last_source, portal_version, zoho_version) \
                 VALUES {} RETURNING {LEAD_COLUMNS}",
                rows.join(", ")
            ),
            &params,
        )?
        .decode()?;
        // Rows come back in no promised order: each is found by its keys, which no two leads
        // pending together share (a lead matching a pending one writes them first).
        for (incoming, at) in chunk {
            let row = written
                .iter()
                .find(|w| {
                    // As `Existing` reads them back: trimmed, and the e-mail lower-cased.
                    w.zoho_id == text(incoming.zoho_id.as_deref())
                        && w.portal_id == text(incoming.portal_id.as_deref())
                        && w.email == email(incoming.email.as_deref())
                })
                .ok_or_else(|| {
                    Error::Internal("a new lead did not come back from its insert".into())
                })?;
            known.leads[*at].id = row.id;
        }
    }
    Ok(())
}

/// Records that `incoming` matches `leads`, which cannot all be one person.
fn conflict(
    source: Source,
    incoming: &Incoming,
    reason: &str,
    leads: &[i64],
    stamp: &Value,
) -> Result<(), Error> {
    let opt = |v: &Option<String>| v.clone().map_or(Value::Null, Value::Text);
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
            Value::Text(reason.to_owned()),
            Value::Text(ids),
            stamp.clone(),
        ],
    )?;
    connector_sdk::log::warn(
        "lead conflict recorded, not merged",
        &[("source", source.as_str()), ("reason", reason)],
    );
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
