//! The HTTP server of `connector-host serve`: manual triggers, webhooks, status, run log,
//! Prometheus metrics and a health check, over one [`Daemon`]. [`router`] builds the routes
//! (tests serve it on a loopback port); [`serve`] owns the daemon's loops, listening and
//! shutdown.
//!
//! Errors are JSON `{"error": "..."}` with text safe to show: no secret, no host internals.

pub mod auth;
mod console;
mod metrics;
mod serve;

use crate::daemon::Daemon;
use crate::runner::{RunRequest, RunnerError, Webhook, WebhookOutcome};
use crate::store::TriggerKind;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

pub use serve::serve;

/// The routes, sharing `daemon`.
pub fn router(daemon: Arc<Daemon>) -> Router {
    Router::new()
        .route("/connectors/{name}/run", post(trigger))
        .route("/connectors/{name}/pause", post(pause))
        .route("/connectors/{name}/resume", post(resume))
        .route("/webhooks/{name}", post(webhook))
        .route("/status", get(status))
        .route("/runs", get(runs))
        .route("/metrics", get(metrics::metrics))
        .route("/healthz", get(healthz))
        .merge(console::routes())
        .with_state(daemon)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn unauthorized(message: &str) -> Response {
    let mut response = error(StatusCode::UNAUTHORIZED, message);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, "Bearer".parse().expect("valid"));
    response
}

fn unknown_connector(daemon: &Daemon, name: &str) -> Response {
    let runner = daemon.runner();
    let hint = crate::suggest::closest(name, runner.connectors().keys().map(String::as_str))
        .map(|s| format!("; did you mean {s:?}?"))
        .unwrap_or_default();
    error(
        StatusCode::NOT_FOUND,
        format!("no connector named {name:?}{hint}"),
    )
}

/// Checks the operator's `Authorization: Bearer <[server].admin_token>`; the refusal to answer
/// otherwise.
#[allow(clippy::result_large_err)] // the refusal is the response, built once, returned at once
fn check_admin(daemon: &Daemon, headers: &HeaderMap) -> Result<(), Response> {
    let runner = daemon.runner();
    let Some(token) = &runner.manifest.server.admin_token else {
        return Err(unauthorized(
            "operator actions are off; set [server].admin_token to the variable holding the admin token",
        ));
    };
    let Some(expected) = runner.secrets().get(token) else {
        return Err(unauthorized("the admin token is not loaded"));
    };
    auth::check_bearer(headers, expected).map_err(|refused| unauthorized(refused.0))
}

/// Body of `POST /connectors/{name}/pause` and `/resume`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PauseBody {
    /// One schedule; the whole connector when absent.
    schedule: Option<String>,
    /// Why (pause only).
    reason: Option<String>,
    /// When it ends: RFC 3339 or a duration like "2h" (pause only).
    until: Option<String>,
}

fn ops_error(e: crate::ops::OpsError) -> Response {
    match e {
        crate::ops::OpsError::BadInput(m) => error(StatusCode::BAD_REQUEST, m),
        crate::ops::OpsError::Store(e) => {
            tracing::warn!(error = format!("{e:#}"), "operator action failed");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database cannot be written",
            )
        }
    }
}

/// The JSON body, or `{}` when there is none.
async fn pause_body(body: Body) -> Result<PauseBody, Response> {
    let bytes = axum::body::to_bytes(body, 16 * 1024).await.map_err(|_| {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the body is larger than 16 KiB",
        )
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(PauseBody::default());
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("expected JSON like {{\"schedule\": \"sync\", \"reason\": \"…\", \"until\": \"2h\"}}: {e}"),
        )
    })
}

