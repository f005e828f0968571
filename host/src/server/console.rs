//! The console at `/` on `serve`: server-rendered pages (minijinja templates in `host/templates`,
//! no script) over the same overview, run log, fire history, queue and pools the API reads, and
//! the operator actions — run, pause, resume, backfill, retry a run or a job — behind the admin
//! token. Signing in once sets a session cookie (HMAC-signed with the admin token, `HttpOnly`,
//! `SameSite=Strict`, 12 hours); every action form carries a CSRF token derived from the
//! session, checked on submit. Reading needs no sign-in, like the API.

use super::auth::same_secret as constant_time_eq;
use crate::daemon::Daemon;
use crate::runner::RunRequest;
use crate::store::JobFilter;
use crate::store::TriggerKind;
use axum::extract::{Form, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use minijinja::Environment;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::{Arc, OnceLock};

/// The session cookie.
const COOKIE: &str = "connector_host_session";
/// How long a sign-in lasts.
const SESSION_HOURS: i64 = 12;

/// The console's routes.
pub fn routes() -> Router<Arc<Daemon>> {
    Router::new()
        .route("/", get(home))
        .route("/ui/connectors/{name}", get(connector))
        .route("/ui/runs/{id}", get(run))
        .route("/ui/queue", get(queue))
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/connectors/{name}/run", post(act_run))
        .route("/ui/connectors/{name}/pause", post(act_pause))
        .route("/ui/connectors/{name}/resume", post(act_resume))
        .route("/ui/connectors/{name}/backfill", post(act_backfill))
        .route("/ui/runs/{id}/retry", post(act_retry_run))
        .route("/ui/queue/{id}/retry", post(act_retry_job))
}

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, text) in [
            ("base.html", include_str!("../../templates/base.html")),
            ("macros.html", include_str!("../../templates/macros.html")),
            ("home.html", include_str!("../../templates/home.html")),
            (
                "connector.html",
                include_str!("../../templates/connector.html"),
            ),
            ("run.html", include_str!("../../templates/run.html")),
            ("queue.html", include_str!("../../templates/queue.html")),
            ("login.html", include_str!("../../templates/login.html")),
            ("refused.html", include_str!("../../templates/refused.html")),
        ] {
            env.add_template(name, text)
                .unwrap_or_else(|e| panic!("template {name}: {e}"));
        }
        env.add_filter("utc", |t: String| fmt_time(&t, true));
        env.add_filter("local", |t: String| fmt_time(&t, false));
        env.add_filter("clock", |t: String| {
            match DateTime::parse_from_rfc3339(&t) {
                Ok(t) => t.with_timezone(&Utc).format("%H:%M:%S%.3f").to_string(),
                Err(_) => t,
            }
        });
        env.add_filter("seconds", |ms: u64| {
            let s = ms / 1000;
            match s {
                0..=119 => format!("{s} s"),
                120..=7199 => format!("{} min", s / 60),
                _ => format!("{:.1} h", s as f64 / 3600.0),
            }
        });
        env
    })
}

/// `2026-12-07 05:00:00Z` (UTC) or `2026-12-07 07:00:00 +02:00` (local) for an RFC 3339 time.
fn fmt_time(t: &str, utc: bool) -> String {
    match DateTime::parse_from_rfc3339(t) {
        Ok(t) if utc => t
            .with_timezone(&Utc)
            .format("%Y-%m-%d %H:%M:%SZ")
            .to_string(),
        Ok(t) => t.format("%Y-%m-%d %H:%M:%S %:z").to_string(),
        Err(_) => t.to_owned(),
    }
}

/// The signed-in state of a request: whether it carries a valid session, and the CSRF token for
/// its forms.
struct Session {
    signed_in: bool,
    csrf: String,
}

