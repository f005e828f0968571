//! The wasmtime side: one `Engine` (pooling allocator, epoch interruption), the `Linker` with
//! WASI (no filesystem, environment, arguments or sockets) and our capabilities, plugin loading
//! through an on-disk compile cache, and one sandboxed call with a deadline and a memory cap.

mod cache;

use crate::bindings::{Connector, ConnectorPre};
use crate::capabilities::{self, stdio::StdioSink, Caps, HasCaps};
use anyhow::{Context, Result};
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub use cache::CacheOutcome;

/// How often the epoch ticks; a runaway guest overshoots its deadline by at most about this.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Settings of the engine, from the manifest's `[runtime]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineOptions {
    /// Use the pooling instance allocator (faster instantiation, reserves address space).
    pub pooling: bool,
    /// Instances that may exist at once with the pooling allocator.
    pub max_instances: u32,
    /// Largest memory any plugin may be granted, in bytes (a pool slot's size).
    pub max_memory_bytes: u64,
    /// Where compiled plugins are cached.
    pub cache_dir: PathBuf,
}

/// The shared engine and linker; cheap to share behind an `Arc`.
pub struct Runtime {
    engine: Engine,
    linker: Linker<RunData>,
    cache_dir: PathBuf,
    /// One permit per instance the engine may hold at once: a call past `max_instances` waits
    /// for a slot (within its deadline) instead of failing to instantiate.
    instances: Arc<tokio::sync::Semaphore>,
}

/// A compiled, linked plugin ready to instantiate.
pub struct Plugin {
    pre: ConnectorPre<RunData>,
    component: Component,
    /// The `.wasm` file it came from.
    pub path: PathBuf,
    /// Whether loading it hit the compile cache.
    pub cache: CacheOutcome,
}

/// Everything one call's `Store` holds: WASI's context (stdio into the call's log, nothing but
/// clocks and random besides), the memory cap, and the call's capabilities.
pub struct RunData {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryLimiter,
    stdout: StdioSink,
    stderr: StdioSink,
    /// The call's capabilities.
    pub caps: Caps,
}

impl RunData {
    /// Store data for a call with the prepared `caps`, under `memory_limit` bytes.
    pub fn new(caps: Caps, memory_limit: u64) -> Self {
        let (stdout, stderr) = StdioSink::for_call(&caps.log);
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        RunData {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(memory_limit),
            stdout,
            stderr,
            caps,
        }
    }

    /// Emits unterminated output lines and returns the last stderr line (a panic message).
    pub fn finish_stdio(&self) -> Option<String> {
        self.stdout.flush_pending();
        self.stderr.flush_pending();
        self.stderr.stderr_last_line()
    }

    /// Whether the plugin tried to grow memory past its cap.
    pub fn hit_memory_limit(&self) -> bool {
        self.limiter.hit
    }
}

impl HasCaps for RunData {
    fn caps(&mut self) -> &mut Caps {
        &mut self.caps
    }
}

impl WasiView for RunData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps linear memory per run and remembers that the cap was hit, so the run is recorded as
/// `out-of-memory` rather than a generic trap.
struct MemoryLimiter {
    max: u64,
    hit: bool,
}

impl MemoryLimiter {
    fn new(max: u64) -> Self {
        MemoryLimiter { max, hit: false }
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.max {
            self.hit = true;
            return Err(wasmtime::format_err!(
                "memory limit of {} bytes exceeded",
                self.max
            ));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// How a call into a plugin ended, before it is mapped to a run status.
pub enum CallOutcome<T> {
    /// The export returned.
    Returned(T),
    /// The guest trapped; the message is for the run record.
    Trapped(String),
    /// The guest called WASI `exit` with this code.
    Exited(i32),
    /// The deadline passed (in guest code or inside a host call).
    Timeout,
    /// The guest grew memory past its cap.
    OutOfMemory,
}

impl Runtime {
    /// Builds the engine and linker.
    pub fn new(opts: &EngineOptions) -> Result<Runtime> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        if opts.pooling {
            let mut pool = PoolingAllocationConfig::default();
            pool.total_component_instances(opts.max_instances)
                .total_core_instances(opts.max_instances.saturating_mul(4))
                .total_memories(opts.max_instances.saturating_mul(2))
                .total_tables(opts.max_instances.saturating_mul(4))
                .total_stacks(opts.max_instances)
                .max_memory_size(opts.max_memory_bytes as usize)
                // Keep a little of each memory resident between instances: resetting it is
                // cheaper than faulting it in again on the next run.
                .linear_memory_keep_resident(64 * 1024);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&config)
            .map_err(anyhow::Error::from)
            .context("cannot create the wasm engine")?;
        spawn_epoch_ticker(&engine);

        let mut linker: Linker<RunData> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow::Error::from)?;
        capabilities::link(&mut linker).map_err(anyhow::Error::from)?;

        Ok(Runtime {
            engine,
            linker,
            cache_dir: opts.cache_dir.clone(),
            instances: Arc::new(tokio::sync::Semaphore::new(opts.max_instances as usize)),
        })
    }

    /// The engine (for benchmarks and tests).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Loads a plugin, compiling it only when the cache has no artifact for these exact bytes
    /// and this engine configuration. With `sha256`, a file whose digest differs is refused.
    pub fn load(&self, path: &Path, sha256: Option<&str>) -> Result<Plugin> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read plugin {}", path.display()))?;
        if let Some(pinned) = sha256 {
            let actual = hex::encode(sha2::Sha256::digest(&bytes));
            anyhow::ensure!(
                actual == pinned,
                "plugin {} has SHA-256 {actual}, not the pinned {pinned}; refusing to load it",
                path.display()
            );
        }
        let (component, cache) = cache::load(&self.engine, &self.cache_dir, &bytes)
            .with_context(|| format!("cannot compile plugin {}", path.display()))?;
        self.link(component, path, cache)
    }