async fn pause(
    State(daemon): State<Arc<Daemon>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(refused) = check_admin(&daemon, &headers) {
        return refused;
    }
    let body = match pause_body(body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let until = match body
        .until
        .as_deref()
        .map(|u| crate::ops::parse_until(u, chrono::Utc::now()))
    {
        None => None,
        Some(Ok(u)) => Some(u),
        Some(Err(e)) => return ops_error(e),
    };
    let runner = daemon.runner();
    match crate::ops::pause(
        &runner.store,
        &runner.manifest,
        &name,
        body.schedule.as_deref(),
        body.reason.as_deref(),
        until,
        "api",
    )
    .await
    {
        Ok(p) => Json(json!({ "paused": p })).into_response(),
        Err(e) => ops_error(e),
    }
}

async fn resume(
    State(daemon): State<Arc<Daemon>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(refused) = check_admin(&daemon, &headers) {
        return refused;
    }
    let body = match pause_body(body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let runner = daemon.runner();
    match crate::ops::resume(
        &runner.store,
        &runner.manifest,
        &name,
        body.schedule.as_deref(),
        "api",
    )
    .await
    {
        Ok(was) => Json(json!({ "resumed": was })).into_response(),
        Err(e) => ops_error(e),
    }
}

/// Query of `POST /connectors/{name}/run`.
#[derive(Debug, Deserialize)]
struct TriggerQuery {
    /// Roll everything back and report what would have changed.
    #[serde(default)]
    dry_run: bool,
    /// The job to run; the plugin's first job by default.
    job: Option<String>,
    /// Wait for the run to end and answer with its outcome (default); `false` answers 202 at
    /// once.
    wait: Option<bool>,
}

async fn trigger(
    State(daemon): State<Arc<Daemon>>,
    Path(name): Path<String>,
    query: Result<Query<TriggerQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let runner = daemon.runner();
    let Some(connector) = runner.connectors().get(&name) else {
        return unknown_connector(&daemon, &name);
    };
    let Some(token) = &connector.config.trigger_token else {
        return unauthorized(&format!(
            "manual runs over HTTP are off for connector {name}; set connectors.{name}.trigger.token"
        ));
    };
    let Some(expected) = runner.secrets().get(token) else {
        return unauthorized("the trigger token is not loaded");
    };
    if let Err(refused) = auth::check_bearer(&headers, expected) {
        return unauthorized(refused.0);
    }
    let Query(query) = match query {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    if daemon.stopping() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the host is shutting down");
    }
    // A body, if any, is the run's JSON input.
    let limit = crate::limits::RUN_INPUT_BYTES;
    let input = match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(b)) if b.is_empty() => None,
        Ok(Ok(b)) => Some(String::from_utf8_lossy(&b).into_owned()),
        Ok(Err(_)) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the run's input is larger than {limit} bytes"),
            )
        }
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                "the body did not arrive in time",
            )
        }
    };
    let req = RunRequest {
        job: query.job,
        trigger: TriggerKind::Manual,
        dry_run: query.dry_run,
        input,
        ..RunRequest::manual()
    };
    let (run_id, rx) = match start_run(&daemon, &name, req).await {
        Ok(started) => started,
        Err((status, message)) => return error(status, message),
    };
    if query.wait == Some(false) {
        return (
            StatusCode::ACCEPTED,
            Json(json!({ "connector": name, "accepted": true, "run_id": run_id })),
        )
            .into_response();
    }
    match rx.await {
        Ok(Ok(outcome)) => Json(outcome).into_response(),
        Ok(Err(e)) => match e.downcast_ref::<RunnerError>() {
            Some(RunnerError::UnknownConnector { .. }) => unknown_connector(&daemon, &name),
            Some(other) => error(StatusCode::BAD_REQUEST, other.to_string()),
            None => {
                tracing::warn!(connector = %name, error = format!("{e:#}"), "manual run failed to start");
                error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the run could not be started",
                )
            }
        },
        Err(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the host shut down before the run finished",
        ),
    }
}

/// What [`start_run`] hands back: the run's id and where its outcome arrives.
type Started = (
    i64,
    tokio::sync::oneshot::Receiver<anyhow::Result<crate::runner::RunOutcome>>,
);

/// Records a run of `name` first (so even an answer that does not wait names it), then runs it
/// as a task of the host; the error says why it could not start, safe to show.
async fn start_run(
    daemon: &Arc<Daemon>,
    name: &str,
    mut req: RunRequest,
) -> Result<Started, (StatusCode, String)> {
    let runner = daemon.runner();
    let stopping = || {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the host is shutting down".to_owned(),
        )
    };
    if daemon.stopping() {
        return Err(stopping());
    }
    let run_id = match runner.begin_run(name, &req).await {
        Ok(id) => id,
        Err(e) if e.downcast_ref::<RunnerError>().is_some() => {
            return Err((StatusCode::BAD_REQUEST, format!("{e}")))
        }
        Err(e) => {
            tracing::warn!(connector = %name, error = format!("{e:#}"), "manual run failed to start");
            return Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                "the run could not be started".into(),
            ));
        }
    };
    req.run_id = Some(run_id);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task_runner = runner.clone();
    let task_name = name.to_owned();
    let spawned = daemon
        .spawn(async move {
            let _ = tx.send(task_runner.run(&task_name, req).await);
        })
        .await;
    if !spawned {
        let _ = runner
            .store
            .fail_unstarted_run(run_id, "the host was shutting down")
            .await;
        return Err(stopping());
    }
    Ok((run_id, rx))
}

