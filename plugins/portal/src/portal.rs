//! Job `portal`: the sales portal's leads through its PostgREST API (Supabase). Two keyset walks,
//! each `limit` rows a request and each page checkpointed with its cursor:
//!
//! 1. new leads, ordered by `(created_at, id)`, strictly after the saved position
//!    (`or=(created_at.gt.T,and(created_at.eq.T,id.gt.I))`) — a keyset, never an offset, so rows
//!    inserted during the walk neither shift pages nor get skipped;
//! 2. changed leads, ordered by `(updated_at, id)`, from `overlap_minutes` before the saved
//!    position (rows committed late with an earlier stamp are still read; reading one twice is
//!    harmless), then by keyset.
//!
//! Timestamps go back to PostgREST exactly as it sent them (microseconds and offset,
//! percent-encoded), so a keyset never re-reads or skips its own boundary row. `200` and `206`
//! are pages, `416` (a range past the end) is the end; any other status fails the run with
//! PostgREST's `code`, `message`, `details` and `hint`.

use crate::audit::Attempt;
use crate::config::Settings;
use crate::dedup::{self, Counts, Incoming, Source};
use connector_sdk::db::Value;
use connector_sdk::http::{encode, Request, Response};
use connector_sdk::{log, state, time, Error, RunContext, RunSummary};
use serde::{Deserialize, Serialize};

const COLUMNS: &str = "id,name,email,phone,source,status,zoho_lead_id,created_at,updated_at";

/// A keyset position: the last row's timestamp (as PostgREST wrote it) and id.
#[derive(Serialize, Deserialize, Debug, Clone)]
struct Position {
    at: String,
    id: String,
}

/// One portal lead.
#[derive(Deserialize)]
struct Row {
    id: String,
    name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    source: Option<String>,
    status: Option<String>,
    zoho_lead_id: Option<String>,
    created_at: String,
    updated_at: String,
}

impl Row {
    fn incoming(&self) -> Incoming {
        Incoming {
            portal_id: dedup::text(Some(&self.id)),
            zoho_id: dedup::text(self.zoho_lead_id.as_deref()),
            email: dedup::email(self.email.as_deref()),
            name: dedup::text(self.name.as_deref()),
            phone: dedup::text(self.phone.as_deref()),
            source: dedup::text(self.source.as_deref()),
            status: dedup::text(self.status.as_deref()),
            created_at: time::normalize(&self.created_at),
            version: Some(self.updated_at.clone()),
        }
    }
}

/// The two walks.
#[derive(Clone, Copy)]
enum Walk {
    Created,
    Updated,
}

impl Walk {
    fn column(self) -> &'static str {
        match self {
            Walk::Created => "created_at",
            Walk::Updated => "updated_at",
        }
    }

    fn state_key(self) -> &'static str {
        match self {
            Walk::Created => "portal_created",
            Walk::Updated => "portal_updated",
        }
    }
}

/// Runs job `portal`.
pub fn run(ctx: &RunContext) -> Result<RunSummary, Error> {
    let settings = Settings::load()?;
    let base = settings.portal_url.clone().ok_or_else(|| {
        Error::invalid("setting portal_url is required for job portal: the PostgREST root, e.g. \"https://<ref>.supabase.co/rest/v1\"")
    })?;
    let attempt = Attempt::start(ctx.run_id, Source::Portal)?;
    let mut counts = Counts::default();
    let started = time::now();
    let result = (|| {
        // The first run reads every lead by creation; changes are read from its start on.
        if state::get_json::<Position>(Walk::Updated.state_key())?.is_none() {
            let from = Position {
                at: time::format_utc(started),
                id: String::new(),
            };
            state::set_json(Walk::Updated.state_key(), &from)?;
        }
        for walk in [Walk::Created, Walk::Updated] {
            self::walk(&settings, &base, walk, &attempt, &mut counts)?;
        }
        Ok::<(), Error>(())
    })();
    if let Err(e) = result {
        return Err(attempt.failed(&counts, 0, e));
    }
    attempt.succeeded(&counts, 0)?;
    let message = format!(
        "portal: {} leads read, {} inserted, {} updated, {} merged, {} unchanged, {} conflicts",
        counts.fetched,
        counts.inserted,
        counts.updated,
        counts.merged,
        counts.unchanged,
        counts.conflicts
    );
    log::info("portal sync finished", &[("summary", &message)]);
    Ok(crate::summary(message, &counts, 0))
}

