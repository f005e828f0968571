//! The scheduler on real databases with real plugins: overlap policies, missed-fire policies
//! after simulated downtime, exactly-once firing by three hosts on one database, and a host
//! killed mid-run whose run another host marks abandoned and retries, and fires claimed ahead.

use crate::host_binary;
use chrono::{DateTime, Duration as Span, TimeZone, Utc};
use connector_host::daemon::{Clock, ManualClock, SystemClock};
use connector_host::manifest::Manifest;
use connector_host::manifest::Overlap;
use connector_host::runner::Runner;
use connector_host::store::{Claim, FireClaim, FireKey, RunRecord, Store, TriggerKind};
use connector_tests::daemon::{start_daemon, start_with, TestDaemon};
use connector_tests::db::TestDb;
use connector_tests::host::{manifest, FakeEnv};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

fn kit(schedules: &str, extra: &str) -> String {
    format!(
        "[runtime]\nrun_lease = \"3s\"\nqueue_workers = 0\n\n\
         [connectors.kit]\nplugin = {{plugin:testkit}}\ntables = [\"kit_items\"]\ntimeout = \"60s\"\n\
         settings = {{ sleep_ms = 1500 }}\n{extra}\n{schedules}"
    )
}

async fn runs(store: &Store) -> Vec<RunRecord> {
    let mut runs = store.recent_runs(10_000, None).await.unwrap();
    runs.reverse();
    runs
}