/// How long a webhook sender has to deliver its body.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Headers never passed to a plugin: connection framing and the caller's cookies.
const HIDDEN_HEADERS: &[&str] = &[
    "cookie",
    "connection",
    "content-length",
    "transfer-encoding",
    "host",
    "proxy-authorization",
];

async fn webhook(
    State(daemon): State<Arc<Daemon>>,
    Path(name): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let runner = daemon.runner();
    let Some(connector) = runner.connectors().get(&name) else {
        return unknown_connector(&daemon, &name);
    };
    let Some(hook) = &connector.config.webhook else {
        return error(
            StatusCode::NOT_FOUND,
            format!("connector {name} takes no webhooks; add connectors.{name}.webhook"),
        );
    };
    let limit = usize::try_from(hook.max_body).unwrap_or(usize::MAX);
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {} bytes", hook.max_body),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > hook.max_body) {
        return too_large();
    }
    // A sender gets this long to deliver its body; a trickle does not hold the route open.
    let body = match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => return too_large(),
        Err(_) => {
            return error(
                StatusCode::REQUEST_TIMEOUT,
                format!("the body did not arrive within {}s", BODY_TIMEOUT.as_secs()),
            )
        }
    };
    let verified = match auth::check_webhook(&hook.auth, runner.secrets(), &headers, &body) {
        Ok(h) => h,
        Err(refused) => {
            tracing::info!(connector = %name, reason = refused.0, "webhook refused");
            return unauthorized(refused.0);
        }
    };
    let passed: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| {
            let k = k.as_str();
            !HIDDEN_HEADERS.contains(&k) && verified.as_deref() != Some(k)
        })
        .take(crate::limits::WEBHOOK_HEADERS)
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let event = Webhook {
        method: method.as_str().to_owned(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        headers: passed,
        body: body.to_vec(),
    };
    match runner.webhook(&name, event).await {
        Ok(WebhookOutcome::Reply { status, body, .. }) => {
            daemon.job_ready.notify_waiters();
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            (status, body).into_response()
        }
        Ok(WebhookOutcome::Failed { run_id, .. }) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("connector {name} could not handle the webhook (run {run_id})"),
        ),
        Err(e) => {
            tracing::warn!(connector = %name, error = format!("{e:#}"), "webhook failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the webhook could not be handled",
            )
        }
    }
}

/// Query of `GET /runs`.
#[derive(Debug, Deserialize)]
struct RunsQuery {
    connector: Option<String>,
    limit: Option<u32>,
}

async fn runs(
    State(daemon): State<Arc<Daemon>>,
    query: Result<Query<RunsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(query) = match query {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let limit = query.limit.unwrap_or(50).clamp(1, 1000);
    match daemon
        .runner()
        .store
        .recent_runs(limit, query.connector.as_deref())
        .await
    {
        Ok(runs) => Json(json!({ "runs": runs })).into_response(),
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "GET /runs");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the run log cannot be read",
            )
        }
    }
}

async fn status(State(daemon): State<Arc<Daemon>>) -> Response {
    let runner = daemon.runner();
    let overview =
        match crate::status::overview(&runner.manifest, &runner.store, chrono::Utc::now()).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "GET /status");
                return error(StatusCode::SERVICE_UNAVAILABLE, "the status cannot be read");
            }
        };
    let mut connectors = serde_json::to_value(&overview.connectors).unwrap_or_default();
    if let Some(list) = connectors.as_array_mut() {
        for c in list {
            let version = c["name"]
                .as_str()
                .and_then(|n| runner.connectors().get(n))
                .map(|l| l.info.version.clone());
            c["version"] = json!(version);
        }
    }
    Json(json!({
        "host": runner.host_id(),
        "stopping": daemon.stopping(),
        "runs_in_progress": runner.active_runs().len(),
        "connectors": connectors,
        "alerts": overview.alerts,
    }))
    .into_response()
}

async fn healthz(State(daemon): State<Arc<Daemon>>) -> Response {
    match daemon.runner().store.ping().await {
        Ok(()) if !daemon.stopping() => (StatusCode::OK, "ok\n").into_response(),
        Ok(()) => (StatusCode::SERVICE_UNAVAILABLE, "stopping\n").into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n").into_response(),
    }
}
