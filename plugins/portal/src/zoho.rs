//! Job `zoho`: leads from Zoho CRM (the primary path: the sales portal writes every lead to Zoho
//! first), through the same OAuth2 credentials as the zoho connector, so the host refreshes one
//! token for both and keeps one cool-down.
//!
//! Leads modified since the last run (`If-Modified-Since`, `overlap_minutes` before the time
//! the last run started, as Zoho's clock and ours may differ) are read 200 a page in id order —
//! ids do not move when a lead changes during the walk — with `page` up to Zoho's 2,000-record
//! limit and `page_token` past it; every page is merged and checkpointed. Then the leads deleted
//! in Zoho since the last run (`/Leads/deleted`) are marked (`zoho_deleted_at`), never removed.

use crate::audit::Attempt;
use crate::config::Settings;
use crate::dedup::{self, Counts, Incoming, Source};
use connector_sdk::db::{self, Value};
use connector_sdk::http::{encode, Request, Response};
use connector_sdk::{log, state, time, Error, RunContext, RunSummary};
use serde_json::Value as Json;

/// The fields read (v8 requires `fields`; at most 50).
const FIELDS: &str =
    "First_Name,Last_Name,Email,Phone,Lead_Source,Lead_Status,Portal_Lead_Id,Created_Time,Modified_Time";
/// Records per page (Zoho's maximum).
const PER_PAGE: u32 = 200;
/// The last page `page` may ask for; past it Zoho wants `page_token`.
const LAST_NUMBERED_PAGE: u32 = 10;
/// State keys: when the last complete walk of each kind started (RFC 3339).
const MODIFIED: &str = "zoho_leads_since";
const DELETED: &str = "zoho_deleted_since";

/// Runs job `zoho`.
pub fn run(ctx: &RunContext) -> Result<RunSummary, Error> {
    let settings = Settings::load()?;
    let attempt = Attempt::start(ctx.run_id, Source::Zoho)?;
    let mut counts = Counts::default();
    let mut deleted = 0;
    let started = time::now();
    let result = (|| {
        leads(&settings, &attempt, &mut counts)?;
        state::set_json(MODIFIED, &time::format_utc(started - settings.overlap))?;
        deleted = mark_deleted(&settings)?;
        state::set_json(DELETED, &time::format_utc(started - settings.overlap))?;
        Ok::<(), Error>(())
    })();
    if let Err(e) = result {
        return Err(attempt.failed(&counts, deleted, e));
    }
    attempt.succeeded(&counts, deleted)?;
    let message = format!(
        "zoho: {} leads read, {} inserted, {} updated, {} merged, {} unchanged, {} conflicts; {deleted} marked deleted",
        counts.fetched, counts.inserted, counts.updated, counts.merged, counts.unchanged, counts.conflicts
    );
    log::info("zoho sync finished", &[("summary", &message)]);
    Ok(crate::summary(message, &counts, deleted))
}

/// A GET to Zoho with the profile, the pools and `If-Modified-Since`; `None` for `204`.
fn get(
    settings: &Settings,
    url: String,
    since: Option<&str>,
    what: &str,
) -> Result<Option<Json>, Error> {
    let mut request = Request::get(url)
        .auth(&settings.zoho_auth_profile)
        .header("accept", "application/json");
    if let Some(since) = since {
        request = request.header("if-modified-since", since);
    }
    for pool in &settings.zoho_rate_limits {
        request = request.rate_limit(pool);
    }
    let response = request.send()?;
    match response.status {
        204 | 304 => Ok(None),
        200 => serde_json::from_slice(&response.body)
            .map(Some)
            .map_err(|e| Error::upstream(format!("{what}: the answer is not JSON: {e}"))),
        _ => Err(Error::upstream(format!(
            "{what}: {}",
            zoho_error(&response)
        ))),
    }
}

