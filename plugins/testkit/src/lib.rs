//! A test-only connector whose jobs misbehave on purpose (trap, loop, allocate, stall in a host
//! call) or exercise one capability each, so the host's tests drive a real wasm component.

use connector_sdk::db::{self, Value};
use connector_sdk::{
    config, log, queue, state, Connector, Error, Info, Job, JobError, RunContext, RunSummary,
    Webhook, WebhookReply,
};

struct Testkit;

/// The settings the jobs read.
const SETTINGS: &[(&str, &str)] = &[
    ("rows", "rows written per sync run"),
    ("label", "text written into each row"),
    (
        "sleep_ms",
        "how long sleep, read-sleep-write and hold-writer wait",
    ),
    (
        "job_sleep_ms",
        "how long a sleep-fail job waits before failing",
    ),
    (
        "jobs",
        "what enqueue and enqueue-each enqueue (enqueue-many: how many)",
    ),
    ("fail_after_enqueue", "make enqueue fail after enqueueing"),
    ("statements", "what sql-script runs"),
    ("calls", "what sql-calls runs"),
    ("requests", "what http-script and http-loop send"),
    ("repeat", "how often http-script and http-loop send"),
    ("batch", "rows per upsert in upsert-bench"),
    (
        "write",
        "how roundtrip writes: execute (the default) or upsert",
    ),
    ("round", "a marker upsert-bench writes"),
    ("pages", "pages written by pages"),
    ("events", "log events log-flood emits"),
    ("keys", "state keys state-flood sets"),
    ("value_bytes", "bytes per state value in state-flood"),
];

/// The jobs `run` understands.
const JOBS: &[&str] = &[
    "sync",
    "noop",
    "clock",
    "sleep",
    "trap",
    "spin",
    "oom",
    "slow-query",
    "checkpoint-then-trap",
    "denied-table",
    "http",
    "http-script",
    "http-loop",
    "enqueue",
    "enqueue-many",
    "enqueue-each",
    "sql-script",
    "sql-calls",
    "roundtrip",
    "upsert-bench",
    "imports",
    "cpu",
    "big-log",
    "pages",
    "write-past-deadline",
    "read-sleep-write",
    "hold-writer",
    "huge-select",
    "log-flood",
    "state-flood",
    "exit",
    "stdout",
    "fail",
];

impl Connector for Testkit {
    fn describe() -> Info {
        let mut info = Info::new(
            "testkit",
            env!("CARGO_PKG_VERSION"),
            "misbehaves on purpose for tests",
        )
        .table("kit_items")
        .migration(
            1,
            "kit_items",
            include_str!("../migrations/sqlite/0001_kit_items.sql"),
            include_str!("../migrations/postgres/0001_kit_items.sql"),
        );
        for (name, description) in SETTINGS {
            info = info.setting(name, description);
        }
        for job in JOBS {
            info = info.job(job);
        }
        info
    }