fn hmac(key: &str, message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The admin token, when actions are on.
fn admin_token(daemon: &Daemon) -> Option<String> {
    let runner = daemon.runner();
    let token = runner.manifest.server.admin_token.as_ref()?;
    runner.secrets().get(token).map(str::to_owned)
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

fn session(daemon: &Daemon, headers: &HeaderMap) -> Session {
    let none = Session {
        signed_in: false,
        csrf: String::new(),
    };
    let (Some(token), Some(value)) = (admin_token(daemon), cookie_value(headers)) else {
        return none;
    };
    let Some((expiry, sig)) = value.split_once('.') else {
        return none;
    };
    let valid = expiry
        .parse::<i64>()
        .is_ok_and(|e| e > Utc::now().timestamp())
        && constant_time_eq(
            sig.as_bytes(),
            hmac(&token, &format!("session:{expiry}")).as_bytes(),
        );
    if !valid {
        return none;
    }
    Session {
        signed_in: true,
        csrf: hmac(&token, &format!("csrf:{value}")),
    }
}

/// Renders `template` with `context` plus what every page shows.
fn page(daemon: &Daemon, s: &Session, template: &str, mut context: Value) -> Response {
    context["host"] = json!(daemon.runner().host_id());
    context["signed_in"] = json!(s.signed_in);
    context["csrf"] = json!(s.csrf);
    match env()
        .get_template(template)
        .and_then(|t| t.render(&context))
    {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::warn!(template, error = %e, "console page failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page failed to render",
            )
                .into_response()
        }
    }
}

fn refused(
    daemon: &Daemon,
    s: &Session,
    status: StatusCode,
    heading: &str,
    message: &str,
    back: &str,
) -> Response {
    let mut r = page(
        daemon,
        s,
        "refused.html",
        json!({ "heading": heading, "message": message, "back": back }),
    );
    *r.status_mut() = status;
    r
}

fn unavailable(daemon: &Daemon, e: impl std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "console");
    let s = Session {
        signed_in: false,
        csrf: String::new(),
    };
    refused(
        daemon,
        &s,
        StatusCode::SERVICE_UNAVAILABLE,
        "Unavailable",
        "the database cannot be read",
        "/",
    )
}

async fn home(State(daemon): State<Arc<Daemon>>, headers: HeaderMap) -> Response {
    let s = session(&daemon, &headers);
    let runner = daemon.runner();
    let overview = match crate::status::overview(&runner.manifest, &runner.store, Utc::now()).await
    {
        Ok(o) => o,
        Err(e) => return unavailable(&daemon, format!("{e:#}")),
    };
    let context = json!({
        "connectors": overview.connectors,
        "alerts": overview.alerts,
        "pools": runner.pool_usage(),
    });
    page(&daemon, &s, "home.html", context)
}

async fn connector(
    State(daemon): State<Arc<Daemon>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let s = session(&daemon, &headers);
    let runner = daemon.runner();
    let Some(loaded) = runner.connectors().get(&name) else {
        return refused(
            &daemon,
            &s,
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("no connector named {name:?}"),
            "/",
        );
    };
    let read = async {
        let overview = crate::status::overview(&runner.manifest, &runner.store, Utc::now()).await?;
        let runs = runner.store.recent_runs(30, Some(&name)).await?;
        let fires = runner.store.fire_history(&name, None, 60).await?;
        anyhow::Ok((overview, runs, fires))
    };
    let (overview, runs, fires) = match read.await {
        Ok(x) => x,
        Err(e) => return unavailable(&daemon, format!("{e:#}")),
    };
    let Some(c) = overview.connectors.into_iter().find(|c| c.name == name) else {
        return unavailable(&daemon, "the connector vanished");
    };
    let zone_of = |schedule: &str| {
        loaded
            .config
            .schedules
            .iter()
            .find(|s| s.name == schedule)
            .map(|s| s.cron.timezone())
    };
    let fires: Vec<Value> = fires
        .iter()
        .map(|f| {
            let local = zone_of(&f.schedule)
                .map(|z| f.scheduled_for.with_timezone(&z).to_rfc3339())
                .unwrap_or_else(|| f.scheduled_for.to_rfc3339());
            let mut v = json!(f);
            v["local"] = json!(local);
            v
        })
        .collect();
    let paused_any = c.paused.is_some() || c.schedules.iter().any(|s| s.paused.is_some());
    let alerts: Vec<_> = overview
        .alerts
        .into_iter()
        .filter(|a| a.connector == name)
        .collect();
    let context = json!({
        "c": c,
        "runs": runs,
        "fires": fires,
        "jobs": loaded.info.jobs,
        "alerts": alerts,
        "paused_any": paused_any,
    });
    page(&daemon, &s, "connector.html", context)
}