fn leads(settings: &Settings, attempt: &Attempt, counts: &mut Counts) -> Result<(), Error> {
    let since: Option<String> = state::get_json(MODIFIED)?;
    let mut page = 1;
    let mut token: Option<String> = None;
    loop {
        let paging = match &token {
            Some(t) => format!("page_token={}", encode(t)),
            None => format!("page={page}"),
        };
        let url = format!(
            "{}/crm/v8/Leads?fields={FIELDS}&per_page={PER_PAGE}&sort_by=id&sort_order=asc&{paging}",
            settings.zoho_api_url
        );
        let Some(doc) = get(settings, url, since.as_deref(), "GET /crm/v8/Leads")? else {
            break;
        };
        let stamp = Value::Timestamp(time::format_utc(time::now()));
        let records = doc
            .get("data")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        let leads = records
            .iter()
            .map(incoming)
            .collect::<Result<Vec<_>, _>>()?;
        dedup::apply_page(Source::Zoho, &leads, &stamp, counts)?;
        attempt.progress(counts, 0)?;
        state::checkpoint()?;
        let info = doc.get("info");
        let more = info
            .and_then(|i| i.get("more_records"))
            .and_then(Json::as_bool)
            == Some(true);
        if !more || records.is_empty() {
            break;
        }
        page += 1;
        if page > LAST_NUMBERED_PAGE {
            token = Some(
                info.and_then(|i| i.get("next_page_token"))
                    .and_then(Json::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        Error::upstream(
                            "GET /crm/v8/Leads: more records past 2,000 but no next_page_token",
                        )
                    })?,
            );
        }
    }
    Ok(())
}

/// A Zoho Leads record as an incoming lead.
fn incoming(r: &Json) -> Result<Incoming, Error> {
    let s = |k: &str| r.get(k).and_then(Json::as_str);
    let id = s("id").ok_or_else(|| Error::upstream("GET /crm/v8/Leads: a record without an id"))?;
    let name = [s("First_Name"), s("Last_Name")]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Incoming {
        zoho_id: Some(id.to_owned()),
        portal_id: dedup::text(s("Portal_Lead_Id")),
        email: dedup::email(s("Email")),
        name: dedup::text(Some(&name)),
        phone: dedup::text(s("Phone")),
        source: dedup::text(s("Lead_Source")),
        status: dedup::text(s("Lead_Status")),
        created_at: s("Created_Time").and_then(time::normalize),
        version: s("Modified_Time").map(str::to_owned),
    })
}

/// Marks the leads deleted in Zoho since the last run; returns how many it marked.
fn mark_deleted(settings: &Settings) -> Result<u64, Error> {
    let since: Option<String> = state::get_json(DELETED)?;
    let mut marked = 0;
    let mut page = 1;
    loop {
        let url = format!(
            "{}/crm/v8/Leads/deleted?type=all&per_page={PER_PAGE}&page={page}",
            settings.zoho_api_url
        );
        let Some(doc) = get(settings, url, since.as_deref(), "GET /crm/v8/Leads/deleted")? else {
            break;
        };
        let records = doc
            .get("data")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        for r in &records {
            let Some(id) = r.get("id").and_then(Json::as_str) else {
                continue;
            };
            let when = r
                .get("deleted_time")
                .and_then(Json::as_str)
                .and_then(time::normalize)
                .unwrap_or_else(|| time::format_utc(time::now()));
            marked += db::execute(
                "UPDATE leads SET zoho_deleted_at = $2, updated_at = $3 \
                 WHERE zoho_lead_id = $1 AND zoho_deleted_at IS NULL",
                &[
                    Value::Text(id.into()),
                    Value::Timestamp(when),
                    Value::Timestamp(time::format_utc(time::now())),
                ],
            )?;
        }
        state::checkpoint()?;
        let more = doc.pointer("/info/more_records").and_then(Json::as_bool) == Some(true);
        if !more || records.is_empty() {
            break;
        }
        if page >= LAST_NUMBERED_PAGE {
            // The deleted-records API pages by number only, up to 2,000 records.
            log::warn(
                "more than 2,000 leads deleted in Zoho since the last run; the rest are not marked",
                &[("since", since.as_deref().unwrap_or("the beginning"))],
            );
            break;
        }
        page += 1;
    }
    Ok(marked)
}

/// Zoho's error body (`code`, `message`, `details`) as one line.
fn zoho_error(r: &Response) -> String {
    let doc: Option<Json> = serde_json::from_slice(&r.body).ok();
    let item = doc.as_ref().map(|d| d.pointer("/data/0").unwrap_or(d));
    match item.filter(|i| i.get("code").is_some()) {
        Some(i) => {
            let code = i
                .get("code")
                .map(|c| c.as_str().map_or(c.to_string(), str::to_owned));
            let mut s = format!(
                "HTTP {} {}: {}",
                r.status,
                code.unwrap_or_default(),
                i.get("message").and_then(Json::as_str).unwrap_or("")
            );
            if let Some(d) = i
                .get("details")
                .filter(|d| d.as_object().is_some_and(|o| !o.is_empty()))
            {
                s.push_str(&format!(" ({d})"));
            }
            s
        }
        None => {
            let text = String::from_utf8_lossy(&r.body);
            format!(
                "HTTP {}: {}",
                r.status,
                text.trim().chars().take(200).collect::<String>()
            )
        }
    }
}
