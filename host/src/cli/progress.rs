//! The live view of a `connector-host run`: on a terminal a spinner line with what the run has
//! done so far (rows written, HTTP calls, time waiting for rate limits, its last log message),
//! otherwise a plain line every few seconds, so a long run in a pipe or a CI log shows life too.

use crate::capabilities::progress::Snapshot;
use crate::runner::Runner;
use std::future::Future;
use std::io::IsTerminal;
use std::time::Duration;

/// How often a plain line is printed when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// One line for a snapshot.
pub fn line(label: &str, s: &Snapshot) -> String {
    let mut out = format!(
        "{label}: {}, {}, {:.1} s waiting for rate limits, {}",
        count(s.rows_written, "row written", "rows written"),
        count(s.http_calls, "HTTP call", "HTTP calls"),
        s.rate_limit_wait_ms as f64 / 1000.0,
        count(s.log_events, "log event", "log events"),
    );
    if !s.last_message.is_empty() {
        out.push_str("; last: ");
        out.push_str(&s.last_message);
    }
    out
}

fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Awaits `run` while showing run `run_id`'s progress on stderr.
pub async fn watch<T>(
    runner: &Runner,
    run_id: i64,
    label: &str,
    run: impl Future<Output = T>,
) -> T {
    let terminal = std::io::stderr().is_terminal();
    let bar = terminal.then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let watching = async {
        let every = if terminal {
            Duration::from_millis(250)
        } else {
            PLAIN_EVERY
        };
        loop {
            tokio::time::sleep(every).await;
            let Some(p) = runner.progress(run_id) else {
                continue;
            };
            let text = line(label, &p.snapshot());
            match &bar {
                Some(bar) => bar.set_message(text),
                None => eprintln!("{text}"),
            }
        }
    };
    tokio::pin!(run);
    let out = tokio::select! {
        out = &mut run => out,
        () = watching => unreachable!("the watcher never ends"),
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_says_what_the_run_has_done() {
        let s = Snapshot {
            rows_written: 1200,
            http_calls: 14,
            rate_limit_wait_ms: 3200,
            log_events: 5,
            last_message: "page written {\"page\":\"4\"}".into(),
        };
        assert_eq!(
            line("run 7 ploomes", &s),
            "run 7 ploomes: 1200 rows written, 14 HTTP calls, 3.2 s waiting for rate limits, 5 log events; last: page written {\"page\":\"4\"}"
        );
    }

    #[test]
    fn one_is_singular() {
        let s = Snapshot {
            rows_written: 1,
            http_calls: 1,
            log_events: 1,
            ..Snapshot::default()
        };
        assert_eq!(
            line("run 1 kit", &s),
            "run 1 kit: 1 row written, 1 HTTP call, 0.0 s waiting for rate limits, 1 log event"
        );
    }
}