async fn run(
    State(daemon): State<Arc<Daemon>>,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Response {
    let s = session(&daemon, &headers);
    let runner = daemon.runner();
    let read = async {
        let r = runner.store.run_by_id(id).await?;
        let events = runner.store.run_events(id).await?;
        anyhow::Ok((r, events))
    };
    match read.await {
        Ok((Some(r), events)) => page(&daemon, &s, "run.html", json!({ "r": r, "events": events })),
        Ok((None, _)) => refused(
            &daemon,
            &s,
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("no run with id {id}"),
            "/",
        ),
        Err(e) => unavailable(&daemon, format!("{e:#}")),
    }
}

async fn queue(State(daemon): State<Arc<Daemon>>, headers: HeaderMap) -> Response {
    let s = session(&daemon, &headers);
    let runner = daemon.runner();
    let read = async {
        let failed = JobFilter {
            status: Some(crate::store::QueueStatus::Failed),
            ..JobFilter::default()
        };
        let mut jobs = runner.store.list_jobs(&failed, 200).await?;
        let rest = runner.store.list_jobs(&JobFilter::default(), 200).await?;
        jobs.extend(rest.into_iter().filter(|j| j.status != "failed"));
        anyhow::Ok(jobs)
    };
    match read.await {
        Ok(jobs) => page(&daemon, &s, "queue.html", json!({ "jobs": jobs })),
        Err(e) => unavailable(&daemon, format!("{e:#}")),
    }
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

async fn login_page(
    State(daemon): State<Arc<Daemon>>,
    headers: HeaderMap,
    query: axum::extract::Query<LoginQuery>,
) -> Response {
    let s = session(&daemon, &headers);
    let next = safe_next(query.next.as_deref());
    page(
        &daemon,
        &s,
        "login.html",
        json!({ "next": next, "actions_on": admin_token(&daemon).is_some() }),
    )
}

/// Only local paths, so a sign-in link cannot send the operator elsewhere.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") => n.to_owned(),
        _ => "/".to_owned(),
    }
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
    next: Option<String>,
}

async fn login(
    State(daemon): State<Arc<Daemon>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let s = session(&daemon, &headers);
    let Some(token) = admin_token(&daemon) else {
        return refused(
            &daemon,
            &s,
            StatusCode::FORBIDDEN,
            "Actions are off",
            "set [server].admin_token to enable sign-in",
            "/",
        );
    };
    if !constant_time_eq(form.token.as_bytes(), token.as_bytes()) {
        tracing::info!("console sign-in refused");
        let mut r = page(
            &daemon,
            &s,
            "login.html",
            json!({ "next": safe_next(form.next.as_deref()), "actions_on": true, "error": "that is not the admin token" }),
        );
        *r.status_mut() = StatusCode::UNAUTHORIZED;
        return r;
    }
    let expiry = (Utc::now() + chrono::Duration::hours(SESSION_HOURS)).timestamp();
    let value = format!("{expiry}.{}", hmac(&token, &format!("session:{expiry}")));
    let cookie = format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION_HOURS * 3600
    );
    tracing::info!("console sign-in");
    let mut r = Redirect::to(&safe_next(form.next.as_deref())).into_response();
    if let Ok(v) = cookie.parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// The CSRF token every action form carries.
#[derive(Deserialize)]
struct Csrf {
    #[serde(default)]
    csrf: String,
}

