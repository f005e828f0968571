//! One sync run: pick the candidates (or the SKUs a manual run names), then, batch by batch,
//! upsert them into Zoho CRM in one call and create or update their Billing plans one by one,
//! recording each result and checkpointing after each batch. A dry run stops after picking and
//! reports what it would push to which system.
//!
//! When a rate limit stops a system (a closed pool, Zoho's own 429), the rest of the run skips
//! that system and carries on with the other; the run then ends as rate-limited, and the next
//! fire takes the skipped packages first. A refused token or a request the host denies ends the
//! run at once: nothing after it could succeed.

use crate::catalogue::{self, Candidate, Reason};
use crate::client::{Client, Failure};
use crate::config::Settings;
use crate::record::{self, System};
use crate::{billing, crm};
use connector_sdk::{log, state, time, Error, RateLimited, RunContext, RunSummary};
use serde::Deserialize;

/// A manual run's input: re-sync these packages now, to both systems.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    skus: Vec<String>,
}

/// Counters for the summary, per system.
#[derive(Default)]
struct Tally {
    ok: u64,
    failed: u64,
    rate_limited: u64,
    skipped: u64,
    /// `action` → count.
    actions: std::collections::BTreeMap<String, u64>,
}

impl Tally {
    fn count(&mut self, outcome: &crm::Outcome) {
        match outcome {
            Ok(p) => {
                self.ok += 1;
                *self.actions.entry(p.action.clone()).or_default() += 1;
            }
            Err(f) if f.limited.is_some() => self.rate_limited += 1,
            Err(_) => self.failed += 1,
        }
    }

    fn describe(&self) -> String {
        let actions: Vec<String> = self
            .actions
            .iter()
            .map(|(a, n)| format!("{n} {a}"))
            .collect();
        let mut s = format!("{} ok", self.ok);
        if !actions.is_empty() {
            s.push_str(&format!(" ({})", actions.join(", ")));
        }
        s.push_str(&format!(", {} failed", self.failed));
        if self.rate_limited > 0 {
            s.push_str(&format!(", {} rate-limited", self.rate_limited));
        }
        if self.skipped > 0 {
            s.push_str(&format!(", {} left for the next run", self.skipped));
        }
        s
    }
}

/// Runs job `sync`.
pub fn run(ctx: &RunContext) -> Result<RunSummary, Error> {
    let settings = Settings::load()?;
    let input: Option<Input> = ctx.input_as()?;
    let now = time::now();
    let stamp = time::format_utc(now);
    let entries = catalogue::read()?;
    let catalogue_size = entries.len();
    let requested = input.as_ref().map(|i| i.skus.as_slice());
    let mut candidates = catalogue::candidates(
        entries,
        requested,
        settings.stale,
        now,
        settings.max_products,
    )?;
    if ctx.dry_run {
        return Ok(plan(&candidates, catalogue_size));
    }
    log::info(
        "sync starting",
        &[
            ("candidates", &candidates.len().to_string()),
            ("catalogue", &catalogue_size.to_string()),
            ("requested", &requested.is_some().to_string()),
        ],
    );
    let mut client = Client::new(&settings);
    let (mut crm_tally, mut billing_tally) = (Tally::default(), Tally::default());
    // The rate limit that stopped each system for the rest of the run, if one did.
    let (mut crm_stop, mut billing_stop): (Option<RateLimited>, Option<RateLimited>) = (None, None);
    let mut fatal: Option<Failure> = None;
    let mut first_failures: Vec<String> = Vec::new();
    let batch_size = settings.batch_size.min(crm::MAX_RECORDS);
    for batch in candidates.chunks_mut(batch_size) {
        if fatal.is_some() {
            break;
        }
        // CRM: one upsert for the batch's packages that need it.
        let wanted: Vec<usize> = (0..batch.len())
            .filter(|&i| batch[i].crm.is_some())
            .collect();
        if !wanted.is_empty() {
            if crm_stop.is_some() {
                crm_tally.skipped += wanted.len() as u64;
            } else {
                let packages: Vec<&catalogue::Package> =
                    wanted.iter().map(|&i| &batch[i].entry.package).collect();
                let outcomes =
                    crm::upsert(&mut client, settings.crm_rate_limit.as_deref(), &packages);
                for (&i, outcome) in wanted.iter().zip(&outcomes) {
                    settle(
                        ctx.run_id,
                        &mut batch[i],
                        System::Crm,
                        outcome,
                        &stamp,
                        &mut crm_tally,
                        &mut first_failures,
                    )?;
                }
                for f in outcomes.iter().filter_map(|o| o.as_ref().err()) {
                    stop(
                        f,
                        System::Crm,
                        &settings,
                        &mut fatal,
                        &mut crm_stop,
                        &mut billing_stop,
                    );
                }
            }
        }
        // Billing: one call (two when it must switch between create and update) per package.
        for candidate in batch.iter_mut().filter(|c| c.billing.is_some()) {
            if fatal.is_some() || billing_stop.is_some() {
                billing_tally.skipped += 1;
                continue;
            }
            let known = candidate.entry.billing.remote_id.clone();
            let outcome = billing::push(
                &mut client,
                &settings,
                &candidate.entry.package,
                known.as_deref(),
            );
            settle(
                ctx.run_id,
                candidate,
                System::Billing,
                &outcome,
                &stamp,
                &mut billing_tally,
                &mut first_failures,
            )?;
            if let Err(f) = &outcome {
                stop(
                    f,
                    System::Billing,
                    &settings,
                    &mut fatal,
                    &mut crm_stop,
                    &mut billing_stop,
                );
            }
            client.pause(settings.product_pause);
        }
        state::checkpoint()?;
    }

    let message = format!(
        "{} of {} packages: CRM {}; Billing {}; {} Zoho calls",
        candidates.len(),
        catalogue_size,
        crm_tally.describe(),
        billing_tally.describe(),
        client.calls
    );
    log::info(
        "sync finished",
        &[
            ("summary", &message),
            ("crm_ok", &crm_tally.ok.to_string()),
            ("crm_failed", &crm_tally.failed.to_string()),
            ("billing_ok", &billing_tally.ok.to_string()),
            ("billing_failed", &billing_tally.failed.to_string()),
            ("calls", &client.calls.to_string()),
        ],
    );
    if let Some(f) = fatal {
        return Err(Error::upstream(format!(
            "{}: {} ({message})",
            f.code, f.message
        )));
    }
    if let Some(limited) = crm_stop.or(billing_stop) {
        return Err(Error::RateLimited(limited));
    }
    let failed = crm_tally.failed + billing_tally.failed;
    if failed > 0 {
        return Err(Error::upstream(format!(
            "{failed} pushes failed, first: {}; {message}; see zoho_sync_logs",
            first_failures.join("; ")
        )));
    }
    Ok(RunSummary::new(message)
        .counter("packages", candidates.len() as u64)
        .counter("crm_ok", crm_tally.ok)
        .counter("billing_ok", billing_tally.ok)
        .counter("calls", client.calls))
}

