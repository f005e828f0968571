//! The long-running host behind `connector-host serve` (`server::serve` starts its loops): the
//! firing loop, abandoned-run recovery, queue workers, alerts, hot reload and graceful shutdown,
//! around one swappable [`Runner`].
//!
//! Several hosts may share one PostgreSQL; none talks to another. Each fires every schedule it
//! knows, and the database decides who runs what (`store::fires`). The firing loop decides and
//! claims each instant's fires [`CLAIM_AHEAD`] early ([`Daemon::prepare`]) and fires them at
//! the instant ([`Daemon::fire`]); [`Daemon::tick`] does both at once. Every step that depends
//! on time takes `now` or reads it from a [`Clock`], so tests can replay any instant.
//!
//! A reload builds a new [`Runner`] beside the old one and swaps it in; runs in progress keep
//! the generation they started with, so a reload never disturbs them.

mod plan;
mod reload;

pub use reload::Loader;

use crate::manifest::{Overlap, ScheduleConfig};
use crate::runner::{JobBatch, RunOutcome, RunRequest, Runner};
use crate::store::TriggerKind;
use crate::store::{Claim, FireClaim, FireKey};
use chrono::{DateTime, Utc};
use plan::{Batch, Planner};
use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

/// Where the daemon reads the time.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to: for tests and simulations.
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock showing `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        ManualClock(std::sync::Mutex::new(at))
    }

    /// Moves the clock to `at`.
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Counters of what the scheduler decided, since start (for `/metrics`).
#[derive(Debug, Default)]
pub struct FireStats {
    /// Fires this host claimed and ran.
    pub run: AtomicU64,
    /// Fires another host had already claimed.
    pub taken: AtomicU64,
    /// Fires skipped because a run of the schedule was in progress.
    pub skipped: AtomicU64,
    /// Fires queued behind a run in progress.
    pub queued: AtomicU64,
    /// Fires skipped because their connector or schedule was paused.
    pub paused: AtomicU64,
    /// Missed fires dropped by a missed-fire policy.
    pub dropped: AtomicU64,
    /// Runs this host found abandoned.
    pub abandoned: AtomicU64,
    /// Successful and failed reloads.
    pub reloads: AtomicU64,
    /// Reloads refused because the new configuration was invalid.
    pub reload_failures: AtomicU64,
}

/// The claim of a batch's only fire.
fn claim_of_first(batch: &Batch) -> FireClaim {
    let (at, trigger) = batch.fires[0];
    FireClaim {
        key: FireKey {
            connector: batch.connector.clone(),
            schedule: batch.schedule.name.clone(),
            scheduled_for: at,
        },
        trigger,
        overlap: batch.schedule.overlap,
    }
}

/// Whether a batch is one on-time fire without jitter: claimed with the tick's others.
fn is_plain(batch: &Batch) -> bool {
    batch.fires.len() == 1 && batch.delay.is_zero()
}

/// How long before a fire's instant the firing loop decides and claims it ([`Daemon::prepare`]):
/// long enough for the claim of a second's worth of fires, short enough that a run still going
/// when it is taken is rare (its fire is then claimed at the instant).
pub const CLAIM_AHEAD: Duration = Duration::from_millis(100);

/// The fires due at one instant, decided and partly claimed ahead of it by [`Daemon::prepare`].
pub struct Prepared {
    /// The instant they are due.
    pub at: DateTime<Utc>,
    batches: Vec<Batch>,
    runner: Arc<Runner>,
    ahead: HashSet<FireKey>,
}

impl Prepared {
    fn new(at: DateTime<Utc>, batches: Vec<Batch>, runner: Arc<Runner>) -> Self {
        Prepared {
            at,
            batches,
            runner,
            ahead: HashSet::new(),
        }
    }

    /// How many fires are due.
    pub fn fires(&self) -> usize {
        self.batches.iter().map(|b| b.fires.len()).sum()
    }

    /// The fires this host claimed ahead.
    pub fn claimed_ahead(&self) -> usize {
        self.ahead.len()
    }
}

/// What a graceful shutdown did.
#[derive(Debug, Clone, Default)]
pub struct ShutdownReport {
    /// Runs that were still going when the grace period ended and were marked `interrupted`.
    pub interrupted: Vec<i64>,
}

/// One host's long-running state.
pub struct Daemon {
    current: RwLock<Arc<Runner>>,
    planner: tokio::sync::Mutex<Planner>,
    rng: std::sync::Mutex<fastrand::Rng>,
    clock: Arc<dyn Clock>,
    tasks: tokio::sync::Mutex<JoinSet<()>>,
    pub(crate) stop: watch::Sender<bool>,
    replanned: Notify,
    /// Wakes idle queue workers (a webhook enqueued something).
    pub job_ready: Notify,
    /// What the scheduler decided.
    pub stats: FireStats,
    loader: Loader,
    watched: tokio::sync::Mutex<reload::Watched>,
}

impl Daemon {
    /// Wraps a started runner; `loader` reads the manifest again on reload.
    pub async fn new(
        runner: Runner,
        clock: Arc<dyn Clock>,
        loader: Loader,
    ) -> anyhow::Result<Arc<Daemon>> {
        let watched = reload::Watched::of(&runner.manifest);
        let daemon = Arc::new(Daemon {
            current: RwLock::new(Arc::new(runner)),
            planner: tokio::sync::Mutex::new(Planner::new()),
            rng: std::sync::Mutex::new(fastrand::Rng::new()),
            clock,
            tasks: tokio::sync::Mutex::new(JoinSet::new()),
            stop: watch::channel(false).0,
            replanned: Notify::new(),
            job_ready: Notify::new(),
            stats: FireStats::default(),
            loader,
            watched: tokio::sync::Mutex::new(watched),
        });
        daemon.plan_schedules().await?;
        Ok(daemon)
    }

    /// The current generation of the working set.
    pub fn runner(&self) -> Arc<Runner> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether a shutdown has begun.
    pub fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Asks [`Daemon::serve`] to shut down gracefully (as SIGTERM does).
    pub fn request_stop(&self) {
        self.stop.send_replace(true);
    }

    /// The next fire of each schedule, by `(connector, schedule)`.
    pub async fn next_fires(&self) -> Vec<(String, String, Option<DateTime<Utc>>)> {
        self.planner
            .lock()
            .await
            .next_fires()
            .into_iter()
            .map(|(c, s, t)| (c.to_owned(), s.to_owned(), t))
            .collect()
    }

    /// Gives the planner the current manifest's schedules; new ones resume from their last
    /// recorded fire.
    async fn plan_schedules(&self) -> anyhow::Result<()> {
        let runner = self.runner();
        let resume = runner.store.last_fires().await?;
        let schedules: Vec<_> = runner
            .manifest
            .connectors
            .iter()
            .flat_map(|(name, c)| c.schedules.iter().map(|s| (name.clone(), s.clone())))
            .collect();
        let now = self.clock.now();
        self.planner
            .lock()
            .await
            .set_schedules(schedules, now, |c, s| {
                resume.get(&(c.to_owned(), s.to_owned())).copied()
            });
        self.replanned.notify_one();
        Ok(())
    }

    /// Runs `work` as a tracked task (waited for at shutdown); refused once stopping.
    pub async fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) -> bool {
        if self.stopping() {
            return false;
        }
        let mut tasks = self.tasks.lock().await;
        while tasks.try_join_next().is_some() {}
        tasks.spawn(work);
        true
    }

    /// Fires what is due at `now`: claims the fires (one batch of statements for all the
    /// plain on-time ones) and runs those this host won.
    pub async fn tick(self: &Arc<Self>, now: DateTime<Utc>) {
        if let Some(batches) = self.due(now) {
            let runner = self.runner();
            self.fire(Prepared::new(now, batches, runner)).await;
        }
    }

    /// What is due at `at`, advancing the planner; `None` if nothing is (or a reload holds the
    /// planner: the next tick picks up what is due then).
    fn due(&self, at: DateTime<Utc>) -> Option<Vec<Batch>> {
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let mut planner = self.planner.try_lock().ok()?;
        Some(planner.due(at, &mut rng)).filter(|b| !b.is_empty())
    }

    /// Decides ahead of time what fires at `at` and claims its plain on-time fires now, where
    /// that is exact: the fire is new and nothing of its schedule runs now, so the running slot
    /// it takes is one the instant would have given it. [`Daemon::fire`] at `at` then has only
    /// the pauses to read and the runs to record; the fires not claimed here are claimed there,
    /// as a tick claims them. Jittered and catch-up fires wait for their instant.
    pub async fn prepare(self: &Arc<Self>, at: DateTime<Utc>) -> Prepared {
        let runner = self.runner();
        let Some(batches) = self.due(at) else {
            return Prepared::new(at, Vec::new(), runner);
        };
        let now = self.clock.now();
        let pauses = self.pauses(&runner, now).await;
        let claims: Vec<FireClaim> = batches
            .iter()
            .filter(|b| is_plain(b))
            .filter(|b| {
                !pauses
                    .iter()
                    .any(|p| p.covers(&b.connector, &b.schedule.name))
            })
            .map(claim_of_first)
            .collect();
        let mut prepared = Prepared::new(at, batches, runner);
        if claims.is_empty() {
            return prepared;
        }
        let lease = prepared.runner.lease();
        match prepared
            .runner
            .store
            .claim_fires_ahead(&claims, prepared.runner.host_id(), now, at + lease)
            .await
        {
            Ok(won) => {
                for (claim, won) in claims.into_iter().zip(won) {
                    if won {
                        prepared.ahead.insert(claim.key);
                    }
                }
            }
            // Nothing was claimed ahead; the instant claims them all.
            Err(e) => tracing::warn!(error = format!("{e:#}"), "cannot claim fires ahead"),
        }
        prepared
    }

    /// Hands back what [`Daemon::prepare`] claimed when the fires will not be run here (the host
    /// is stopping before their instant): their lease ends now, and the sweep of whichever host
    /// comes next runs them. The claims stay, since another host may have found them taken.
    pub async fn release(&self, prepared: Prepared) {
        let keys: Vec<FireKey> = prepared.ahead.into_iter().collect();
        if keys.is_empty() {
            return;
        }
        if let Err(e) = prepared
            .runner
            .store
            .hand_back_fires(&keys, prepared.runner.host_id(), self.clock.now())
            .await
        {
            tracing::warn!(
                error = format!("{e:#}"),
                "cannot hand back fires claimed ahead; they run once their lease ends"
            );
        }
    }

    /// Fires what was decided for its instant, as of that instant: skips paused schedules,
    /// claims what was not claimed ahead, records the runs of the fires this host won and
    /// starts them.
    pub async fn fire(self: &Arc<Self>, prepared: Prepared) {
        let Prepared {
            at: now,
            batches,
            runner,
            mut ahead,
        } = prepared;
        if batches.is_empty() {
            return;
        }
        // A host that stalled past the lease of its claims may have been superseded by another
        // host's sweep: those fires are the sweep's now, not this host's.
        if !ahead.is_empty() && self.clock.now() >= now + runner.lease() {
            tracing::warn!(
                fires = ahead.len(),
                "fires claimed ahead were not run: this host stalled past their lease"
            );
            ahead.clear();
        }
        let pauses = self.pauses(&runner, now).await;
        let (paused, batches): (Vec<Batch>, Vec<Batch>) = batches.into_iter().partition(|b| {
            pauses
                .iter()
                .any(|p| p.covers(&b.connector, &b.schedule.name))
        });
        if !paused.is_empty() {
            // Paused since they were claimed ahead: the claims become skipped fires.
            let claimed: Vec<FireKey> = paused
                .iter()
                .filter(|b| is_plain(b))
                .map(|b| claim_of_first(b).key)
                .filter(|k| ahead.contains(k))
                .collect();
            if !claimed.is_empty() {
                match runner
                    .store
                    .skip_claimed_fires(&claimed, runner.host_id(), now)
                    .await
                {
                    Ok(n) => {
                        self.stats.paused.fetch_add(n, Ordering::Relaxed);
                    }
                    Err(e) => tracing::warn!(error = format!("{e:#}"), "cannot skip paused fires"),
                }
            }
            self.skip_paused(&runner, &paused, now).await;
        }
        let mut plain = Vec::new();
        for batch in batches {
            self.stats
                .dropped
                .fetch_add(batch.dropped, Ordering::Relaxed);
            if batch.dropped > 0 {
                let store = runner.store.clone();
                let (connector, schedule) = (batch.connector.clone(), batch.schedule.name.clone());
                let dropped = batch.dropped;
                self.spawn(async move {
                    if let Err(e) =
                        crate::alerts::missed_fires(&store, &connector, &schedule, dropped, now)
                            .await
                    {
                        tracing::warn!(error = format!("{e:#}"), "cannot record missed fires");
                    }
                })
                .await;
            }
            if batch.fires.is_empty() {
                continue;
            }
            if is_plain(&batch) {
                plain.push(batch);
                continue;
            }
            let daemon = self.clone();
            let runner = runner.clone();
            self.spawn(async move { daemon.run_batch(runner, batch).await })
                .await;
        }
        if plain.is_empty() {
            return;
        }
        let claims: Vec<FireClaim> = plain.iter().map(claim_of_first).collect();
        let to_claim: Vec<FireClaim> = claims
            .iter()
            .filter(|c| !ahead.contains(&c.key))
            .cloned()
            .collect();
        let won = if to_claim.is_empty() {
            HashSet::new()
        } else {
            self.claim(&runner, &to_claim).await
        };
        let mine: Vec<(Batch, FireClaim)> = plain
            .into_iter()
            .zip(claims)
            .filter(|(_, claim)| ahead.contains(&claim.key) || won.contains(&claim.key))
            .collect();
        let claimed_ahead = mine.len() - won.len();
        self.stats
            .run
            .fetch_add(claimed_ahead as u64, Ordering::Relaxed);
        let fires: Vec<(&str, &FireClaim)> = mine
            .iter()
            .map(|(batch, claim)| (batch.schedule.job.as_str(), claim))
            .collect();
        let ids = runner.record_fire_runs(&fires).await;
        for ((batch, claim), id) in mine.into_iter().zip(ids) {
            let daemon = self.clone();
            let runner = runner.clone();
            let trigger = batch.fires[0].1;
            self.spawn(async move {
                daemon
                    .run_fire(&runner, claim.key, &batch.schedule, trigger, 1, id)
                    .await;
            })
            .await;
        }
    }

    /// The pauses in force at `now`; none if they cannot be read (the claims that follow would
    /// fail the same way and say so).
    async fn pauses(&self, runner: &Runner, now: DateTime<Utc>) -> Vec<crate::store::Pause> {
        match runner.store.active_pauses(now).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "cannot read the pauses");
                Vec::new()
            }
        }
    }

    /// Records the fires of paused schedules as skipped (paused): the fire history shows why
    /// nothing ran.
    async fn skip_paused(&self, runner: &Runner, batches: &[Batch], now: DateTime<Utc>) {
        let fires: Vec<FireClaim> = batches
            .iter()
            .flat_map(|b| {
                b.fires.iter().map(|(at, trigger)| FireClaim {
                    key: FireKey {
                        connector: b.connector.clone(),
                        schedule: b.schedule.name.clone(),
                        scheduled_for: *at,
                    },
                    trigger: *trigger,
                    overlap: b.schedule.overlap,
                })
            })
            .collect();
        match runner
            .store
            .skip_paused_fires(&fires, runner.host_id(), now)
            .await
        {
            Ok(n) => {
                self.stats.paused.fetch_add(n as u64, Ordering::Relaxed);
                for b in batches {
                    tracing::info!(
                        connector = %b.connector,
                        schedule = %b.schedule.name,
                        fires = b.fires.len(),
                        "fire skipped: paused"
                    );
                }
            }
            Err(e) => tracing::warn!(error = format!("{e:#}"), "cannot record paused fires"),
        }
    }

    /// Claims `fires`, counts the outcomes, and returns the fires this host won.
    async fn claim(&self, runner: &Runner, fires: &[FireClaim]) -> HashSet<FireKey> {
        let now = self.clock.now();
        let lease = runner.lease();
        // The planner has moved past these fires: a passing database error must not lose them.
        let mut attempt = 0;
        let claims = loop {
            attempt += 1;
            match runner
                .store
                .claim_fires(fires, runner.host_id(), now, now + lease)
                .await
            {
                Ok(claims) => break claims,
                Err(e) if attempt < 3 => {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        attempt,
                        "cannot claim fires; retrying"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => {
                    tracing::error!(
                        error = format!("{e:#}"),
                        fires = fires.len(),
                        "cannot claim fires; this host skips them"
                    );
                    return HashSet::new();
                }
            }
        };
        let mut won = HashSet::new();
        for (fire, claim) in fires.iter().zip(claims) {
            let counter = match claim {
                Claim::Run => {
                    won.insert(fire.key.clone());
                    &self.stats.run
                }
                Claim::Taken => &self.stats.taken,
                Claim::Skipped => {
                    tracing::debug!(
                        connector = %fire.key.connector,
                        schedule = %fire.key.schedule,
                        scheduled_for = %fire.key.scheduled_for.to_rfc3339(),
                        "fire skipped: the previous run is still going"
                    );
                    &self.stats.skipped
                }
                Claim::Queued => &self.stats.queued,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        won
    }

    /// Fires with jitter or several catch-up fires: wait, then claim and run one at a time.
    async fn run_batch(self: Arc<Self>, runner: Arc<Runner>, batch: Batch) {
        if !batch.delay.is_zero() {
            tokio::time::sleep(batch.delay).await;
        }
        for (at, trigger) in batch.fires {
            if self.stopping() {
                break;
            }
            let now = self.clock.now();
            let paused = self
                .pauses(&runner, now)
                .await
                .iter()
                .any(|p| p.covers(&batch.connector, &batch.schedule.name));
            if paused {
                let one = Batch {
                    connector: batch.connector.clone(),
                    schedule: batch.schedule.clone(),
                    fires: vec![(at, trigger)],
                    delay: Duration::ZERO,
                    dropped: 0,
                };
                self.skip_paused(&runner, std::slice::from_ref(&one), now)
                    .await;
                continue;
            }
            let claim = FireClaim {
                key: FireKey {
                    connector: batch.connector.clone(),
                    schedule: batch.schedule.name.clone(),
                    scheduled_for: at,
                },
                trigger,
                overlap: batch.schedule.overlap,
            };
            if self
                .claim(&runner, std::slice::from_ref(&claim))
                .await
                .contains(&claim.key)
            {
                self.run_fire(&runner, claim.key, &batch.schedule, trigger, 1, None)
                    .await;
            }
        }
    }

    /// Runs a claimed fire, then any fire queued behind it (overlap `queue-one`).
    async fn run_fire(
        &self,
        runner: &Arc<Runner>,
        mut key: FireKey,
        schedule: &ScheduleConfig,
        mut trigger: TriggerKind,
        mut attempt: u32,
        mut recorded: Option<i64>,
    ) -> Option<RunOutcome> {
        let lease = runner.lease();
        let promote = schedule.overlap == Overlap::QueueOne;
        let mut last = None;
        loop {
            let req = RunRequest {
                job: Some(schedule.job.clone()),
                trigger,
                scheduled_for: Some(key.scheduled_for),
                attempt,
                dry_run: false,
                schedule: Some(key.schedule.clone()),
                timeout: schedule.timeout,
                run_id: recorded.take(),
                input: None,
            };
            match runner.run(&key.connector, req).await {
                Ok(outcome) => last = Some(outcome),
                Err(e) => tracing::warn!(
                    connector = %key.connector,
                    schedule = %key.schedule,
                    error = format!("{e:#}"),
                    "cannot run a fire"
                ),
            }
            let now = self.clock.now();
            match runner
                .store
                .fire_done(&key, promote, runner.host_id(), now, now + lease)
                .await
            {
                Ok(Some(queued)) if !self.stopping() => {
                    key.scheduled_for = queued;
                    trigger = TriggerKind::Schedule;
                    attempt = 1;
                }
                Ok(_) => return last,
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "cannot finish a fire");
                    return last;
                }
            }
        }
    }

    /// Marks runs whose host stopped renewing their lease `abandoned`; retries the fires whose
    /// last run was abandoned or interrupted (a host died or stopped) while the schedule's
    /// `max_attempts` allows; lets go of the other fires whose lease ran out. Returns the
    /// abandoned runs' ids.
    pub async fn sweep(self: &Arc<Self>, now: DateTime<Utc>) -> anyhow::Result<Vec<i64>> {
        let runner = self.runner();
        let abandoned = runner
            .store
            .abandon_expired_runs(now, &runner.active_runs())
            .await?;
        let lease = runner.lease();
        let schedule_of = |key: &FireKey| {
            runner
                .manifest
                .connectors
                .get(&key.connector)
                .and_then(|c| c.schedules.iter().find(|s| s.name == key.schedule))
                .cloned()
        };
        for run in &abandoned {
            self.stats.abandoned.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                run_id = run.id,
                connector = %run.connector,
                job = %run.job,
                host = run.host.as_deref(),
                "run abandoned: its host stopped renewing the lease"
            );
        }
        let retriable = runner.store.retriable_fires(now).await?;
        let pauses = self.pauses(&runner, now).await;
        for (fire, attempt) in retriable {
            let Some(schedule) = schedule_of(&fire) else {
                continue;
            };
            // A paused schedule is not retried: its unfinished fire is let go like any other that
            // will not be (the pause is the operator's word that nothing should run).
            if pauses
                .iter()
                .any(|p| p.covers(&fire.connector, &fire.schedule))
            {
                continue;
            }
            if attempt >= schedule.max_attempts
                || !runner
                    .store
                    .retake_fire(&fire, runner.host_id(), now, now + lease)
                    .await?
            {
                continue;
            }
            tracing::info!(
                connector = %fire.connector,
                schedule = %fire.schedule,
                scheduled_for = %fire.scheduled_for.to_rfc3339(),
                attempt = attempt + 1,
                "retrying a fire whose run did not finish or never started (its host died or stopped)"
            );
            let daemon = self.clone();
            let runner = runner.clone();
            self.spawn(async move {
                daemon
                    .run_fire(
                        &runner,
                        fire,
                        &schedule,
                        TriggerKind::Retry,
                        attempt + 1,
                        None,
                    )
                    .await;
            })
            .await;
        }
        // Fires of runs that will not be retried, or whose host died around the run.
        for fire in runner.store.release_stale_fires(now).await? {
            let Some(schedule) = schedule_of(&fire) else {
                continue;
            };
            if schedule.overlap != Overlap::QueueOne {
                continue;
            }
            let queued = runner
                .store
                .fire_done(&fire, true, runner.host_id(), now, now + lease)
                .await?;
            if let Some(at) = queued {
                let key = FireKey {
                    scheduled_for: at,
                    ..fire
                };
                let daemon = self.clone();
                let runner = runner.clone();
                self.spawn(async move {
                    daemon
                        .run_fire(&runner, key, &schedule, TriggerKind::Schedule, 1, None)
                        .await;
                })
                .await;
            }
        }
        // Old finished fires: kept as long as any schedule may still catch up on them.
        let keep = runner
            .manifest
            .connectors
            .values()
            .flat_map(|c| c.schedules.iter().map(|s| s.catch_up_window))
            .max()
            .unwrap_or_default()
            .max(Duration::from_secs(3600));
        let before = chrono::Duration::from_std(keep)
            .ok()
            .and_then(|keep| now.checked_sub_signed(keep))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let events_before = now - chrono::Duration::days(crate::limits::RUN_EVENTS_DAYS);
        if let Err(e) = runner.store.prune_run_events(events_before).await {
            tracing::warn!(error = format!("{e:#}"), "cannot prune old run events");
        }
        match runner.store.prune_fires(before, 10_000).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(fires = n, "old schedule fires pruned"),
            Err(e) => tracing::warn!(error = format!("{e:#}"), "cannot prune schedule fires"),
        }
        Ok(abandoned.iter().map(|r| r.id).collect())
    }

    /// Waits until no tracked task is left (or `limit` passes); true if none is left.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            {
                let mut tasks = self.tasks.lock().await;
                while tasks.try_join_next().is_some() {}
                if tasks.is_empty() {
                    return true;
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops firing, lets tracked runs finish within `grace`, then aborts the rest and marks
    /// their runs `interrupted`.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        self.request_stop();
        let mut tasks = std::mem::take(&mut *self.tasks.lock().await);
        let finished =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} })
                .await
                .is_ok();
        let runner = self.runner();
        let mut report = ShutdownReport::default();
        if !finished {
            let ids = runner.active_runs();
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
            let why = format!(
                "the host shut down before the run finished (grace period {})",
                crate::manifest::format_duration(grace)
            );
            match runner.store.interrupt_runs(&ids, Utc::now(), &why).await {
                Ok(_) => report.interrupted = ids,
                Err(e) => tracing::warn!(error = format!("{e:#}"), "cannot mark runs interrupted"),
            }
        }
        report
    }

    /// The firing loop: sleeps until [`CLAIM_AHEAD`] before the next fire (at most a second, so
    /// a clock step is noticed, or until the schedules change), prepares it, and fires it at
    /// its instant; a fire already due is fired at once.
    pub async fn fire_loop(self: Arc<Self>) {
        let mut stop = self.stop.subscribe();
        let until = |t: DateTime<Utc>| (t - self.clock.now()).to_std().unwrap_or_default();
        while !*stop.borrow() {
            let now = self.clock.now();
            let wake = self.planner.lock().await.next_wake();
            match wake {
                Some(at) if at <= now => self.tick(now).await,
                Some(at) if until(at) <= CLAIM_AHEAD => {
                    let prepared = self.prepare(at).await;
                    // At most a second at a time, so a clock stepped back is waited out.
                    let mut prepared = Some(prepared);
                    while let Some(p) = prepared.take() {
                        let wait = until(at);
                        if wait.is_zero() {
                            self.fire(p).await;
                        } else if *stop.borrow() {
                            self.release(p).await;
                        } else {
                            tokio::select! {
                                _ = tokio::time::sleep(wait.min(Duration::from_secs(1))) => {}
                                _ = stop.changed() => {}
                            }
                            prepared = Some(p);
                        }
                    }
                }
                _ => {
                    let wait = wake
                        .map(|w| until(w).saturating_sub(CLAIM_AHEAD))
                        .unwrap_or(Duration::from_secs(1))
                        .min(Duration::from_secs(1));
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.changed() => {}
                        _ = self.replanned.notified() => {}
                    }
                }
            }
        }
    }

    /// Looks for abandoned runs every third of the run lease.
    pub async fn sweep_loop(self: Arc<Self>) {
        let mut stop = self.stop.subscribe();
        while !*stop.borrow() {
            if let Err(e) = self.sweep(self.clock.now()).await {
                tracing::warn!(error = format!("{e:#}"), "cannot look for abandoned runs");
            }
            let every = self.runner().manifest.runtime.run_lease / 3;
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Checks the alert conditions every `[alerts].check_every` and sends the notices this host
    /// claims, until stopped.
    pub async fn alert_loop(self: Arc<Self>) {
        let client = reqwest::Client::new();
        let mut stop = self.stop.subscribe();
        while !*stop.borrow() {
            let runner = self.runner();
            let now = self.clock.now();
            match runner.check_alerts(&client, now).await {
                Ok(done) if done != crate::alerts::Checked::default() => {
                    tracing::debug!(
                        opened = done.opened,
                        resolved = done.resolved,
                        sent = done.sent,
                        "alerts checked"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(
                    error = format!("{e:#}"),
                    "cannot check the alert conditions"
                ),
            }
            let every = runner.manifest.alerts.check_every;
            drop(runner);
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// One queue worker: delivers due jobs until stopped; finishes the job in hand first.
    pub async fn worker_loop(self: Arc<Self>, n: u32) {
        let mut stop = self.stop.subscribe();
        let mut batch = JobBatch::default();
        while !*stop.borrow() {
            let runner = self.runner();
            let worker = format!("{}/worker-{n}", runner.host_id());
            let stopping = || *self.stop.borrow();
            match runner
                .work_batch(&worker, self.clock.now(), &mut batch, &stopping)
                .await
            {
                Ok(done) if !done.is_empty() => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = format!("{e:#}"), "queue worker"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = self.job_ready.notified() => {}
                _ = stop.changed() => {}
            }
        }
    }
}