/// The session of an action, or the refusal to answer: not signed in (403, nothing done) or a
/// form without this session's CSRF token.
#[allow(clippy::result_large_err)] // the refusal is the response itself
fn authorize(
    daemon: &Daemon,
    headers: &HeaderMap,
    csrf: &str,
    back: &str,
) -> Result<Session, Response> {
    let s = session(daemon, headers);
    if !s.signed_in {
        return Err(refused(
            daemon,
            &s,
            StatusCode::FORBIDDEN,
            "Sign in to act",
            "running, pausing, resuming, retrying and backfilling need the admin token: sign in first",
            back,
        ));
    }
    if !constant_time_eq(csrf.as_bytes(), s.csrf.as_bytes()) {
        return Err(refused(
            daemon,
            &s,
            StatusCode::FORBIDDEN,
            "Refused",
            "the form did not come from this console (its CSRF token is missing or stale); reload the page and try again",
            back,
        ));
    }
    Ok(s)
}

async fn logout(
    State(daemon): State<Arc<Daemon>>,
    headers: HeaderMap,
    Form(f): Form<Csrf>,
) -> Response {
    if let Err(r) = authorize(&daemon, &headers, &f.csrf, "/") {
        return r;
    }
    let mut r = Redirect::to("/").into_response();
    if let Ok(v) = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0").parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

#[derive(Deserialize)]
struct RunForm {
    #[serde(default)]
    csrf: String,
    job: Option<String>,
    dry_run: Option<String>,
}

async fn act_run(
    State(daemon): State<Arc<Daemon>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(f): Form<RunForm>,
) -> Response {
    let back = format!("/ui/connectors/{name}");
    let s = match authorize(&daemon, &headers, &f.csrf, &back) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let req = RunRequest {
        job: f.job.filter(|j| !j.is_empty()),
        trigger: TriggerKind::Manual,
        dry_run: f.dry_run.is_some(),
        ..RunRequest::manual()
    };
    match super::start_run(&daemon, &name, req).await {
        Ok((run_id, _)) => Redirect::to(&format!("/ui/runs/{run_id}")).into_response(),
        Err((status, message)) => refused(&daemon, &s, status, "Not run", &message, &back),
    }
}

#[derive(Deserialize)]
struct PauseForm {
    #[serde(default)]
    csrf: String,
    schedule: Option<String>,
    reason: Option<String>,
    until: Option<String>,
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

async fn act_pause(
    State(daemon): State<Arc<Daemon>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(f): Form<PauseForm>,
) -> Response {
    let back = format!("/ui/connectors/{name}");
    let s = match authorize(&daemon, &headers, &f.csrf, &back) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let runner = daemon.runner();
    let until = match nonempty(&f.until).map(|u| crate::ops::parse_until(u, Utc::now())) {
        None => None,
        Some(Ok(u)) => Some(u),
        Some(Err(e)) => {
            return refused(
                &daemon,
                &s,
                StatusCode::BAD_REQUEST,
                "Not paused",
                &e.to_string(),
                &back,
            )
        }
    };
    match crate::ops::pause(
        &runner.store,
        &runner.manifest,
        &name,
        nonempty(&f.schedule),
        nonempty(&f.reason),
        until,
        "console",
    )
    .await
    {
        Ok(_) => Redirect::to(&back).into_response(),
        Err(e) => refused(
            &daemon,
            &s,
            StatusCode::BAD_REQUEST,
            "Not paused",
            &e.to_string(),
            &back,
        ),
    }
}

async fn act_resume(
    State(daemon): State<Arc<Daemon>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(f): Form<PauseForm>,
) -> Response {
    let back = format!("/ui/connectors/{name}");
    let s = match authorize(&daemon, &headers, &f.csrf, &back) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let runner = daemon.runner();
    match crate::ops::resume(
        &runner.store,
        &runner.manifest,
        &name,
        nonempty(&f.schedule),
        "console",
    )
    .await
    {
        Ok(_) => Redirect::to(&back).into_response(),
        Err(e) => refused(
            &daemon,
            &s,
            StatusCode::BAD_REQUEST,
            "Not resumed",
            &e.to_string(),
            &back,
        ),
    }
}

#[derive(Deserialize)]
struct BackfillForm {
    #[serde(default)]
    csrf: String,
    schedule: String,
    from: String,
    to: String,
}

async fn act_backfill(
    State(daemon): State<Arc<Daemon>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Form(f): Form<BackfillForm>,
) -> Response {
    let back = format!("/ui/connectors/{name}");
    let s = match authorize(&daemon, &headers, &f.csrf, &back) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let parse = |t: &str| DateTime::parse_from_rfc3339(t.trim()).map(|t| t.with_timezone(&Utc));
    let (Ok(from), Ok(to)) = (parse(&f.from), parse(&f.to)) else {
        return refused(
            &daemon,
            &s,
            StatusCode::BAD_REQUEST,
            "Not backfilled",
            "from and to must be RFC 3339 times like 2026-12-01T00:00:00Z",
            &back,
        );
    };
    if let Err(e) = crate::ops::check_target(&daemon.runner().manifest, &name, Some(&f.schedule)) {
        return refused(
            &daemon,
            &s,
            StatusCode::BAD_REQUEST,
            "Not backfilled",
            &e.to_string(),
            &back,
        );
    }
    // A backfill may take long: it runs on as a task of the host; its runs appear as they end.
    let runner = daemon.runner();
    let schedule = f.schedule.clone();
    let task_name = name.clone();
    daemon
        .spawn(async move {
            if let Err(e) = crate::ops::backfill(&runner, &task_name, &schedule, from, to, |_| {}).await {
                tracing::warn!(connector = %task_name, schedule = %schedule, error = %e, "backfill from the console failed");
            }
        })
        .await;
    Redirect::to(&back).into_response()
}

async fn act_retry_run(
    State(daemon): State<Arc<Daemon>>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    Form(f): Form<Csrf>,
) -> Response {
    let back = format!("/ui/runs/{id}");
    let s = match authorize(&daemon, &headers, &f.csrf, &back) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let runner = daemon.runner();
    match crate::ops::retry_run(&runner, id).await {
        Ok(o) => Redirect::to(&format!("/ui/runs/{}", o.run_id)).into_response(),
        Err(e) => refused(
            &daemon,
            &s,
            StatusCode::BAD_REQUEST,
            "Not retried",
            &e.to_string(),
            &back,
        ),
    }
}

async fn act_retry_job(
    State(daemon): State<Arc<Daemon>>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    Form(f): Form<Csrf>,
) -> Response {
    let s = match authorize(&daemon, &headers, &f.csrf, "/ui/queue") {
        Ok(s) => s,
        Err(r) => return r,
    };
    let runner = daemon.runner();
    match runner
        .store
        .retry_failed_jobs(Some(id), &JobFilter::default(), Utc::now())
        .await
    {
        Ok(_) => {
            daemon.job_ready.notify_waiters();
            Redirect::to("/ui/queue").into_response()
        }
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "console job retry");
            refused(
                &daemon,
                &s,
                StatusCode::SERVICE_UNAVAILABLE,
                "Not retried",
                "the database cannot be written",
                "/ui/queue",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_times_read_as_operators_write_them() {
        for name in [
            "home.html",
            "connector.html",
            "run.html",
            "queue.html",
            "login.html",
            "refused.html",
        ] {
            env().get_template(name).unwrap();
        }
        assert_eq!(
            fmt_time("2026-12-07T05:00:00.123Z", true),
            "2026-12-07 05:00:00Z"
        );
        assert_eq!(
            fmt_time("2026-12-07T07:00:00+02:00", false),
            "2026-12-07 07:00:00 +02:00"
        );
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("/ui/queue")), "/ui/queue");
    }
}
