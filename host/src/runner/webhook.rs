//! Delivering an authenticated webhook to a plugin's `handle-webhook`: a run record with
//! trigger `webhook`, a fresh instance, and the plugin's writes (typically enqueued jobs)
//! committed only if it answers without error.

use super::invoke::CallSpec;
use super::{Failed, RunOutcome, RunRequest, Runner};
use crate::bindings::connector::host::connector_types::{Webhook, WebhookReply};
use crate::capabilities::log::CallRef;
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
        let _active = super::ActiveGuard::new(&self.active, run_id);
        let spec = CallSpec {
            plugin: &loaded.plugin,
            grant: &loaded.grant,
            call: CallRef::Run(run_id),
            fire: None,
            timeout: loaded.config.timeout.min(WEBHOOK_TIMEOUT),
            dry_run: false,
        };
        let mut called = self
            .invoke(spec, move |inst, store| {
                Box::pin(async move { inst.call_handle_webhook(store, &event).await })
            })
            .await;
        let reply: Result<WebhookReply, Failed> = called.result.and_then(|reply| {
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
                Ok(reply)
            }
        });
        let settled = self.settle(&mut called.data, reply.is_ok()).await;
        let reply = reply.and_then(|r| settled.map(|()| r));
        let failed = reply.as_ref().err();
        let outcome = RunOutcome {
            run_id,
            connector: connector.to_owned(),
            job: "webhook".to_owned(),
            status: failed.map_or(RunStatus::Succeeded, |f| f.status),
            summary: reply
                .as_ref()
                .ok()
                .map(|r| format!("answered {}", r.status)),
            counters: Vec::new(),
            rows_written: called.data.caps.db.rows_written,
            error_kind: failed.map(|f| f.kind.clone()),
            error_message: failed.map(|f| f.message.clone()),
            dry_run: false,
            duration: called.duration,
        };
        let counts = super::invoke::Counts::of(&called.data);
        drop(called.data);
        self.finish(&outcome, counts).await?;
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