fn walk(
    settings: &Settings,
    base: &str,
    walk: Walk,
    attempt: &Attempt,
    counts: &mut Counts,
) -> Result<(), Error> {
    let column = walk.column();
    let saved: Option<Position> = state::get_json(walk.state_key())?;
    // The changes walk starts `overlap` before its position, then goes by keyset.
    let mut filter = match (&saved, walk) {
        (None, _) => String::new(),
        (Some(p), Walk::Updated) => {
            let since = time::parse(&p.at).ok_or_else(|| {
                Error::invalid(format!("the saved position {:?} is not a date-time", p.at))
            })? - settings.overlap;
            format!("&{column}=gte.{}", encode(&time::format_utc(since)))
        }
        (Some(p), Walk::Created) => keyset(column, p),
    };
    let mut first = true;
    loop {
        let url = format!(
            "{base}/{}?select={COLUMNS}&order={column}.asc,id.asc&limit={}{filter}",
            settings.portal_table, settings.page_size
        );
        let mut request = Request::get(url)
            .auth(&settings.portal_auth_profile)
            .header("accept", "application/json");
        if first {
            request = request.header("prefer", "count=exact");
        }
        let response = request.send()?;
        let what = format!("GET /{} ({column})", settings.portal_table);
        let rows: Vec<Row> = match response.status {
            200 | 206 => serde_json::from_slice(&response.body).map_err(|e| {
                Error::upstream(format!("{what}: the answer is not the rows expected: {e}"))
            })?,
            416 => Vec::new(),
            _ => {
                return Err(Error::upstream(format!(
                    "{what}: {}",
                    postgrest_error(&response)
                )))
            }
        };
        if first {
            if let Some(total) = response
                .header("content-range")
                .and_then(|r| r.rsplit('/').next())
            {
                log::info(
                    "portal leads to read",
                    &[("walk", column), ("total", total)],
                );
            }
            first = false;
        }
        let stamp = Value::Timestamp(time::format_utc(time::now()));
        let Some(last) = rows.last() else {
            break;
        };
        let position = Position {
            at: match walk {
                Walk::Created => last.created_at.clone(),
                Walk::Updated => last.updated_at.clone(),
            },
            id: last.id.clone(),
        };
        let full = rows.len() >= settings.page_size as usize;
        let page: Vec<_> = rows.iter().map(|row| row.incoming()).collect();
        dedup::apply_page(Source::Portal, &page, &stamp, counts)?;
        state::set_json(walk.state_key(), &position)?;
        attempt.progress(counts, 0)?;
        state::checkpoint()?;
        if !full {
            break;
        }
        filter = keyset(column, &position);
    }
    Ok(())
}

/// `&or=(col.gt.T,and(col.eq.T,id.gt.I))`: strictly after `p` in `(col, id)` order.
fn keyset(column: &str, p: &Position) -> String {
    let at = encode(&p.at);
    let id = encode(&p.id);
    format!("&or=({column}.gt.{at},and({column}.eq.{at},id.gt.{id}))")
}

/// PostgREST's error body (`code`, `message`, `details`, `hint`) as one line.
fn postgrest_error(r: &Response) -> String {
    #[derive(Deserialize)]
    struct Body {
        code: Option<String>,
        message: Option<String>,
        details: Option<String>,
        hint: Option<String>,
    }
    match serde_json::from_slice::<Body>(&r.body) {
        Ok(b) if b.message.is_some() || b.code.is_some() => {
            let mut s = format!(
                "HTTP {} {}: {}",
                r.status,
                b.code.unwrap_or_default(),
                b.message.unwrap_or_default()
            );
            if let Some(d) = b.details {
                s.push_str(&format!(" (details: {d})"));
            }
            if let Some(h) = b.hint {
                s.push_str(&format!(" (hint: {h})"));
            }
            s
        }
        _ => {
            let text = String::from_utf8_lossy(&r.body);
            format!(
                "HTTP {}: {}",
                r.status,
                text.trim().chars().take(200).collect::<String>()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keysets_and_errors_read_as_postgrest_writes_them() {
        let p = Position {
            at: "2025-07-01T12:03:44.120+00:00".into(),
            id: "5b0e".into(),
        };
        assert_eq!(
            keyset("created_at", &p),
            "&or=(created_at.gt.2025-07-01T12%3A03%3A44.120%2B00%3A00,and(created_at.eq.2025-07-01T12%3A03%3A44.120%2B00%3A00,id.gt.5b0e))"
        );
        let r = Response {
            status: 400,
            headers: vec![],
            body: br#"{"code":"PGRST100","details":"unexpected \"x\" expecting \"asc\"","hint":null,"message":"\"failed to parse order (created_at.x)\" (line 1, column 12)"}"#.to_vec(),
        };
        assert_eq!(
            postgrest_error(&r),
            "HTTP 400 PGRST100: \"failed to parse order (created_at.x)\" (line 1, column 12) (details: unexpected \"x\" expecting \"asc\")"
        );
    }
}
