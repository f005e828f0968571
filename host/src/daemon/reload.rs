//! Hot reload: notice a changed manifest, `.env` or plugin file (or SIGHUP), validate the new
//! configuration completely, and swap it in only if it is valid; otherwise keep the running
//! one and log every problem.

use super::Daemon;
use crate::manifest::{Manifest, ManifestError, Secrets};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Reads and validates the manifest at a path (the CLI's loader reads the process environment
/// and the manifest's `.env`; tests supply their own).
pub type Loader =
    Arc<dyn Fn(&Path) -> Result<(Manifest, Secrets), ManifestError> + Send + Sync + 'static>;

/// The files a configuration was read from, with what they looked like then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Watched {
    files: Vec<(PathBuf, Option<(SystemTime, u64)>)>,
}

impl Watched {
    /// The manifest, its `.env` and every plugin, as they are now.
    pub(super) fn of(manifest: &Manifest) -> Watched {
        let mut paths = vec![manifest.path.clone(), manifest.base_dir.join(".env")];
        paths.extend(manifest.connectors.values().map(|c| c.plugin.clone()));
        paths.sort();
        paths.dedup();
        Watched {
            files: paths
                .into_iter()
                .map(|p| {
                    let stamp = stamp(&p);
                    (p, stamp)
                })
                .collect(),
        }
    }

    /// The same files, looked at again.
    fn refreshed(&self) -> Watched {
        Watched {
            files: self
                .files
                .iter()
                .map(|(p, _)| (p.clone(), stamp(p)))
                .collect(),
        }
    }
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

impl Daemon {
    /// Reads the manifest again and, if it is valid and its plugins load, swaps it in: new
    /// plugins and schedules take effect for new runs; runs in progress are not disturbed.
    /// On any problem the running configuration stays and every problem is returned (and
    /// logged).
    pub async fn reload(self: &Arc<Self>) -> Result<(), Vec<String>> {
        let mut watched = self.watched.lock().await;
        let old = self.runner();
        let result: Result<(crate::runner::Runner, Watched), Vec<String>> = async {
            let (manifest, secrets) = (self.loader)(&old.manifest.path).map_err(|e| match e {
                ManifestError::Invalid { problems, .. } => problems,
                other => vec![other.to_string()],
            })?;
            let seen = Watched::of(&manifest);
            let new = old
                .reload(manifest, secrets)
                .await
                .map_err(|e| -> Vec<String> {
                    match e.downcast::<ManifestError>() {
                        Ok(ManifestError::Invalid { problems, .. }) => problems,
                        Ok(other) => vec![other.to_string()],
                        Err(e) => vec![format!("{e:#}")],
                    }
                })?;
            Ok((new, seen))
        }
        .await;
        match result {
            Ok((new, seen)) => {
                let (was, is) = (&old.manifest, &new.manifest);
                if was.server.listen != is.server.listen
                    || was.runtime.queue_workers != is.runtime.queue_workers
                {
                    tracing::warn!(
                        "server.listen and runtime.queue_workers take effect at the next start"
                    );
                }
                let connectors = new.connectors().len();
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(new);
                *watched = seen;
                drop(watched);
                if let Err(e) = self.plan_schedules().await {
                    tracing::warn!(error = format!("{e:#}"), "cannot read the last fires");
                }
                self.stats.reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(connectors, "configuration reloaded");
                Ok(())
            }
            Err(problems) => {
                // Remember the files as they are, so the same bad state is reported once.
                *watched = watched.refreshed();
                self.stats.reload_failures.fetch_add(1, Ordering::Relaxed);
                for problem in &problems {
                    tracing::error!(problem = %problem, "reload refused; keeping the running configuration");
                }
                Err(problems)
            }
        }
    }

    /// Whether a watched file changed since the configuration was read.
    pub async fn files_changed(&self) -> bool {
        let watched = self.watched.lock().await;
        *watched != watched.refreshed()
    }

    /// Reloads when a watched file changes (checked every `every`) or on SIGHUP.
    pub async fn watch_loop(self: Arc<Self>, watch_files: bool, every: Duration) {
        let mut stop = self.stop.subscribe();
        #[cfg(unix)]
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        while !*stop.borrow() {
            #[cfg(unix)]
            let hup = async {
                match hangup.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let hup = std::future::pending::<()>();
            let signalled = tokio::select! {
                _ = tokio::time::sleep(every) => false,
                _ = hup => true,
                _ = stop.changed() => continue,
            };
            if signalled {
                tracing::info!("SIGHUP: reloading the configuration");
            } else if !(watch_files && self.files_changed().await) {
                continue;
            } else {
                // Let an editor or a copy finish writing before reading.
                tokio::time::sleep(Duration::from_millis(200)).await;
                tracing::info!("a configuration file changed: reloading");
            }
            let _ = self.reload().await;
        }
    }
}