    fn run(ctx: RunContext) -> Result<RunSummary, Error> {
        match ctx.job.as_str() {
            "noop" => Ok(RunSummary::new("noop")),
            // When the plugin itself started, by the wall clock WASI gives it (for benchmarks).
            "clock" => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_err(|_| Error::invalid("the clock is before 1970"))?;
                Ok(RunSummary::new("clock").counter("now_us", now.as_micros() as u64))
            }
            "sleep" => {
                // Waits without burning CPU (a WASI poll the host serves asynchronously).
                let ms: u64 = config::get_or("sleep_ms", 1000)?;
                std::thread::sleep(std::time::Duration::from_millis(ms));
                Ok(RunSummary::new(format!("slept {ms} ms")))
            }
            "sync" => sync(),
            "trap" => panic!("testkit asked to trap"),
            "spin" => spin(),
            "oom" => oom(),
            "slow-query" => slow_query(),
            "checkpoint-then-trap" => checkpoint_then_trap(),
            "denied-table" => denied_table(),
            "http" => http(),
            "http-script" => http_script(),
            "http-loop" => http_loop(),
            "enqueue" => enqueue(),
            "sql-script" => sql_script(),
            "sql-calls" => sql_calls(),
            "roundtrip" => roundtrip(),
            "upsert-bench" => upsert_bench(),
            "imports" => imports(),
            "cpu" => cpu(&ctx),
            "enqueue-many" => {
                let n: u64 = config::get_or("jobs", 1000)?;
                for i in 0..n {
                    queue::enqueue(
                        "noop",
                        &serde_json::json!({ "i": i }),
                        queue::Options::default(),
                    )?;
                }
                Ok(RunSummary::new(format!("enqueued {n}")))
            }
            "big-log" => big_log(),
            "pages" => pages(),
            "write-past-deadline" => write_past_deadline(),
            "enqueue-each" => enqueue_each(),
            "read-sleep-write" => read_sleep_write(ctx.run_id),
            "hold-writer" => hold_writer(),
            "huge-select" => huge_select(),
            "log-flood" => log_flood(),
            "state-flood" => state_flood(),
            "exit" => std::process::exit(3),
            "stdout" => stdout(),
            "fail" => Err(Error::upstream("testkit asked to fail")),
            other => Err(Error::invalid(format!("unknown job {other}"))),
        }
    }

    /// Enqueues an `ok` job carrying the body, and answers 202 with the header names it saw
    /// and the body's length, so tests can check what the host passed on. Bodies
    /// `reply-huge`, `reply-status-42` and `reply-error` make it answer badly instead.
    fn handle_webhook(event: Webhook) -> Result<WebhookReply, Error> {
        let body = String::from_utf8_lossy(&event.body).into_owned();
        queue::enqueue(
            "ok",
            &serde_json::Value::String(body.clone()),
            queue::Options::default(),
        )?;
        // Misbehaving replies on request, for the host's checks of what a plugin answers.
        match body.as_str() {
            "reply-huge" => {
                return Ok(WebhookReply {
                    status: 200,
                    body: vec![b'x'; 2 << 20],
                })
            }
            "reply-status-42" => {
                return Ok(WebhookReply {
                    status: 42,
                    body: Vec::new(),
                })
            }
            "reply-error" => return Err(Error::upstream("testkit refused the webhook")),
            _ => {}
        }
        let names: Vec<&str> = event.headers.iter().map(|(n, _)| n.as_str()).collect();
        let reply = serde_json::json!({
            "method": event.method,
            "query": event.query,
            "headers": names,
            "bytes": event.body.len(),
        });
        Ok(WebhookReply {
            status: 202,
            body: reply.to_string().into_bytes(),
        })
    }

    /// Job kinds: `ok` writes a row named after the job; `fail` asks for a retry; `permanent`
    /// fails for good; `trap` panics; `slow` writes its row after ~100 ms of work; `sleep` after 5 s
    /// of waiting.
    fn handle_job(job: Job) -> Result<(), JobError> {
        let write = |job: &Job| {
            db::execute(
                "INSERT INTO kit_items (id, n, label) VALUES ($1, $2, $3)",
                &[
                    Value::Text(format!("job-{}", job.id)),
                    i64::from(job.attempt).into(),
                    job.payload.as_str().into(),
                ],
            )
            .map(drop)
            .map_err(|e| JobError::Retry(format!("{e:?}")))
        };
        match job.kind.as_str() {
            "ok" => write(&job),
            "noop" => Ok(()),
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(5));
                write(&job)
            }
            "slow" => {
                let started = std::time::Instant::now();
                while started.elapsed() < std::time::Duration::from_millis(100) {
                    std::hint::spin_loop();
                }
                write(&job)
            }
            "fail" => {
                write(&job)?; // rolled back with the failure
                Err(JobError::Retry(format!("attempt {} failed", job.attempt)))
            }
            "permanent" => Err(JobError::Permanent("this job can never work".into())),
            // Fails only after a while, to show back-off counts from the failure.
            "sleep-fail" => {
                let ms: u64 = config::get_or("job_sleep_ms", 2000)
                    .map_err(|e| JobError::Permanent(format!("{e:?}")))?;
                std::thread::sleep(std::time::Duration::from_millis(ms));
                Err(JobError::Retry(format!(
                    "attempt {} failed late",
                    job.attempt
                )))
            }
            // Enqueues a follow-up job (for the queue's default attempts on jobs from jobs).
            "chain" => queue::enqueue("noop", &serde_json::json!({}), queue::Options::default())
                .map(drop)
                .map_err(|e| JobError::Retry(format!("{e:?}"))),
            "log" => {
                log::info("job says hello", &[("attempt", &job.attempt.to_string())]);
                Ok(())
            }
            "trap" => panic!("job {} trapped", job.id),
            other => Err(JobError::Permanent(format!("unknown kind {other}"))),
        }
    }
}