async fn wait_for<F: Fn(&[RunRecord]) -> bool>(store: &Store, what: &str, ok: F) -> Vec<RunRecord> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let all = runs(store).await;
        if ok(&all) {
            return all;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}; runs: {all:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn second(t: DateTime<Utc>) -> DateTime<Utc> {
    Utc.timestamp_opt(t.timestamp(), 0).unwrap()
}

async fn overlap_daemon(db: &TestDb, overlap: &str) -> (TestDaemon, DateTime<Utc>) {
    let text = kit(
        &format!(
            "[connectors.kit.schedules.tick]\ncron = \"* * * * * *\"\njob = \"sleep\"\noverlap = \"{overlap}\"\n"
        ),
        "",
    );
    let d = start_daemon(db, &text, &FakeEnv::default(), Arc::new(SystemClock))
        .await
        .unwrap();
    // Fires after the daemon's start (its schedules begin at its clock's now).
    (d, second(Utc::now()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlap_skip_drops_fires_while_the_previous_run_is_going() {
    for db in TestDb::all("overlap_skip").await.unwrap() {
        let (d, base) = overlap_daemon(&db, "skip").await;
        let store = d.daemon.runner().store.clone();
        d.daemon.tick(base + Span::seconds(1)).await;
        wait_for(&store, "the first run to start", |r| r.len() == 1).await;
        d.daemon.tick(base + Span::seconds(2)).await;
        d.daemon.tick(base + Span::seconds(3)).await;
        assert!(d.daemon.wait_idle(Duration::from_secs(30)).await);
        let all = runs(&store).await;
        assert_eq!(all.len(), 1, "{}: {all:#?}", db.backend);
        assert_eq!(all[0].status, "succeeded");
        assert_eq!(all[0].scheduled_for, Some(base + Span::seconds(1)));
        let counts = store.fire_counts("kit").await.unwrap();
        assert_eq!(
            counts,
            [
                ("tick".into(), "done".into(), 1),
                ("tick".into(), "skipped".into(), 2)
            ],
            "{}",
            db.backend
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlap_queue_one_runs_once_more_when_the_run_ends() {
    for db in TestDb::all("overlap_queue").await.unwrap() {
        let (d, base) = overlap_daemon(&db, "queue-one").await;
        let store = d.daemon.runner().store.clone();
        d.daemon.tick(base + Span::seconds(1)).await;
        wait_for(&store, "the first run to start", |r| r.len() == 1).await;
        for s in 2..=4 {
            d.daemon.tick(base + Span::seconds(s)).await;
            // Fires a second apart are claimed in order; ticks in a burst need a pause.
            wait_fires(&store, s).await;
        }
        assert!(d.daemon.wait_idle(Duration::from_secs(30)).await);
        let all = runs(&store).await;
        assert_eq!(all.len(), 2, "{}: {all:#?}", db.backend);
        assert_eq!(all[1].scheduled_for, Some(base + Span::seconds(2)));
        assert!(all[1].started_at >= all[0].finished_at.unwrap(), "{all:#?}");
        assert!(all.iter().all(|r| r.status == "succeeded"));
        let counts = store.fire_counts("kit").await.unwrap();
        assert_eq!(
            counts,
            [
                ("tick".into(), "done".into(), 2),
                ("tick".into(), "skipped".into(), 2)
            ],
            "{}",
            db.backend
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlap_allow_runs_alongside() {
    for db in TestDb::all("overlap_allow").await.unwrap() {
        let (d, base) = overlap_daemon(&db, "allow").await;
        let store = d.daemon.runner().store.clone();
        d.daemon.tick(base + Span::seconds(1)).await;
        d.daemon.tick(base + Span::seconds(2)).await;
        assert!(d.daemon.wait_idle(Duration::from_secs(30)).await);
        let all = runs(&store).await;
        assert_eq!(all.len(), 2, "{}: {all:#?}", db.backend);
        let first_end = all.iter().map(|r| r.finished_at.unwrap()).min().unwrap();
        let last_start = all.iter().map(|r| r.started_at).max().unwrap();
        assert!(last_start < first_end, "the runs did not overlap: {all:#?}");
    }
}

async fn wait_fires(store: &Store, n: i64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let counts = store.fire_counts("kit").await.unwrap();
        if counts.iter().map(|c| c.2).sum::<i64>() >= n {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "fires: {counts:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts a daemon whose schedule last fired at `last` (as recorded by an earlier host), with
/// the clock at `now`, ticks once and returns the runs.
async fn after_downtime(
    db: &TestDb,
    schedule: &str,
    last: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (TestDaemon, Vec<RunRecord>) {
    let text = kit(schedule, "");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("connectors.toml");
    std::fs::write(&path, manifest(db, &text)).unwrap();
    let (m, secrets) = Manifest::load(&path, &FakeEnv::default()).unwrap();
    let runner = Runner::start(m, secrets).await.unwrap();
    let key = FireKey {
        connector: "kit".into(),
        schedule: "catch".into(),
        scheduled_for: last,
    };
    let lease = last + Span::seconds(30);
    let claim = FireClaim {
        key: key.clone(),
        trigger: TriggerKind::Schedule,
        overlap: Overlap::Skip,
    };
    let claimed = runner
        .store
        .claim_fires(&[claim], "earlier-host", last, lease)
        .await
        .unwrap();
    assert_eq!(claimed, [Claim::Run]);
    runner
        .store
        .fire_done(&key, false, "earlier-host", last, lease)
        .await
        .unwrap();
    let clock = Arc::new(ManualClock::new(now));
    let d = start_with(runner, path, dir, db, &FakeEnv::default(), clock)
        .await
        .unwrap();
    d.daemon.tick(now).await;
    assert!(d.daemon.wait_idle(Duration::from_secs(30)).await);
    let all = runs(&d.daemon.runner().store).await;
    (d, all)
}

fn fires(runs: &[RunRecord]) -> Vec<(String, String)> {
    runs.iter()
        .map(|r| {
            (
                r.scheduled_for.unwrap().format("%H:%M").to_string(),
                r.trigger.to_string(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_fires_follow_the_policy_after_downtime() {
    // Every five minutes; the last fire anyone ran was 09:40; the host comes back at 10:11:30,
    // so 09:45 … 10:10 were missed (the newest, 10:10, is 90 s old: not on time).
    let t = |h, m, s| Utc.with_ymd_and_hms(2026, 3, 2, h, m, s).unwrap();
    let (last, now) = (t(9, 40, 0), t(10, 11, 30));
    let every5 = |policy: &str| {
        format!(
            "[connectors.kit.schedules.catch]\ncron = \"*/5 * * * *\"\njob = \"noop\"\n{policy}\n"
        )
    };
    for db in TestDb::all("missed_fires").await.unwrap() {
        let (_, all) = after_downtime(&db, &every5(""), last, now).await;
        assert_eq!(
            fires(&all),
            pairs(&[("10:10", "catch-up")]),
            "coalesce on {}",
            db.backend
        );

        let db2 = fresh(&db).await;
        let policy = "missed = \"catch-up\"\ncatch_up_max = 4";
        let (_, all) = after_downtime(&db2, &every5(policy), last, now).await;
        let want = [
            ("09:55", "catch-up"),
            ("10:00", "catch-up"),
            ("10:05", "catch-up"),
            ("10:10", "catch-up"),
        ];
        assert_eq!(
            fires(&all),
            pairs(&want),
            "catch-up max 4 on {}",
            db.backend
        );

        let db3 = fresh(&db).await;
        let policy = "missed = \"catch-up\"\ncatch_up_window = \"17m\"";
        let (_, all) = after_downtime(&db3, &every5(policy), last, now).await;
        let want = [
            ("09:55", "catch-up"),
            ("10:00", "catch-up"),
            ("10:05", "catch-up"),
            ("10:10", "catch-up"),
        ];
        assert_eq!(
            fires(&all),
            pairs(&want),
            "catch-up window 17m on {}",
            db.backend
        );

        let db4 = fresh(&db).await;
        let (d, all) = after_downtime(&db4, &every5("missed = \"skip\""), last, now).await;
        assert!(all.is_empty(), "skip ran {all:#?}");
        // The next fire after the downtime runs as usual.
        d.daemon.tick(t(10, 15, 0)).await;
        assert!(d.daemon.wait_idle(Duration::from_secs(30)).await);
        let all = runs(&d.daemon.runner().store).await;
        assert_eq!(
            fires(&all),
            pairs(&[("10:15", "schedule")]),
            "skip on {}",
            db.backend
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fire_that_is_only_a_little_late_runs_as_scheduled_and_coalesces_the_rest() {
    // Every minute; down from 10:00 to 10:11:30: ten fires missed, 10:11 is 30 s old (on time).
    let t = |h, m, s| Utc.with_ymd_and_hms(2026, 3, 2, h, m, s).unwrap();
    let schedule = "[connectors.kit.schedules.catch]\ncron = \"* * * * *\"\njob = \"noop\"\n";
    let db = TestDb::sqlite().unwrap();
    let (d, all) = after_downtime(&db, schedule, t(10, 0, 0), t(10, 11, 30)).await;
    assert_eq!(fires(&all), pairs(&[("10:11", "schedule")]));
    let dropped = d
        .daemon
        .stats
        .dropped
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(dropped, 10);
}

/// Another fresh database on the same backend as `db`.
async fn fresh(db: &TestDb) -> TestDb {
    match db.backend {
        "postgres" => TestDb::postgres("missed_fires").await.unwrap().unwrap(),
        _ => TestDb::sqlite().unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hosts_on_one_database_run_each_of_200_fires_exactly_once() {
    for db in TestDb::all("three_hosts").await.unwrap() {
        // Ten schedules firing every second, twenty seconds: 200 fires. Each host has its own
        // pools, engine and scheduler; all tick the same instants at the same time.
        let schedules: String = (0..10)
            .map(|i| {
                format!(
                    "[connectors.kit.schedules.s{i}]\ncron = \"* * * * * *\"\njob = \"noop\"\noverlap = \"allow\"\n"
                )
            })
            .collect();
        let text = kit(&schedules, "");
        let base = Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap();
        let clock = Arc::new(ManualClock::new(base));
        let mut hosts = Vec::new();
        for _ in 0..3 {
            let c: Arc<dyn Clock> = clock.clone();
            hosts.push(
                start_daemon(&db, &text, &FakeEnv::default(), c)
                    .await
                    .unwrap(),
            );
        }
        for s in 1..=20 {
            let at = base + Span::seconds(s);
            clock.set(at);
            futures::future::join_all(hosts.iter().map(|h| h.daemon.tick(at))).await;
        }
        for h in &hosts {
            assert!(h.daemon.wait_idle(Duration::from_secs(60)).await);
        }
        let store = &hosts[0].daemon.runner().store;
        let all = runs(store).await;
        assert_eq!(all.len(), 200, "{}", db.backend);
        let identities: BTreeSet<(String, DateTime<Utc>)> = all
            .iter()
            .map(|r| (r.schedule.clone().unwrap(), r.scheduled_for.unwrap()))
            .collect();
        assert_eq!(identities.len(), 200, "a fire ran twice on {}", db.backend);
        assert!(all.iter().all(|r| r.status == "succeeded"));
        let by_host: BTreeMap<String, usize> = all.iter().fold(BTreeMap::new(), |mut m, r| {
            *m.entry(r.host.clone().unwrap()).or_default() += 1;
            m
        });
        let ran: u64 = hosts
            .iter()
            .map(|h| {
                h.daemon
                    .stats
                    .run
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .sum();
        let taken: u64 = hosts
            .iter()
            .map(|h| {
                h.daemon
                    .stats
                    .taken
                    .load(std::sync::atomic::Ordering::Relaxed)
            })
            .sum();
        assert_eq!((ran, taken), (200, 400), "{}: {by_host:?}", db.backend);
        eprintln!("{}: runs by host {by_host:?}", db.backend);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_hosts_run_is_marked_abandoned_and_retried_by_a_live_host() {
    for db in TestDb::all("killed_host").await.unwrap() {
        let schedule = "[connectors.kit.schedules.slow]\ncron = \"* * * * * *\"\njob = \"sleep\"\n\
                        max_attempts = 2\n";
        let text = kit(schedule, "").replace("sleep_ms = 1500", "sleep_ms = 60000");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("connectors.toml");
        std::fs::write(&path, manifest(&db, &text)).unwrap();
        // Host A: a real process, killed with SIGKILL once its run is going.
        let store = Store::connect(&db.url).await.unwrap();
        store.migrate().await.unwrap();
        let mut a = std::process::Command::new(host_binary())
            .args(["serve", "--listen", "127.0.0.1:0", "--manifest"])
            .arg(&path)
            .env("CONNECTOR_HOST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let started = loop {
            let all = runs(&store).await;
            if all.iter().any(|r| r.status == "running") {
                break all;
            }
            if let Some(status) = a.try_wait().unwrap() {
                let mut err = String::new();
                std::io::Read::read_to_string(a.stderr.as_mut().unwrap(), &mut err).unwrap();
                panic!("host A exited with {status}: {err}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "host A never started a run"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        a.kill().unwrap();
        a.wait().unwrap();
        let victim = started
            .iter()
            .find(|r| r.status == "running")
            .unwrap()
            .clone();

        // Host B: in process, with the same manifest; it does not fire, only sweeps.
        let (m, secrets) = Manifest::load(&path, &FakeEnv::default()).unwrap();
        let runner = Runner::start(m, secrets).await.unwrap();
        let b_id = runner.host_id().to_owned();
        let d = start_with(
            runner,
            path,
            dir,
            &db,
            &FakeEnv::default(),
            Arc::new(SystemClock),
        )
        .await
        .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let abandoned = loop {
            let found = d.daemon.sweep(Utc::now()).await.unwrap();
            if !found.is_empty() {
                break found;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "nothing was abandoned"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(abandoned, [victim.id], "{}", db.backend);
        let all = wait_for(&store, "the retry to start", |r| {
            r.iter().any(|r| r.trigger == "retry")
        })
        .await;
        let dead = all.iter().find(|r| r.id == victim.id).unwrap();
        assert_eq!(dead.status, "abandoned");
        assert_eq!(dead.error_kind.as_deref(), Some("abandoned"));
        let retry = all.iter().find(|r| r.trigger == "retry").unwrap();
        assert_eq!(retry.attempt, 2);
        assert_eq!(retry.scheduled_for, victim.scheduled_for);
        assert_eq!(retry.schedule.as_deref(), Some("slow"));
        assert_eq!(retry.host.as_deref(), Some(b_id.as_str()));
        // A second sweep finds nothing more: the retry holds a fresh lease.
        assert!(d.daemon.sweep(Utc::now()).await.unwrap().is_empty());
        let report = d.daemon.shutdown(Duration::ZERO).await;
        assert_eq!(report.interrupted, [retry.id]);
        let after = store.run_by_id(retry.id).await.unwrap().unwrap();
        assert_eq!(after.status, "interrupted", "{}", db.backend);
        store.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_firing_different_instants_at_once_still_run_one_at_a_time() {
    for db in TestDb::all("skip_across_hosts").await.unwrap() {
        // Host B's clock is a second ahead of host A's: each fires a different instant of the
        // same schedule at the same moment. Overlap `skip` must still let only one run.
        let text = kit(
            "[connectors.kit.schedules.tick]\ncron = \"* * * * * *\"\njob = \"sleep\"\n",
            "",
        );
        let a = start_daemon(&db, &text, &FakeEnv::default(), Arc::new(SystemClock))
            .await
            .unwrap();
        let b = start_daemon(&db, &text, &FakeEnv::default(), Arc::new(SystemClock))
            .await
            .unwrap();
        let base = second(Utc::now());
        for s in 1..=3 {
            futures::future::join(
                a.daemon.tick(base + Span::seconds(2 * s - 1)),
                b.daemon.tick(base + Span::seconds(2 * s)),
            )
            .await;
        }
        assert!(a.daemon.wait_idle(Duration::from_secs(30)).await);
        assert!(b.daemon.wait_idle(Duration::from_secs(30)).await);
        let all = runs(&a.daemon.runner().store).await;
        assert_eq!(all.len(), 1, "{}: {all:#?}", db.backend);
        let counts = a.daemon.runner().store.fire_counts("kit").await.unwrap();
        assert_eq!(
            counts,
            [
                ("tick".into(), "done".into(), 1),
                ("tick".into(), "skipped".into(), 5)
            ],
            "{}",
            db.backend
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fire_whose_host_died_before_running_it_blocks_until_its_lease_runs_out_then_runs() {
    for db in TestDb::all("stale_fire").await.unwrap() {
        let text = kit(
            "[connectors.kit.schedules.tick]\ncron = \"* * * * * *\"\njob = \"noop\"\n",
            "",
        );
        let d = start_daemon(&db, &text, &FakeEnv::default(), Arc::new(SystemClock))
            .await
            .unwrap();
        let store = d.daemon.runner().store.clone();
        // A host claimed a fire and died before recording its run.
        let base = second(Utc::now());
        let dead = FireClaim {
            key: FireKey {
                connector: "kit".into(),
                schedule: "tick".into(),
                scheduled_for: base,
            },
            trigger: TriggerKind::Schedule,
            overlap: Overlap::Skip,
        };
        let lease_end = base + Span::seconds(3);
        let claimed = store
            .claim_fires(&[dead], "dead-host", base, lease_end)
            .await
            .unwrap();
        assert_eq!(claimed, [Claim::Run]);
        d.daemon.tick(base + Span::seconds(1)).await;
        assert!(d.daemon.wait_idle(Duration::from_secs(10)).await);
        assert!(
            runs(&store).await.is_empty(),
            "ran beside a fire still leased"
        );
        // Once the lease has run out, the sweep runs the fire (its first attempt, on this host);
        // it ends like any run, so the next fire runs too.
        d.daemon.sweep(lease_end + Span::seconds(1)).await.unwrap();
        assert!(d.daemon.wait_idle(Duration::from_secs(10)).await);
        d.daemon.tick(base + Span::seconds(5)).await;
        assert!(d.daemon.wait_idle(Duration::from_secs(10)).await);
        let all: Vec<_> = runs(&store)
            .await
            .into_iter()
            .map(|r| {
                (
                    r.scheduled_for.unwrap(),
                    r.trigger,
                    r.attempt,
                    r.status.as_str(),
                )
            })
            .collect();
        assert_eq!(
            all,
            [
                (base, TriggerKind::Retry, 1, "succeeded"),
                (
                    base + Span::seconds(5),
                    TriggerKind::Schedule,
                    1,
                    "succeeded"
                )
            ],
            "{}",
            db.backend
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpu_bound_run_keeps_its_lease_while_it_computes() {
    // The heartbeat shares the run's task: the guest must yield for it to beat.
    let db = TestDb::sqlite().unwrap();
    let text = kit("", "").replace("timeout = \"60s\"", "timeout = \"6s\"");
    let a = start_daemon(&db, &text, &FakeEnv::default(), Arc::new(SystemClock))
        .await
        .unwrap();
    // Another host on the same database: it sees only what is in the runs table.
    let b = start_daemon(&db, &text, &FakeEnv::default(), Arc::new(SystemClock))
        .await
        .unwrap();
    let runner = a.daemon.runner();
    let spinning = tokio::spawn({
        let runner = runner.clone();
        async move {
            let req = connector_host::runner::RunRequest {
                job: Some("spin".into()),
                ..connector_host::runner::RunRequest::manual()
            };
            runner.run("kit", req).await.unwrap()
        }
    });
    // Past the 3 s lease: the run must still hold it.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let abandoned = b.daemon.sweep(Utc::now()).await.unwrap();
    assert!(abandoned.is_empty(), "a computing run was taken for dead");
    // Were its lease to lapse (a heartbeat stuck behind a long write), its own host still
    // knows it is alive; another host does not.
    let id = runner.active_runs()[0];
    let past = (Utc::now() - Span::seconds(60)).to_rfc3339();
    runner
        .store
        .execute_sql(&format!(
            "UPDATE runs SET lease_until = '{past}' WHERE id = {id}"
        ))
        .await
        .unwrap();
    assert!(a.daemon.sweep(Utc::now()).await.unwrap().is_empty());
    assert_eq!(b.daemon.sweep(Utc::now()).await.unwrap(), [id]);
    let outcome = spinning.await.unwrap();
    assert_eq!(outcome.status.as_str(), "timeout");
    let record = runner.store.run_by_id(id).await.unwrap().unwrap();
    assert_eq!(
        record.status, "abandoned",
        "the late end overwrote the abandoned record"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_runs_than_instance_slots_wait_for_a_slot_instead_of_failing() {
    let db = TestDb::sqlite().unwrap();
    let text = kit("", "")
        .replace("queue_workers = 0", "queue_workers = 0\nmax_instances = 2")
        .replace("sleep_ms = 1500", "sleep_ms = 300");
    let d = start_daemon(&db, &text, &FakeEnv::default(), Arc::new(SystemClock))
        .await
        .unwrap();
    let runner = d.daemon.runner();
    let started = std::time::Instant::now();
    let outcomes = futures::future::join_all((0..5).map(|_| {
        let req = connector_host::runner::RunRequest {
            job: Some("sleep".into()),
            ..connector_host::runner::RunRequest::manual()
        };
        let runner = runner.clone();
        async move { runner.run("kit", req).await.unwrap() }
    }))
    .await;
    for o in &outcomes {
        assert_eq!(o.status.as_str(), "succeeded", "{o:?}");
    }
    // Two at a time: three rounds of 300 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(850),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_finished_fires_are_pruned_but_each_schedules_newest_stays() {
    for db in TestDb::all("prune_fires").await.unwrap() {
        let text = kit("", "");
        let d = start_daemon(&db, &text, &FakeEnv::default(), Arc::new(SystemClock))
            .await
            .unwrap();
        let store = d.daemon.runner().store.clone();
        let t0 = Utc.with_ymd_and_hms(2026, 7, 1, 12, 0, 0).unwrap();
        let at = |minutes: i64| t0 - Span::minutes(minutes);
        let fire = |schedule: &str, minutes: i64, overlap| FireClaim {
            key: FireKey {
                connector: "kit".into(),
                schedule: schedule.into(),
                scheduled_for: at(minutes),
            },
            trigger: TriggerKind::Schedule,
            overlap,
        };
        let lease = t0 + Span::hours(1);
        // Schedule s: done at -180 and -120 min, skipped at -90, newest done at -30, and one
        // still running from -150 (overlap allow). Schedule s2: one old fire, its newest.
        for (schedule, minutes, overlap, finish) in [
            ("s", 180, Overlap::Allow, true),
            ("s", 150, Overlap::Allow, false),
            ("s", 120, Overlap::Allow, true),
            ("s", 30, Overlap::Allow, true),
            ("s2", 300, Overlap::Skip, true),
        ] {
            let f = fire(schedule, minutes, overlap);
            assert_eq!(
                store
                    .claim_fires(std::slice::from_ref(&f), "h", at(minutes), lease)
                    .await
                    .unwrap(),
                [Claim::Run]
            );
            if finish {
                store
                    .fire_done(&f.key, false, "h", at(minutes), lease)
                    .await
                    .unwrap();
            }
        }
        // A skip-policy fire while a skip-policy one runs is recorded as skipped.
        let running = fire("s", 100, Overlap::Skip);
        store
            .claim_fires(std::slice::from_ref(&running), "h", at(100), lease)
            .await
            .unwrap();
        let skipped = fire("s", 90, Overlap::Skip);
        assert_eq!(
            store
                .claim_fires(&[skipped], "h", at(90), lease)
                .await
                .unwrap(),
            [Claim::Skipped]
        );
        store
            .fire_done(&running.key, false, "h", at(100), lease)
            .await
            .unwrap();

        let pruned = store.prune_fires(at(60), 1000).await.unwrap();
        // Gone: -180, -120, -100 (done) and -90 (skipped). Kept: the running -150, the newest
        // -30 of s, and s2's only fire.
        assert_eq!(pruned, 4, "{}", db.backend);
        let counts = store.fire_counts("kit").await.unwrap();
        assert_eq!(
            counts,
            [
                ("s".into(), "done".into(), 1),
                ("s".into(), "running".into(), 1),
                ("s2".into(), "done".into(), 1)
            ],
            "{}",
            db.backend
        );
        let last = store.last_fires().await.unwrap();
        assert_eq!(last[&("kit".to_owned(), "s".to_owned())], at(30));
        assert_eq!(last[&("kit".to_owned(), "s2".to_owned())], at(300));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fire_claimed_ahead_runs_once_at_its_instant_keeps_the_overlap_policy_and_is_never_lost()
{
    for db in TestDb::all("claim_ahead").await.unwrap() {
        let text = kit(
            "[connectors.kit.schedules.tick]\ncron = \"* * * * * *\"\njob = \"sleep\"\n",
            "",
        );
        let base = Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap();
        let clock = Arc::new(ManualClock::new(base));
        let start = |c: Arc<dyn Clock>| {
            let (db, text) = (&db, &text);
            async move {
                start_daemon(db, text, &FakeEnv::default(), c)
                    .await
                    .unwrap()
            }
        };
        let (a, b) = (start(clock.clone()).await, start(clock.clone()).await);
        let store = a.daemon.runner().store.clone();
        let a_host = a.daemon.runner().host_id().to_owned();
        let b_host = b.daemon.runner().host_id().to_owned();
        let ahead = |s: i64| base + Span::seconds(s) - Span::milliseconds(100);
        let history = || async {
            let mut h = store.fire_history("kit", None, 100).await.unwrap();
            h.reverse();
            h.into_iter()
                .map(|f| {
                    (
                        (f.scheduled_for - base).num_seconds(),
                        f.status,
                        f.skip_reason,
                        f.host == a_host,
                    )
                })
                .collect::<Vec<_>>()
        };

        // Claimed ahead: the fire is this host's before its instant; nothing runs yet, and
        // another host firing the same instant finds it taken.
        clock.set(ahead(1));
        let first = a.daemon.prepare(base + Span::seconds(1)).await;
        assert_eq!(
            (first.fires(), first.claimed_ahead()),
            (1, 1),
            "{}",
            db.backend
        );
        assert_eq!(
            history().await,
            [(1, "running".to_owned(), None, true)],
            "{}",
            db.backend
        );
        assert!(runs(&store).await.is_empty(), "{}", db.backend);
        clock.set(base + Span::seconds(1));
        b.daemon.tick(base + Span::seconds(1)).await;
        assert_eq!(
            b.daemon.stats.taken.load(Ordering::Relaxed),
            1,
            "{}",
            db.backend
        );
        a.daemon.fire(first).await;
        let started = wait_for(&store, "the claimed-ahead fire to run", |r| r.len() == 1).await;
        assert_eq!(started[0].host.as_deref(), Some(a_host.as_str()));
        assert_eq!(started[0].scheduled_for, Some(base + Span::seconds(1)));

        // The run (1.5 s) is still going a tenth of a second before the next instant: that fire
        // is not claimed ahead, and at its instant it is skipped, as overlap `skip` says.
        clock.set(ahead(2));
        let second = a.daemon.prepare(base + Span::seconds(2)).await;
        assert_eq!(second.claimed_ahead(), 0, "{}", db.backend);
        clock.set(base + Span::seconds(2));
        a.daemon.fire(second).await;
        b.daemon.tick(base + Span::seconds(2)).await;
        assert!(a.daemon.wait_idle(Duration::from_secs(30)).await);

        // A host that stops before the instant hands its claim back; another host, which found
        // the fire taken at its instant, runs it at its next sweep.
        clock.set(ahead(3));
        let third = a.daemon.prepare(base + Span::seconds(3)).await;
        assert_eq!(third.claimed_ahead(), 1, "{}", db.backend);
        clock.set(base + Span::seconds(3));
        b.daemon.tick(base + Span::seconds(3)).await;
        assert_eq!(
            b.daemon.stats.taken.load(Ordering::Relaxed),
            3,
            "{}",
            db.backend
        );
        a.daemon.release(third).await;
        b.daemon
            .sweep(base + Span::seconds(3) + Span::milliseconds(1))
            .await
            .unwrap();
        assert!(b.daemon.wait_idle(Duration::from_secs(30)).await);

        // Paused between the claim and the instant: recorded as skipped (paused), not run.
        clock.set(ahead(4));
        let fourth = a.daemon.prepare(base + Span::seconds(4)).await;
        assert_eq!(fourth.claimed_ahead(), 1, "{}", db.backend);
        store
            .pause(&connector_host::store::Pause {
                connector: "kit".into(),
                schedule: Some("tick".into()),
                reason: "maintenance".into(),
                paused_at: ahead(4),
                until: None,
                paused_by: "cli".into(),
            })
            .await
            .unwrap();
        clock.set(base + Span::seconds(4));
        a.daemon.fire(fourth).await;
        assert!(a.daemon.wait_idle(Duration::from_secs(30)).await);
        store.resume("kit", Some("tick")).await.unwrap();

        // A host that stalls past its claim's lease (3 s) before the instant does not run the
        // fire: another host's sweep has taken it over by then.
        clock.set(ahead(5));
        let fifth = a.daemon.prepare(base + Span::seconds(5)).await;
        assert_eq!(fifth.claimed_ahead(), 1, "{}", db.backend);
        clock.set(base + Span::seconds(8) + Span::milliseconds(1));
        b.daemon
            .sweep(base + Span::seconds(8) + Span::milliseconds(1))
            .await
            .unwrap();
        a.daemon.fire(fifth).await;
        assert!(a.daemon.wait_idle(Duration::from_secs(30)).await);
        assert!(b.daemon.wait_idle(Duration::from_secs(30)).await);

        let all = runs(&store).await;
        let ran: Vec<(i64, Option<String>, String)> = all
            .iter()
            .map(|r| {
                (
                    (r.scheduled_for.unwrap() - base).num_seconds(),
                    r.host.clone(),
                    r.status.as_str().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            ran,
            [
                (1, Some(a_host.clone()), "succeeded".to_owned()),
                (3, Some(b_host.clone()), "succeeded".to_owned()),
                (5, Some(b_host.clone()), "succeeded".to_owned())
            ],
            "{}",
            db.backend
        );
        assert_eq!(
            history().await,
            [
                (1, "done".to_owned(), None, true),
                (2, "skipped".to_owned(), Some("overlap".to_owned()), true),
                (3, "done".to_owned(), None, false),
                (4, "skipped".to_owned(), Some("paused".to_owned()), true),
                (5, "done".to_owned(), None, false),
            ],
            "{}",
            db.backend
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fire_whose_lease_ends_before_its_runs_is_not_released_while_the_run_is_going() {
    for db in TestDb::all("fire_lease_gap").await.unwrap() {
        let store = &Store::connect(&db.url).await.unwrap();
        store.migrate().await.unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap();
        let key = FireKey {
            connector: "kit".into(),
            schedule: "tick".into(),
            scheduled_for: t0,
        };
        let claim = FireClaim {
            key: key.clone(),
            trigger: TriggerKind::Schedule,
            overlap: Overlap::Skip,
        };
        // Claimed ahead with a lease to t0 + 1 s; its run recorded at the instant holds its own
        // lease to t0 + 3 s (its first heartbeat would renew both).
        let won = store
            .claim_fires_ahead(
                &[claim],
                "host-a",
                t0 - Span::milliseconds(100),
                t0 + Span::seconds(1),
            )
            .await
            .unwrap();
        assert_eq!(won, [true]);
        store
            .insert_fire_runs(&[connector_host::store::NewRun {
                connector: "kit",
                job: "sleep",
                trigger: TriggerKind::Schedule,
                scheduled_for: Some(t0),
                attempt: 1,
                dry_run: false,
                started_at: t0,
                schedule: Some("tick"),
                host: "host-a",
                lease_until: t0 + Span::seconds(3),
                input: None,
            }])
            .await
            .unwrap();
        let status = || async {
            store.fire_history("kit", None, 10).await.unwrap()[0]
                .status
                .clone()
        };
        // Between the two leases: the run is still going, so its fire still holds the schedule.
        let between = t0 + Span::seconds(2);
        assert!(
            store.release_stale_fires(between).await.unwrap().is_empty(),
            "{}",
            db.backend
        );
        assert!(store.retriable_fires(between).await.unwrap().is_empty());
        assert_eq!(status().await, "running", "{}", db.backend);
        // Past the run's lease: the run is abandoned and its fire is owed a retry.
        let after = t0 + Span::seconds(4);
        let abandoned = store.abandon_expired_runs(after, &[]).await.unwrap();
        assert_eq!(abandoned.len(), 1, "{}", db.backend);
        assert_eq!(store.retriable_fires(after).await.unwrap(), [(key, 1)]);
        assert_eq!(status().await, "running", "{}", db.backend);
    }
}