/// Records one push and counts it; keeps the first few failures for the run's error.
fn settle(
    run_id: u64,
    candidate: &mut Candidate,
    system: System,
    outcome: &crm::Outcome,
    stamp: &str,
    tally: &mut Tally,
    first_failures: &mut Vec<String>,
) -> Result<(), Error> {
    record::push(run_id, &mut candidate.entry, system, outcome, stamp)?;
    tally.count(outcome);
    if let Err(f) = outcome {
        log::warn(
            "push failed",
            &[
                ("sku", &candidate.entry.package.sku),
                ("system", system.as_str()),
                ("code", &f.code),
                ("message", &f.message),
            ],
        );
        if f.limited.is_none() && first_failures.len() < 3 {
            first_failures.push(format!(
                "{} {} {}: {}",
                candidate.entry.package.sku,
                system.as_str(),
                f.code,
                f.message
            ));
        }
    }
    Ok(())
}

/// Notes what `f`, a failed push to `system`, stops for the rest of the run: everything when
/// it is fatal; when a rate limit refused it, the system whose limit that is — Zoho's own 429
/// and the CRM pool stop one system, any other pool (the 90/minute one both share) both.
fn stop(
    f: &Failure,
    system: System,
    settings: &Settings,
    fatal: &mut Option<Failure>,
    crm: &mut Option<RateLimited>,
    billing: &mut Option<RateLimited>,
) {
    if f.fatal {
        fatal.get_or_insert_with(|| f.clone());
        return;
    }
    let Some((pool, retry_after_ms)) = f.limited.clone() else {
        return;
    };
    let own = pool == "upstream" || settings.crm_rate_limit.as_deref() == Some(pool.as_str());
    let limited = RateLimited {
        pool,
        retry_after_ms,
    };
    if own {
        let slot = if system == System::Crm { crm } else { billing };
        slot.get_or_insert(limited);
    } else {
        crm.get_or_insert(limited.clone());
        billing.get_or_insert(limited);
    }
}

/// A dry run's report: what would be pushed to which system, and why; nothing is sent or
/// written.
fn plan(candidates: &[Candidate], catalogue_size: usize) -> RunSummary {
    let mut crm: Vec<&str> = Vec::new();
    let mut billing: Vec<&str> = Vec::new();
    for c in candidates {
        let sku = c.entry.package.sku.as_str();
        let why = |r: Option<Reason>| r.map_or("-", Reason::as_str);
        log::info(
            "would push",
            &[
                ("sku", sku),
                ("crm", why(c.crm)),
                ("billing", why(c.billing)),
            ],
        );
        if c.crm.is_some() {
            crm.push(sku);
        }
        if c.billing.is_some() {
            billing.push(sku);
        }
    }
    let list = |skus: &[&str]| {
        let mut s = skus.iter().take(20).copied().collect::<Vec<_>>().join(", ");
        if skus.len() > 20 {
            s.push_str(&format!(", … {} more", skus.len() - 20));
        }
        s
    };
    RunSummary::new(format!(
        "dry run: would push {} of {} packages; CRM {}: [{}]; Billing {}: [{}]",
        candidates.len(),
        catalogue_size,
        crm.len(),
        list(&crm),
        billing.len(),
        list(&billing)
    ))
    .counter("packages", candidates.len() as u64)
    .counter("crm", crm.len() as u64)
    .counter("billing", billing.len() as u64)
}