/// Writes `pages` pages of `rows` rows (ids `p{page}-{row}`), each followed by a cursor in
/// state, an enqueued job and a checkpoint, as a paging connector does.
fn pages() -> Result<RunSummary, Error> {
    let pages: i64 = config::get_or("pages", 3)?;
    let rows: i64 = config::get_or("rows", 2)?;
    let start: i64 = state::get_json("page")?.unwrap_or(0);
    let mut written = 0;
    for page in start..start + pages {
        let batch: Vec<db::Row> = (0..rows)
            .map(|r| {
                vec![
                    Value::Text(format!("p{page}-{r}")),
                    Value::Integer(page),
                    Value::Text("page".into()),
                ]
            })
            .collect();
        written += db::upsert("kit_items", &["id", "n", "label"], &["id"], &batch)?;
        state::set_json("page", &(page + 1))?;
        queue::enqueue(
            "noop",
            &serde_json::json!({ "page": page }),
            queue::Options::default(),
        )?;
        state::checkpoint()?;
    }
    Ok(RunSummary::new(format!("wrote {pages} pages")).counter("rows", written))
}

/// Writes a row and a job, stalls in a query until the deadline interrupts it, then keeps
/// writing as if nothing happened: none of it may reach the database.
fn write_past_deadline() -> Result<RunSummary, Error> {
    db::execute(
        "INSERT INTO kit_items (id, n, label) VALUES ('before', 1, 'before')",
        &[],
    )?;
    queue::enqueue(
        "ok",
        &serde_json::json!("before"),
        queue::Options::default(),
    )?;
    let stalled = db::query(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) \
         SELECT count(*) FROM c",
        &[],
    );
    let mut after = vec![format!(
        "stall: {}",
        stalled.err().map_or("ok", |e| e.kind())
    )];
    for i in 0..50 {
        let e = queue::enqueue("ok", &serde_json::json!(i), queue::Options::default());
        let w = db::execute(
            "INSERT INTO kit_items (id, n, label) VALUES ($1, $2, 'after')",
            &[Value::Text(format!("after-{i}")), Value::Integer(i)],
        );
        after.push(format!(
            "{}/{}",
            e.err().map_or("ok", |e| e.kind()),
            w.err().map_or("ok", |e| e.kind())
        ));
    }
    Ok(RunSummary::new(serde_json::to_string(&after)?))
}

/// Enqueues each job of the `jobs` setting, carrying on past errors, then checkpoints; the
/// summary is `{"results": [...], "checkpoint": ...}` with "ok" or the error's kind.
fn enqueue_each() -> Result<RunSummary, Error> {
    #[derive(serde::Deserialize)]
    struct Spec {
        kind: String,
        #[serde(default)]
        payload: serde_json::Value,
    }
    let specs: Vec<Spec> = config::get_or("jobs", Vec::new())?;
    let results: Vec<&str> = specs
        .iter()
        .map(
            |s| match queue::enqueue(&s.kind, &s.payload, queue::Options::default()) {
                Ok(_) => "ok",
                Err(e) => e.kind(),
            },
        )
        .collect();
    let checkpoint = state::checkpoint().err().map_or("ok", |e| e.kind());
    Ok(RunSummary::new(
        serde_json::json!({ "results": results, "checkpoint": checkpoint }).to_string(),
    ))
}

