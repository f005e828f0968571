//! Delivering an authenticated webhook to a plugin's `handle-webhook`: a run record with
//! trigger `webhook`, a fresh instance, and the plugin's writes (typically enqueued jobs)
//! committed only if it answers without error.

use super::{describe_error, Runner, RunnerError};
use crate::capabilities::log::sanitize;
use crate::limits;
use crate::runtime::bindings::connector::host::connector_types::{Webhook, WebhookReply};
use crate::store::{NewRun, RunFinish, RunStatus};
use anyhow::Result;
use chrono::Utc;
use std::time::{Duration, Instant};

/// The most a webhook call may take: senders give up long before a connector's run timeout.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(30);

/// What the plugin answered, or why it did not.
#[derive(Debug, Clone)]
pub enum WebhookOutcome {
    /// The plugin's reply (status checked to be 100–599).
    Reply {
        /// The run log's id.
        run_id: i64,
        /// The reply.
        status: u16,
        /// Its body.
        body: Vec<u8>,
    },
    /// The plugin failed; the message is safe to log, not to send back.
    Failed {
        /// The run log's id.
        run_id: i64,
        /// The run's status.
        status: RunStatus,
        /// What went wrong.
        message: String,
    },
}

impl Runner {
    /// Calls `connector`'s `handle-webhook` with `event` and records it as a run.
    pub async fn webhook(&self, connector: &str, event: Webhook) -> Result<WebhookOutcome> {
        let loaded =
            self.connectors
                .get(connector)
                .ok_or_else(|| RunnerError::UnknownConnector {
                    name: connector.to_owned(),
                    hint: String::new(),
                })?;
        let started_at = Utc::now();
        let started = Instant::now();
        let lease = self.manifest.runtime.run_lease;
        let run_id = self
            .store
            .insert_run(&NewRun {
                connector,
                job: "webhook",
                trigger: "webhook",
                scheduled_for: None,
                attempt: 1,
                dry_run: false,
                started_at,
                schedule: None,
                host: &self.host_id,
                lease_until: started_at + chrono::Duration::from_std(lease).unwrap_or_default(),
            })
            .await?;
        let _active = super::ActiveGuard::new(&self.active, run_id);
        let timeout = loaded.config.timeout.min(WEBHOOK_TIMEOUT);
        let data = self.run_data(loaded, run_id, Instant::now() + timeout, false);
        let call = self
            .runtime
            .call(&loaded.plugin, data, timeout, move |inst, store| {
                Box::pin(async move { inst.call_handle_webhook(store, &event).await })
            });
        let (mut data, outcome) = self.with_heartbeat(run_id, None, call).await;
        let last_stderr = data.finish_stdio();
        let memory = loaded.config.memory_limit;
        let invalid = |kind: &str, message: String| {
            (RunStatus::Failed, None, Some((kind.to_owned(), message)))
        };
        let (status, reply, error): (RunStatus, Option<WebhookReply>, Option<(String, String)>) =
            match super::call_result(outcome, last_stderr, timeout, memory) {
                Ok(reply) if reply.body.len() > limits::WEBHOOK_REPLY_BYTES => invalid(
                    "too-large",
                    format!(
                        "the plugin's reply body is larger than {} bytes",
                        limits::WEBHOOK_REPLY_BYTES
                    ),
                ),
                Ok(reply) if (100..=599).contains(&reply.status) => {
                    (RunStatus::Succeeded, Some(reply), None)
                }
                Ok(reply) => invalid(
                    "invalid",
                    format!("the plugin answered with HTTP status {}", reply.status),
                ),
                Err((status, kind, message)) => (status, None, Some((kind, message))),
            };
        let (mut status, mut error) = (status, error);
        let end = if status.is_success() {
            data.db.commit().await
        } else {
            data.db.rollback().await
        };
        if let Err(e) = end {
            let (kind, message) = describe_error(&e);
            status = RunStatus::Failed;
            error = Some((
                kind.to_owned(),
                format!("the webhook's writes could not be committed: {message}"),
            ));
        }
        let error =
            error.map(|(k, m)| (k, self.redact(&sanitize(&m, limits::ERROR_MESSAGE_BYTES))));
        let finish = RunFinish {
            status,
            finished_at: Utc::now(),
            duration_ms: started.elapsed().as_millis() as u64,
            rows_written: data.db.rows_written,
            http_calls: data.http.calls,
            rate_limit_wait_ms: data.http.rate_limit_wait_ms,
            retries: data.http.retries,
            error_kind: error.as_ref().map(|(k, _)| k.clone()),
            error_message: error.as_ref().map(|(_, m)| m.clone()),
            summary: reply
                .as_ref()
                .filter(|_| status.is_success())
                .map(|r| format!("answered {}", r.status)),
            counters: serde_json::json!({}),
        };
        self.store.finish_run(run_id, &finish).await?;
        tracing::info!(
            connector,
            run_id,
            status = status.as_str(),
            duration_ms = finish.duration_ms,
            error_kind = finish.error_kind.as_deref(),
            "webhook handled"
        );
        Ok(match (status.is_success(), reply) {
            (true, Some(reply)) => WebhookOutcome::Reply {
                run_id,
                status: reply.status,
                body: reply.body,
            },
            _ => WebhookOutcome::Failed {
                run_id,
                status,
                message: finish.error_message.unwrap_or_default(),
            },
        })
    }
}
