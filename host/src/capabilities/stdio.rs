//! Plugin stdout and stderr: each line becomes a log event (stdout at info, stderr at warn),
//! up to a per-run byte budget; the tail of stderr is kept to explain a trap (a Rust panic
//! message is printed there just before the trap).

use super::log::{sanitize, CallRef, LogBudget, LogCap};
use crate::limits;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// How much of stderr's tail is kept for the run record.
const STDERR_TAIL_BYTES: usize = 1024;

#[derive(Default)]
struct Shared {
    budget_used: usize,
    dropped: bool,
    pending: [Vec<u8>; 2],
    stderr_tail: String,
}

/// Where a plugin's stdout or stderr goes.
#[derive(Clone)]
pub struct StdioSink {
    shared: Arc<Mutex<Shared>>,
    stderr: bool,
    connector: Arc<str>,
    call: CallRef,
    budget: Arc<LogBudget>,
}

impl StdioSink {
    /// The stdout and stderr of the call `log` serves, logged as its `info` and `warn` events
    /// on its budget.
    pub fn for_call(log: &LogCap) -> (StdioSink, StdioSink) {
        let (connector, call, budget) = log.parts();
        StdioSink::pair(connector, call, budget)
    }

    /// A stdout sink and a stderr sink sharing one byte budget, and the call's log budget.
    pub fn pair(
        connector: Arc<str>,
        call: CallRef,
        budget: Arc<LogBudget>,
    ) -> (StdioSink, StdioSink) {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let out = StdioSink {
            shared,
            stderr: false,
            connector,
            call,
            budget,
        };
        let err = StdioSink {
            stderr: true,
            ..out.clone()
        };
        (out, err)
    }

    fn emit(&self, line: &[u8]) {
        if !self.budget.admit(line.len(), &self.connector, self.call) {
            return;
        }
        let text = String::from_utf8_lossy(line);
        let text = sanitize(text.trim_end_matches('\r'), limits::LOG_MESSAGE_BYTES);
        let connector = &*self.connector;
        let run_id = self.call.run_id();
        let job_id = self.call.job_id();
        if self.stderr {
            tracing::warn!(target: "plugin", connector, run_id, job_id, stream = "stderr", "{text}");
        } else {
            tracing::info!(target: "plugin", connector, run_id, job_id, stream = "stdout", "{text}");
        }
        if run_id.is_some() {
            let (level, stream) = if self.stderr {
                ("warn", "stderr")
            } else {
                ("info", "stdout")
            };
            self.budget
                .keep(level, text, Some(format!("{{\"stream\":\"{stream}\"}}")));
        }
    }

    fn accept(&self, buf: &[u8]) {
        let mut lines = Vec::new();
        {
            let mut s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
            let room = limits::STDIO_BYTES_PER_RUN.saturating_sub(s.budget_used);
            let take = buf.len().min(room);
            if take < buf.len() && !s.dropped {
                s.dropped = true;
                tracing::warn!(
                    connector = &*self.connector,
                    run_id = self.call.run_id(),
                    job_id = self.call.job_id(),
                    limit = limits::STDIO_BYTES_PER_RUN,
                    "plugin output past the per-run limit is dropped"
                );
            }
            s.budget_used += take;
            if self.stderr {
                let tail = String::from_utf8_lossy(&buf[..take]).into_owned();
                s.stderr_tail.push_str(&tail);
                if s.stderr_tail.len() > STDERR_TAIL_BYTES * 2 {
                    let mut cut = s.stderr_tail.len() - STDERR_TAIL_BYTES;
                    while !s.stderr_tail.is_char_boundary(cut) {
                        cut += 1;
                    }
                    s.stderr_tail.drain(..cut);
                }
            }
            let pending = &mut s.pending[usize::from(self.stderr)];
            pending.extend_from_slice(&buf[..take]);
            while let Some(nl) = pending.iter().position(|&b| b == b'\n') {
                lines.push(pending.drain(..=nl).collect::<Vec<u8>>());
            }
        }
        for line in lines {
            self.emit(&line[..line.len() - 1]);
        }
    }

    /// Emits any unterminated last line; call when the run ends.
    pub fn flush_pending(&self) {
        let rest = {
            let mut s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::take(&mut s.pending[usize::from(self.stderr)])
        };
        if !rest.is_empty() {
            self.emit(&rest);
        }
    }

    /// The last non-empty stderr line, if any (a panic message, typically).
    pub fn stderr_last_line(&self) -> Option<String> {
        let s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        let text = s.stderr_tail.trim();
        let last = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty() && !l.starts_with("note:"))?;
        Some(limits::truncate(last.trim(), limits::ERROR_MESSAGE_BYTES))
    }
}

impl AsyncWrite for StdioSink {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.accept(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for StdioSink {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StdioSink {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}