/// Reads its cursor, waits `sleep_ms` (another connection commits meanwhile), then writes: the
/// read-then-write pattern SQLite refuses to upgrade when a deferred transaction is used.
fn read_sleep_write(run_id: u64) -> Result<RunSummary, Error> {
    let ms: u64 = config::get_or("sleep_ms", 200)?;
    let label: String = config::get_or("label", "rsw".to_owned())?;
    let seen: i64 = state::get_json(&label)?.unwrap_or(0);
    db::query("SELECT count(*) FROM kit_items", &[])?;
    std::thread::sleep(std::time::Duration::from_millis(ms));
    db::execute(
        "INSERT INTO kit_items (id, n, label) VALUES ($1, $2, $3)",
        &[
            Value::Text(format!("{label}-{run_id}")),
            Value::Integer(seen),
            Value::Text(label.clone()),
        ],
    )?;
    state::set_json(&label, &(seen + 1))?;
    Ok(RunSummary::new(format!("wrote {label}-{run_id}")))
}

/// Writes a row and then holds its transaction open for `sleep_ms` without a checkpoint.
fn hold_writer() -> Result<RunSummary, Error> {
    let ms: u64 = config::get_or("sleep_ms", 3000)?;
    db::execute(
        "INSERT INTO kit_items (id, n, label) VALUES ('held', 1, 'hold')",
        &[],
    )?;
    log::info("holding the writer", &[("ms", &ms.to_string())]);
    std::thread::sleep(std::time::Duration::from_millis(ms));
    Ok(RunSummary::new("held the writer"))
}

/// A query whose result never ends, then a small one in the same run; the summary reports
/// both outcomes.
fn huge_select() -> Result<RunSummary, Error> {
    let huge = db::query(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c",
        &[],
    );
    let after = db::query("SELECT 1 AS one", &[]);
    Ok(RunSummary::new(format!(
        "{}/{}",
        huge.err().map_or("ok", |e| e.kind()),
        after.err().map_or("ok", |e| e.kind())
    )))
}

/// Logs `events` events (and as many stdout lines).
fn log_flood() -> Result<RunSummary, Error> {
    let n: u64 = config::get_or("events", 20_000)?;
    for i in 0..n {
        log::info("flood", &[("i", &i.to_string())]);
    }
    Ok(RunSummary::new(format!("logged {n}")))
}

/// Sets state keys of `value_bytes` bytes until the host refuses; the summary is
/// `{"stored": n, "error": kind}`.
fn state_flood() -> Result<RunSummary, Error> {
    let max: u64 = config::get_or("keys", 5_000)?;
    let bytes: usize = config::get_or("value_bytes", 16)?;
    let value = "v".repeat(bytes);
    let mut stored = 0;
    let mut error = "none";
    for i in 0..max {
        match state::set(&format!("key-{i}"), &value) {
            Ok(()) => stored += 1,
            Err(e) => {
                error = e.kind();
                break;
            }
        }
    }
    Ok(RunSummary::new(
        serde_json::json!({ "stored": stored, "error": error }).to_string(),
    ))
}

/// Enqueues the jobs in the `jobs` setting (`[{kind, payload, delay_ms, max_attempts,
/// dedup_key}]`); the summary lists their ids.
fn enqueue() -> Result<RunSummary, Error> {
    #[derive(serde::Deserialize)]
    struct Spec {
        kind: String,
        #[serde(default)]
        payload: serde_json::Value,
        delay_ms: Option<u64>,
        max_attempts: Option<u32>,
        dedup_key: Option<String>,
    }
    let specs: Vec<Spec> = config::get_or("jobs", Vec::new())?;
    let mut ids = Vec::new();
    for s in specs {
        let options = queue::Options {
            delay_ms: s.delay_ms,
            max_attempts: s.max_attempts,
            dedup_key: s.dedup_key,
        };
        ids.push(queue::enqueue(&s.kind, &s.payload, options)?);
    }
    if config::get_or("fail_after_enqueue", false)? {
        return Err(Error::upstream("failing after enqueueing"));
    }
    Ok(RunSummary::new(serde_json::to_string(&ids)?))
}

