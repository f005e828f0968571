//! Delivering an authenticated webhook to a plugin's `handle-webhook`: a run record with
//! trigger `webhook`, a fresh instance, and the plugin's writes (typically enqueued jobs)
//! committed only if it answers without error.

use super::invoke::{Judged, Recorded};
use super::{Failed, RunRequest, Runner};
use crate::bindings::connector::host::connector_types::{Webhook, WebhookReply};
use crate::limits;
use crate::store::RunStatus;
use crate::store::TriggerKind;
use anyhow::Result;
use std::time::Duration;

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

/// A reply the sender may get: a status code HTTP has, a body within the cap.
fn judge(reply: WebhookReply) -> Result<Judged<WebhookReply>, Failed> {
    if reply.body.len() > limits::WEBHOOK_REPLY_BYTES {
        Err(Failed::new(
            RunStatus::Failed,
            "too-large",
            format!(
                "the plugin's reply body is larger than {} bytes",
                limits::WEBHOOK_REPLY_BYTES
            ),
        ))
    } else if !(100..=599).contains(&reply.status) {
        Err(Failed::new(
            RunStatus::Failed,
            "invalid",
            format!("the plugin answered with HTTP status {}", reply.status),
        ))
    } else {
        Ok(Judged {
            summary: format!("answered {}", reply.status),
            counters: Vec::new(),
            value: reply,
        })
    }
}

impl Runner {
    /// Calls `connector`'s `handle-webhook` with `event` and records it as a run.
    pub async fn webhook(&self, connector: &str, event: Webhook) -> Result<WebhookOutcome> {
        let loaded = self.loaded(connector)?;
        let req = RunRequest {
            job: Some("webhook".to_owned()),
            trigger: TriggerKind::Webhook,
            ..RunRequest::manual()
        };
        let run_id = self.begin_run(connector, &req).await?;
        let call = Recorded {
            run_id,
            loaded,
            job: "webhook",
            dry_run: false,
            fire: None,
            timeout: loaded.config.timeout.min(WEBHOOK_TIMEOUT),
        };
        let (_, reply) = self
            .recorded(
                call,
                move |inst, store| {
                    Box::pin(async move { inst.call_handle_webhook(store, &event).await })
                },
                judge,
            )
            .await?;
        Ok(match reply {
            Ok(reply) => WebhookOutcome::Reply {
                run_id,
                status: reply.status,
                body: reply.body,
            },
            Err(f) => WebhookOutcome::Failed {
                run_id,
                status: f.status,
                message: f.message,
            },
        })
    }
}
