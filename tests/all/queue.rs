use chrono::{Duration as Span, Utc};
use connector_host::runner::{JobBatch, JobStatus, RunRequest, Runner};
use connector_host::store::{JobFilter, RunStatus, Store};
use connector_tests::db::TestDb;
use connector_tests::host::{start, FakeEnv, TestHost};
use serde_json::{json, Value};

/// A testkit connector that enqueues `jobs` when run with job "enqueue".
fn kit(jobs: Value, extra: &str) -> String {
    format!(
        "[queue]\nbackoff_base = \"1m\"\nbackoff_cap = \"1h\"\nlease = \"5m\"\n\n\
         [connectors.kit]\nplugin = {{plugin:testkit}}\ntables = [\"kit_items\"]\ntimeout = \"20s\"\n\
         settings = {{ jobs = {} {extra} }}\n",
        toml(&jobs)
    )
}

fn toml(v: &Value) -> String {
    match v {
        Value::Array(a) => format!("[{}]", a.iter().map(toml).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{ {} }}",
            o.iter()
                .map(|(k, v)| format!("{k} = {}", toml(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

async fn enqueue(host: &TestHost) -> Vec<i64> {
    let req = RunRequest {
        job: Some("enqueue".into()),
        ..RunRequest::manual()
    };
    let o = host.runner.run("kit", req).await.unwrap();
    assert_eq!(o.status, RunStatus::Succeeded, "{o:?}");
    serde_json::from_str(o.summary.as_deref().unwrap()).unwrap()
}

async fn items(store: &Store) -> Vec<String> {
    let sql = "SELECT id FROM kit_items ORDER BY id";
    store
        .fetch_as::<(String,)>(sql)
        .await
        .unwrap()
        .into_iter()
        .map(|(id,)| id)
        .collect()
}

async fn job(store: &Store, id: i64) -> connector_host::store::JobRecord {
    let all = store.list_jobs(&JobFilter::default(), 1000).await.unwrap();
    all.into_iter().find(|j| j.id == id).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_enqueued_by_a_failed_run_never_exist() {
    for db in TestDb::all("queue_rollback").await.unwrap() {
        let host = start(
            &db,
            &kit(json!([{ "kind": "ok" }]), ", fail_after_enqueue = true"),
            &FakeEnv::default(),
        )
        .await
        .unwrap();
        let req = RunRequest {
            job: Some("enqueue".into()),
            ..RunRequest::manual()
        };
        let o = host.runner.run("kit", req).await.unwrap();
        assert_eq!(o.status, RunStatus::Failed);
        assert!(
            host.runner
                .store
                .list_jobs(&JobFilter::default(), 10)
                .await
                .unwrap()
                .is_empty(),
            "{}",
            db.backend
        );
        assert!(host
            .runner
            .process_next_job("w", Utc::now())
            .await
            .unwrap()
            .is_none());
        host.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_delivered_and_its_writes_commit_with_its_completion() {
    for db in TestDb::all("queue_deliver").await.unwrap() {
        let host = start(
            &db,
            &kit(json!([{ "kind": "ok", "payload": {"n": 1} }]), ""),
            &FakeEnv::default(),
        )
        .await
        .unwrap();
        let ids = enqueue(&host).await;
        let done = host
            .runner
            .process_next_job("w", Utc::now())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (done.job.id, done.status),
            (ids[0], JobStatus::Completed),
            "{}",
            db.backend
        );
        assert_eq!(done.job.payload, r#"{"n":1}"#);
        assert_eq!(
            items(&host.runner.store).await,
            vec![format!("job-{}", ids[0])]
        );
        let record = job(&host.runner.store, ids[0]).await;
        assert_eq!((record.status.as_str(), record.attempts), ("completed", 1));
        assert!(host
            .runner
            .process_next_job("w", Utc::now())
            .await
            .unwrap()
            .is_none());
        host.runner.shutdown().await;
    }
}

/// An attempt that fails after a while is retried a back-off after its failure, not after its
/// lease began (which, for an attempt longer than the back-off, meant at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_back_off_counts_from_the_failure() {
    for db in TestDb::all("queue_backoff_from_failure").await.unwrap() {
        let text = kit(json!([{ "kind": "sleep-fail" }]), ", job_sleep_ms = 2000")
            .replace("backoff_base = \"1m\"", "backoff_base = \"1s\"");
        let host = start(&db, &text, &FakeEnv::default()).await.unwrap();
        enqueue(&host).await;
        let leased = Utc::now();
        let outcome = host
            .runner
            .process_next_job("w", leased)
            .await
            .unwrap()
            .unwrap();
        let failed = Utc::now();
        assert_eq!(outcome.status, JobStatus::Retrying, "{outcome:?}");
        let retry_at = outcome.retry_at.unwrap();
        // base · 2^1 = 2 s after the failure (the attempt itself took 2 s).
        assert!(
            retry_at >= failed + Span::milliseconds(1900),
            "{}: retried {} after the failure",
            db.backend,
            retry_at - failed
        );
        host.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_attempts_back_off_exponentially_then_dead_letter() {
    for db in TestDb::all("queue_backoff").await.unwrap() {
        let host = start(
            &db,
            &kit(json!([{ "kind": "fail", "max_attempts": 3 }]), ""),
            &FakeEnv::default(),
        )
        .await
        .unwrap();
        let id = enqueue(&host).await[0];
        let t0 = Utc::now() + Span::seconds(1);
        let r = &host.runner;

        let first = r.process_next_job("w", t0).await.unwrap().unwrap();
        assert_eq!(first.status, JobStatus::Retrying, "{}", db.backend);
        let after = |t: chrono::DateTime<Utc>, at: Option<chrono::DateTime<Utc>>| {
            let wait = at.unwrap() - t;
            (wait, wait - Span::seconds(10))
        };
        let (wait, slack) = after(t0, first.retry_at);
        assert!(
            wait >= Span::minutes(2) && slack < Span::minutes(2),
            "base · 2^1 after the first failure: {wait}"
        );
        assert!(
            r.process_next_job("w", t0 + Span::seconds(119))
                .await
                .unwrap()
                .is_none(),
            "not due yet"
        );

        let t1 = first.retry_at.unwrap();
        let second = r.process_next_job("w", t1).await.unwrap().unwrap();
        let (wait, slack) = after(t1, second.retry_at);
        assert!(
            wait >= Span::minutes(4) && slack < Span::minutes(4),
            "base · 2^2 after the second: {wait}"
        );

        let t2 = second.retry_at.unwrap();
        let third = r.process_next_job("w", t2).await.unwrap().unwrap();
        assert_eq!(
            (third.status, third.retry_at),
            (JobStatus::Failed, None),
            "max_attempts reached"
        );
        let record = job(&r.store, id).await;
        assert_eq!(record.status, "failed");
        assert_eq!(record.attempts, 3);
        assert_eq!(record.last_error.as_deref(), Some("attempt 3 failed"));
        assert!(
            items(&r.store).await.is_empty(),
            "a failed attempt's writes are rolled back"
        );
        assert!(
            r.process_next_job("w", t2 + Span::days(1))
                .await
                .unwrap()
                .is_none(),
            "dead letters stay dead"
        );

        // An operator can give it another chance.
        let filter = JobFilter::default();
        assert_eq!(
            r.store
                .retry_failed_jobs(Some(id), &filter, t2)
                .await
                .unwrap(),
            1
        );
        assert_eq!(job(&r.store, id).await.status, "pending");
        r.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_errors_and_traps_are_handled_per_their_kind() {
    for db in TestDb::all("queue_permanent").await.unwrap() {
        let jobs = json!([{ "kind": "permanent" }, { "kind": "trap" }]);
        let host = start(&db, &kit(jobs, ""), &FakeEnv::default())
            .await
            .unwrap();
        let ids = enqueue(&host).await;
        let now = Utc::now() + Span::seconds(1);
        let a = host
            .runner
            .process_next_job("w", now)
            .await
            .unwrap()
            .unwrap();
        let b = host
            .runner
            .process_next_job("w", now)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (a.job.id, a.status),
            (ids[0], JobStatus::Failed),
            "{}",
            db.backend
        );
        assert_eq!(a.error.as_deref(), Some("this job can never work"));
        assert_eq!((b.job.id, b.status), (ids[1], JobStatus::Retrying));
        assert!(
            b.error.unwrap().contains("job"),
            "a trap is retried with its message"
        );
        host.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_left_by_a_dead_worker_expires_and_the_job_runs_again() {
    for db in TestDb::all("queue_lease").await.unwrap() {
        let host = start(
            &db,
            &kit(json!([{ "kind": "ok" }]), ""),
            &FakeEnv::default(),
        )
        .await
        .unwrap();
        let id = enqueue(&host).await[0];
        let now = Utc::now() + Span::seconds(1);
        let r = &host.runner;
        // A worker leases the job and dies without finishing it.
        let lease = std::time::Duration::from_secs(300);
        let taken = r
            .store
            .lease_jobs(&["kit".to_owned()], "dead", now, lease, 1)
            .await
            .unwrap()
            .remove(0);
        assert_eq!(taken.id, id);
        assert!(
            r.process_next_job("live", now + Span::minutes(4))
                .await
                .unwrap()
                .is_none(),
            "still leased"
        );
        let done = r
            .process_next_job("live", now + Span::minutes(6))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (done.job.id, done.status, done.job.attempts),
            (id, JobStatus::Completed, 2),
            "{}",
            db.backend
        );
        // The dead worker's late completion is refused: the lease is no longer its own.
        assert_eq!(job(&r.store, id).await.status, "completed");
        r.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_never_run_the_same_job() {
    for db in TestDb::all("queue_two_workers").await.unwrap() {
        let jobs: Vec<Value> = (0..16).map(|_| json!({ "kind": "slow" })).collect();
        let text = kit(Value::Array(jobs), "");
        let a = start(&db, &text, &FakeEnv::default()).await.unwrap();
        let path = a.dir.path().join("connectors.toml");
        let (m, s) = connector_host::manifest::Manifest::load(&path, &FakeEnv::default()).unwrap();
        let b = Runner::start(m, s).await.unwrap();
        enqueue(&a).await;
        let (done_a, done_b) =
            tokio::join!(a.runner.drain_queue("a", 100), b.drain_queue("b", 100));
        let (done_a, done_b) = (done_a.unwrap(), done_b.unwrap());
        assert_eq!(
            done_a.len() + done_b.len(),
            16,
            "{}: {} + {}",
            db.backend,
            done_a.len(),
            done_b.len()
        );
        assert!(done_a
            .iter()
            .chain(&done_b)
            .all(|o| o.status == JobStatus::Completed));
        let mut ids: Vec<i64> = done_a.iter().chain(&done_b).map(|o| o.job.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 16, "a job was delivered twice");
        assert_eq!(items(&a.runner.store).await.len(), 16);
        for j in a
            .runner
            .store
            .list_jobs(&JobFilter::default(), 100)
            .await
            .unwrap()
        {
            assert_eq!(j.attempts, 1, "job {} was leased more than once", j.id);
        }
        b.shutdown().await;
        a.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dedup_key_keeps_one_unfinished_job_per_key() {
    for db in TestDb::all("queue_dedup").await.unwrap() {
        let jobs = json!([
            { "kind": "ok", "dedup_key": "order-7" },
            { "kind": "ok", "dedup_key": "order-7" },
            { "kind": "ok", "dedup_key": "order-8" },
        ]);
        let host = start(&db, &kit(jobs, ""), &FakeEnv::default())
            .await
            .unwrap();
        let ids = enqueue(&host).await;
        assert_eq!(
            ids[0], ids[1],
            "{}: the same key gives the same job",
            db.backend
        );
        assert_ne!(ids[0], ids[2]);
        host.runner.drain_queue("w", 10).await.unwrap();
        // Once finished, the key is free again.
        let again = enqueue(&host).await;
        assert!(again[0] > ids[2], "{again:?} vs {ids:?}");
        host.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_leases_jobs_in_batches_and_hands_back_the_unstarted_ones_when_stopped() {
    for db in TestDb::all("queue_batch").await.unwrap() {
        let jobs: Vec<Value> = (0..40).map(|_| json!({ "kind": "ok" })).collect();
        let host = start(&db, &kit(Value::Array(jobs), ""), &FakeEnv::default())
            .await
            .unwrap();
        let r = &host.runner;
        let ids = enqueue(&host).await;
        assert_eq!(ids.len(), 40);
        // Stopped after the first of a batch of three: the other two go back unattempted.
        let checks = std::sync::atomic::AtomicUsize::new(0);
        let stop = || checks.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 1;
        let mut batch = JobBatch::with_size(3);
        let done = r
            .work_batch("w", Utc::now(), &mut batch, &stop)
            .await
            .unwrap();
        assert_eq!(done.len(), 1, "{}", db.backend);
        assert_eq!(done[0].status, JobStatus::Completed);
        let first = done[0].job.id;
        let listed = r.store.list_jobs(&JobFilter::default(), 100).await.unwrap();
        let pending: Vec<_> = listed
            .iter()
            .filter(|j| j.status == "pending" && j.attempts == 0)
            .collect();
        assert_eq!(pending.len(), 39, "{}: {listed:?}", db.backend);
        assert!(
            listed.iter().all(|j| j.status != "processing"),
            "{}: a released job is still held: {listed:?}",
            db.backend
        );
        // The rest, in batches: each delivered once, oldest first, on its first attempt.
        let done = r.drain_queue("w", 100).await.unwrap();
        let mut order: Vec<i64> = done.iter().map(|o| o.job.id).collect();
        assert_eq!(order.len(), 39, "{}", db.backend);
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
        assert!(done
            .iter()
            .all(|o| o.status == JobStatus::Completed && o.job.attempts == 1));
        order.push(first);
        order.sort();
        assert_eq!(order, ids, "{}", db.backend);
        assert_eq!(items(&r.store).await.len(), 40, "{}", db.backend);
        host.runner.shutdown().await;
    }
}