/// Runs every statement of the `statements` setting; the summary is a JSON array with, for
/// each, "ok" or the error's kind.
fn sql_script() -> Result<RunSummary, Error> {
    let statements: Vec<String> = config::get_or("statements", Vec::new())?;
    let outcomes: Vec<String> = statements
        .iter()
        .map(|sql| match db::query(sql, &[]) {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.kind().to_owned(),
        })
        .collect();
    Ok(RunSummary::new(serde_json::to_string(&outcomes)?))
}

/// Upserts `rows` generated rows of 10 columns into `bench_rows`, `batch` rows per call, with
/// `round` in the text so a second run updates every row.
fn upsert_bench() -> Result<RunSummary, Error> {
    let rows: i64 = config::get_or("rows", 100_000)?;
    let batch: i64 = config::get_or("batch", 1000)?;
    let round: i64 = config::get_or("round", 0)?;
    let columns = [
        "id", "name", "qty", "price", "active", "note", "city", "stage", "score", "at",
    ];
    let mut written = 0;
    let mut start = 0;
    while start < rows {
        let end = (start + batch).min(rows);
        let chunk: Vec<db::Row> = (start..end)
            .map(|i| {
                vec![
                    Value::Integer(i),
                    Value::Text(format!("customer {i} r{round}")),
                    Value::Integer(i % 97),
                    Value::Real(i as f64 * 1.25),
                    Value::Boolean(i % 2 == 0),
                    Value::Text("a short note about the deal".into()),
                    Value::Text("São Paulo".into()),
                    Value::Integer(i % 7),
                    Value::Real(0.5),
                    Value::Timestamp("2025-07-10T16:22:31Z".into()),
                ]
            })
            .collect();
        written += db::upsert("bench_rows", &columns, &["id"], &chunk)?;
        start = end;
    }
    Ok(RunSummary::new(format!("upserted {written}")).counter("rows", written))
}

/// Runs each `{sql, params}` of the `calls` setting with `db::execute` (JSON null, integers,
/// floats, strings and booleans become typed values); the summary lists "ok" or the error.
fn sql_calls() -> Result<RunSummary, Error> {
    #[derive(serde::Deserialize)]
    struct Call {
        sql: String,
        #[serde(default)]
        params: Vec<serde_json::Value>,
    }
    let calls: Vec<Call> = config::get_or("calls", Vec::new())?;
    let outcomes: Vec<String> = calls
        .iter()
        .map(|c| {
            let params: Vec<Value> = c
                .params
                .iter()
                .map(|p| match p {
                    serde_json::Value::Bool(b) => Value::Boolean(*b),
                    serde_json::Value::Number(n) => match n.as_i64() {
                        Some(i) => Value::Integer(i),
                        None => Value::Real(n.as_f64().unwrap_or(0.0)),
                    },
                    serde_json::Value::String(s) => Value::Text(s.clone()),
                    _ => Value::Null,
                })
                .collect();
            match db::execute(&c.sql, &params) {
                Ok(_) => "ok".to_owned(),
                Err(e) => format!("{e:?}"),
            }
        })
        .collect();
    Ok(RunSummary::new(serde_json::to_string(&outcomes)?))
}