    /// Compiles a plugin from bytes without the cache (benchmarks).
    pub fn load_uncached(&self, path: &Path) -> Result<Plugin> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read plugin {}", path.display()))?;
        let component = Component::from_binary(&self.engine, &bytes)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("cannot compile plugin {}", path.display()))?;
        self.link(component, path, CacheOutcome::Disabled)
    }

    /// The names a plugin imports (WASI's and our interfaces, with their versions) and exports.
    pub fn world_of(&self, plugin: &Plugin) -> (Vec<String>, Vec<String>) {
        let ty = plugin.component.component_type();
        let names = |items: &mut dyn Iterator<Item = &str>| {
            let mut v: Vec<String> = items.map(str::to_owned).collect();
            v.sort();
            v
        };
        let imports = names(&mut ty.imports(&self.engine).map(|(n, _)| n));
        let exports = names(&mut ty.exports(&self.engine).map(|(n, _)| n));
        (imports, exports)
    }

    fn link(&self, component: Component, path: &Path, cache: CacheOutcome) -> Result<Plugin> {
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!(
                    "plugin {} does not fit the connector world (was it built against this host's WIT, connector:host@0.2.0?)",
                    path.display()
                )
            })?;
        let pre = ConnectorPre::new(pre)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!(
                    "plugin {} does not export the connector world",
                    path.display()
                )
            })?;
        Ok(Plugin {
            pre,
            component,
            path: path.to_owned(),
            cache,
        })
    }

    /// Instantiates `plugin` in a fresh store and calls `f` on it, bounded by `timeout` (host
    /// calls included) and the memory cap in `data`. Returns the store data for commit and
    /// counters, and how the call ended.
    pub async fn call<T, F>(
        &self,
        plugin: &Plugin,
        data: RunData,
        timeout: Duration,
        f: F,
    ) -> (RunData, CallOutcome<T>)
    where
        F: for<'a> FnOnce(
            &'a Connector,
            &'a mut Store<RunData>,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = wasmtime::Result<T>> + Send + 'a>,
        >,
        T: Send,
    {
        let mut store = Store::new(&self.engine, data);
        store.limiter(|d| &mut d.limiter);
        // At every epoch tick the guest yields to the executor (so a CPU-bound plugin cannot
        // starve the scheduler, the heartbeat of its own run or other runs on the same worker
        // thread), and past its deadline it traps.
        let started = Instant::now();
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            Ok(if started.elapsed() >= timeout {
                wasmtime::UpdateDeadline::Interrupt
            } else {
                wasmtime::UpdateDeadline::Yield(1)
            })
        });

        // The epoch deadline stops guest code; this timeout stops the whole call, including a
        // guest parked inside a slow host call, which epochs cannot reach. Dropping the future
        // drops the instance and, with it, everything the run held.
        let outer = timeout + EPOCH_TICK * 2;
        let result = tokio::time::timeout(outer, async {
            let _slot = self.instances.acquire().await?;
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            f(&instance, &mut store).await
        })
        .await;
        let data = store.into_data();
        let outcome = match result {
            Err(_elapsed) => CallOutcome::Timeout,
            Ok(Ok(value)) => CallOutcome::Returned(value),
            Ok(Err(err)) => {
                if data.hit_memory_limit() {
                    CallOutcome::OutOfMemory
                } else if let Some(exit) = err.downcast_ref::<wasmtime_wasi::I32Exit>() {
                    CallOutcome::Exited(exit.0)
                } else if matches!(err.downcast_ref::<Trap>(), Some(Trap::Interrupt))
                    || started.elapsed() >= timeout
                {
                    CallOutcome::Timeout
                } else {
                    CallOutcome::Trapped(trap_message(&err))
                }
            }
        };
        (data, outcome)
    }
}

/// The trap's own description without the wasm backtrace (which the debug log keeps).
fn trap_message(err: &wasmtime::Error) -> String {
    tracing::debug!(error = ?err, "plugin trapped");
    match err.downcast_ref::<Trap>() {
        // Its `Display` already reads "wasm trap: …".
        Some(trap) => trap.to_string(),
        None => {
            let text = format!("{err}");
            text.lines().next().unwrap_or("trap").to_owned()
        }
    }
}

/// Ticks the engine's epoch until the engine is dropped.
fn spawn_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => return,
            }
        })
        .expect("cannot spawn the epoch ticker thread");
}