/// Writes one value of every type (by `execute`, or by `upsert` with `write = "upsert"`) and
/// reads it back; the summary is the JSON of what came back.
fn roundtrip() -> Result<RunSummary, Error> {
    let written = vec![
        Value::Text("rt".into()),
        Value::Integer(i64::MAX),
        Value::Null,
        Value::Real(1234.5),
        Value::Boolean(true),
        Value::Blob(vec![0, 1, 2, 254, 255]),
        Value::Json(r#"{"a":[1,2,{"b":null}],"c":"é✓"}"#.into()),
        Value::Timestamp("2025-07-10T16:22:31.250-03:00".into()),
    ];
    let mut refused = None;
    if config::get_or("write", "execute".to_owned())? == "upsert" {
        // Twice (the second time every row conflicts), with a row of NULLs beside it, so a
        // column may be all NULL, partly NULL or never NULL.
        let cols = ["id", "n", "label", "score", "flag", "data", "doc", "at"];
        let mut nulls = vec![Value::Null; cols.len()];
        nulls[0] = Value::Text("rt-nulls".into());
        nulls[1] = Value::Integer(0);
        let mut first = written.clone();
        first[1] = Value::Integer(0);
        db::upsert("kit_items", &cols, &["id"], &[first, nulls.clone()])?;
        db::upsert("kit_items", &cols, &["id"], &[written.clone(), nulls])?;
        // A value the column cannot take: the error, not the run's end.
        refused = db::upsert(
            "kit_items",
            &["id", "n", "at"],
            &["id"],
            &[vec![
                Value::Text("rt-bad".into()),
                Value::Integer(1),
                Value::Text("not a time".into()),
            ]],
        )
        .err()
        .map(|e| format!("{e:?}"));
    } else {
        db::execute(
            "INSERT INTO kit_items (id, n, label, score, flag, data, doc, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &written,
        )?;
    }
    let rows = db::query(
        "SELECT id, n, label, score, flag, data, doc, at FROM kit_items WHERE id = $1",
        &[Value::Text("rt".into())],
    )?;
    let back: Vec<serde_json::Value> = rows.rows[0]
        .iter()
        .map(|v| match v {
            Value::Null => serde_json::json!({ "null": null }),
            Value::Boolean(b) => serde_json::json!({ "boolean": b }),
            Value::Integer(i) => serde_json::json!({ "integer": i }),
            Value::Real(f) => serde_json::json!({ "real": f }),
            Value::Text(s) => serde_json::json!({ "text": s }),
            Value::Blob(b) => serde_json::json!({ "blob": b }),
            Value::Json(s) => {
                serde_json::json!({ "json": serde_json::from_str::<serde_json::Value>(s).ok() })
            }
            Value::Timestamp(s) => serde_json::json!({ "timestamp": s }),
        })
        .chain(refused.map(|e| serde_json::json!({ "refused": e })))
        .collect();
    Ok(RunSummary::new(serde_json::to_string(&back)?))
}

/// Writes `rows` rows after the cursor, moves the cursor, and reads them back.
fn sync() -> Result<RunSummary, Error> {
    let rows: i64 = config::get_or("rows", 3)?;
    let label: String = config::get_or("label", "item".to_owned())?;
    let start: i64 = state::get_json("cursor")?.unwrap_or(0);
    for n in start..start + rows {
        db::execute(
            "INSERT INTO kit_items (id, n, label) VALUES ($1, $2, $3)",
            &[
                Value::Text(format!("{label}-{n}")),
                n.into(),
                label.as_str().into(),
            ],
        )?;
    }
    state::set_json("cursor", &(start + rows))?;
    let total = db::query("SELECT count(*) AS c FROM kit_items", &[])?;
    let total = total
        .rows
        .first()
        .and_then(|r| r.first())
        .and_then(Value::as_i64)
        .unwrap_or(-1);
    log::info(
        "sync done",
        &[
            ("rows", &rows.to_string()),
            ("cursor", &(start + rows).to_string()),
        ],
    );
    Ok(RunSummary::new(format!("wrote {rows} rows"))
        .counter("rows_written", rows as u64)
        .counter("total", total as u64))
}

#[allow(clippy::empty_loop)]
/// Times host import round trips from inside the guest (PERFORMANCE.md B2): a call that carries
/// nothing (`config.get` of an empty key), one carrying a 1 KiB string (`config.get` of a long
/// key) and one carrying a 64 KiB list (`db.execute` with a 64 KiB blob parameter, refused by
/// the SQL guard before any database work). Counters are picoseconds per call.
fn imports() -> Result<RunSummary, Error> {
    use connector_sdk::bindings::connector::host::{config as raw_config, db as raw_db};
    let calls: u64 = config::get_or("import_calls", 100_000)?;
    let per_call = |n: u64, f: &mut dyn FnMut()| {
        let started = std::time::Instant::now();
        for _ in 0..n {
            f();
        }
        (started.elapsed().as_nanos() * 1000 / u128::from(n.max(1))) as u64
    };
    let nop = per_call(calls, &mut || {
        std::hint::black_box(raw_config::get(""));
    });
    let key = "k".repeat(1024);
    let string = per_call(calls, &mut || {
        std::hint::black_box(raw_config::get(&key));
    });
    let blob = [Value::Blob(vec![7u8; 64 * 1024])];
    let list = per_call(calls / 10, &mut || {
        let refused = raw_db::execute("", &blob);
        assert!(refused.is_err(), "an empty statement is refused");
    });
    Ok(RunSummary::new("import round trips")
        .counter("nop_ps", nop)
        .counter("string_1k_ps", string)
        .counter("list_64k_ps", list))
}

/// CPU-bound work and nothing else (PERFORMANCE.md B4): `iterations` (from the run input,
/// default 100 million) rounds of xorshift, without a single host call, so the benchmark can
/// time it from the host with and without epoch interruption.
fn cpu(ctx: &RunContext) -> Result<RunSummary, Error> {
    #[derive(serde::Deserialize)]
    struct Input {
        iterations: u64,
    }
    let n = ctx
        .input_as::<Input>()?
        .map_or(100_000_000, |i| i.iterations);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = std::hint::black_box(x);
    }
    Ok(RunSummary::new("cpu").counter("x", x))
}

fn spin() -> Result<RunSummary, Error> {
    let mut x: u64 = 0;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

fn oom() -> Result<RunSummary, Error> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; 1 << 20];
        chunk[0] = 1;
        hoard.push(std::hint::black_box(chunk));
    }
}

/// Stalls inside a host call: a query that counts to a large number.
fn slow_query() -> Result<RunSummary, Error> {
    db::query(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) \
         SELECT count(*) FROM c",
        &[],
    )?;
    Ok(RunSummary::new("the slow query finished"))
}

fn checkpoint_then_trap() -> Result<RunSummary, Error> {
    db::execute(
        "INSERT INTO kit_items (id, n, label) VALUES ('kept', 1, 'kept')",
        &[],
    )?;
    state::set("phase", "checkpointed")?;
    state::checkpoint()?;
    db::execute(
        "INSERT INTO kit_items (id, n, label) VALUES ('lost', 2, 'lost')",
        &[],
    )?;
    state::set("phase", "after-checkpoint")?;
    panic!("trap after the checkpoint")
}

/// Tries a table the manifest does not grant; succeeds only if the host refuses it.
fn denied_table() -> Result<RunSummary, Error> {
    match db::query("SELECT * FROM runs", &[]) {
        Err(Error::Denied(msg)) => Ok(RunSummary::new(format!("denied: {msg}"))),
        Err(e) => Err(Error::invalid(format!("expected denied, got {e:?}"))),
        Ok(_) => Err(Error::invalid("the host let a plugin read the runs table")),
    }
}

/// Tries outbound HTTP; reports what the host answered.
fn http() -> Result<RunSummary, Error> {
    let answer = connector_sdk::http::Request::get("http://127.0.0.1:9/").send();
    match answer {
        Ok(r) => Ok(RunSummary::new(format!("status {}", r.status))),
        Err(e) => Err(e),
    }
}

/// One scripted request, from the `requests` setting.
#[derive(serde::Deserialize)]
struct Scripted {
    #[serde(default = "get")]
    method: String,
    url: String,
    auth: Option<String>,
    #[serde(default)]
    headers: Vec<(String, String)>,
    body: Option<String>,
    timeout_ms: Option<u32>,
    idempotent: Option<bool>,
    #[serde(default)]
    rate_limits: Vec<String>,
}

fn get() -> String {
    "GET".into()
}

/// Sends the `requests` setting `repeat` times; the summary is a JSON array of what each
/// request got (status, headers and the start of the body, or the error), or counts when long.
fn http_script() -> Result<RunSummary, Error> {
    use connector_sdk::http::{Method, Request};
    let script: Vec<Scripted> = config::get_or("requests", Vec::new())?;
    let repeat: u32 = config::get_or("repeat", 1)?;
    let mut results = Vec::new();
    let (mut ok, mut failed) = (0u64, 0u64);
    for _ in 0..repeat {
        for s in &script {
            let method = match s.method.as_str() {
                "HEAD" => Method::Head,
                "POST" => Method::Post,
                "PUT" => Method::Put,
                "PATCH" => Method::Patch,
                "DELETE" => Method::Delete,
                _ => Method::Get,
            };
            let mut req = Request::new(method, s.url.clone());
            req.headers = s.headers.clone();
            req.auth = s.auth.clone();
            req.body = s.body.clone().map(String::into_bytes);
            req.timeout_ms = s.timeout_ms;
            req.idempotent = s.idempotent;
            req.rate_limits = s.rate_limits.clone();
            let result = match req.send() {
                Ok(r) => {
                    ok += 1;
                    let body = String::from_utf8_lossy(&r.body);
                    serde_json::json!({
                        "status": r.status,
                        "headers": r.headers,
                        "body": body.chars().take(600).collect::<String>(),
                        "len": r.body.len(),
                    })
                }
                Err(e) => {
                    failed += 1;
                    let message = match &e {
                        Error::RateLimited(r) => format!("{} {:?}", r.pool, r.retry_after_ms),
                        Error::Denied(m)
                        | Error::Transport(m)
                        | Error::Invalid(m)
                        | Error::Internal(m)
                        | Error::Unsupported(m)
                        | Error::Upstream(m) => m.clone(),
                        Error::Timeout | Error::TooLarge => String::new(),
                    };
                    serde_json::json!({ "error": e.kind(), "message": message })
                }
            };
            results.push(result);
        }
    }
    let summary = if results.len() <= 4 {
        serde_json::Value::Array(results).to_string()
    } else {
        serde_json::json!({ "ok": ok, "failed": failed }).to_string()
    };
    Ok(RunSummary::new(summary)
        .counter("ok", ok)
        .counter("failed", failed))
}

/// Sends the first scripted request `repeat` times and only counts the answers: the plugin's
/// own work per request is as small as it gets (for the host-overhead benchmark).
fn http_loop() -> Result<RunSummary, Error> {
    let script: Vec<Scripted> = config::get_or("requests", Vec::new())?;
    let repeat: u64 = config::get_or("repeat", 1)?;
    let first = script
        .first()
        .ok_or_else(|| Error::invalid("no requests"))?;
    let request = connector_sdk::http::Request::get(first.url.clone());
    let (mut ok, mut bytes) = (0u64, 0u64);
    for _ in 0..repeat {
        let response = request.send()?;
        ok += u64::from(response.status == 200);
        bytes += response.body.len() as u64;
    }
    Ok(RunSummary::new(format!("{ok} ok"))
        .counter("ok", ok)
        .counter("bytes", bytes))
}

/// Sends a log message past the host's cap; succeeds if the host survives it.
fn big_log() -> Result<RunSummary, Error> {
    let huge = "x".repeat(1 << 20);
    log::info(&huge, &[("k", "v")]);
    match state::set("k", &huge) {
        Err(Error::TooLarge) => Ok(RunSummary::new("state value refused as too large")),
        Err(e) => Err(Error::invalid(format!("expected too-large, got {e:?}"))),
        Ok(()) => Err(Error::invalid("the host stored a 1 MiB state value")),
    }
}

fn stdout() -> Result<RunSummary, Error> {
    println!("hello from stdout");
    eprintln!("hello from stderr");
    Ok(RunSummary::new("printed"))
}

connector_sdk::export_connector!(Testkit);
