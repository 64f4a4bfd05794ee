//! [`Host`]: a loaded handler, its engine, its worker pool and its sessions.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use wasmtime::Engine;

use crate::cache::CompileCache;
use crate::compiled::{self, Source};
use crate::component::{self, ComponentInfo};
use crate::config::{HostConfig, InstanceScope};
use crate::engine::{self, EpochTicker, PerInstance};
use crate::error::{InvokeError, LoadError};
use crate::events::{self, Event};
use crate::inner::Inner;
use crate::invocation::{Completion, Context, Deadline, Invocation, RunningInvocation};
use crate::jobs::{self, Job};
use crate::outbound::{Outbound, OutboundSnapshot};
use crate::pool::WorkerPool;
use crate::sessions::{self, Sessions};
use crate::shared::{GuestStatus, Shared};
use crate::socket::{self, RunningSocket};
use crate::tasks::AsyncTasks;

/// The optional capability names `check` reports.
const BACKGROUND: &str = "background";
const WEBSOCKET: &str = "websocket";

/// A handler component loaded and linked, ready to run invocations. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Host {
    inner: Arc<Inner>,
}

/// The result of [`Host::inspect`]: what the component holds, and whether it is a handler.
#[derive(Debug)]
pub struct Inspection {
    /// Its exports, imports and optional capabilities.
    pub info: ComponentInfo,
    /// `Ok` if it can be served; otherwise why not.
    pub verdict: Result<(), LoadError>,
}

impl Host {
    /// Reads, checks and links the component at `path`, and starts the worker pool. A
    /// precompiled component (`wasm-agent compile`) is served only from a file named `.cwasm`:
    /// it is native code, never loaded by accident.
    pub fn load_file(path: &Path, config: HostConfig) -> Result<Self, LoadError> {
        let bytes = read(path)?;
        let name = path.display().to_string();
        Self::load_source(source_of(path, &bytes, &name)?, config)
    }

    /// Compiles (or finds in the compile cache), checks and links a component, sizes and
    /// reserves the instance pool for it, and starts the worker pool.
    pub fn load(bytes: &[u8], config: HostConfig) -> Result<Self, LoadError> {
        Self::load_source(Source::Wasm(bytes), config)
    }

    fn load_source(source: Source<'_>, config: HostConfig) -> Result<Self, LoadError> {
        let started = Instant::now();
        let compiler = engine::compiler(&config)?;
        let cache = config.cache_dir.as_deref().and_then(CompileCache::open);
        let obtained = compiled::obtain(&compiler, source, cache.as_ref())?;
        let checked = &obtained.component;
        component::prepare(&compiler, &component::linker(&compiler)?, checked)?;
        let info = component::describe(&compiler, checked);
        let per_instance = match source {
            Source::Wasm(bytes) => PerInstance::of(checked, bytes),
            Source::Precompiled { .. } => PerInstance::of_precompiled(checked),
        };
        let slots = pool_slots(&config, &info);
        let engine = engine::build(&config, slots, per_instance)?;
        let component = compiled::load_into(&obtained.serialized, &engine)?;
        let prepared = component::prepare(&engine, &component::linker(&engine)?, &component)?;
        let (launcher, launches) = mpsc::unbounded_channel();
        let setup = |e: std::io::Error| LoadError::Engine(e.to_string());
        let outbound = Arc::new(Outbound::new(config.outbound.clone()).map_err(setup)?);
        let shared = Arc::new(Shared::new(
            config.clone(),
            info.has(BACKGROUND),
            launcher,
            outbound,
        ));
        let sessions = Arc::new(Sessions::new(&config));
        let pool = WorkerPool::new(config.worker_threads()).map_err(setup)?;
        let ticker = EpochTicker::start(engine.clone(), config.epoch_tick).map_err(setup)?;
        let reaper = CancellationToken::new();
        pool.spawn(sessions::reap(
            sessions.clone(),
            shared.memory.clone(),
            reaper.clone(),
        ));
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            code = obtained.serialized.origin(),
            slots,
            core_instances_each = per_instance.core_instances,
            memories_each = per_instance.memories,
            features = ?info.features,
            "component loaded"
        );
        let inner = Arc::new(Inner {
            engine,
            prepared,
            shared,
            sessions,
            info,
            root: CancellationToken::new(),
            pool,
            websockets: Arc::new(Semaphore::new(config.max_websockets as usize)),
            _reaper: reaper.drop_guard(),
            _ticker: ticker,
        });
        inner
            .pool
            .spawn(jobs::launcher(Arc::downgrade(&inner), launches));
        Ok(Self { inner })
    }

    /// Compiles a component (or finds it in the compile cache) and reports what it holds and
    /// whether it is a handler, without starting anything.
    pub fn inspect(bytes: &[u8], config: &HostConfig) -> Result<Inspection, LoadError> {
        let engine = engine::compiler(config)?;
        let cache = config.cache_dir.as_deref().and_then(CompileCache::open);
        let component = compiled::obtain(&engine, Source::Wasm(bytes), cache.as_ref())?.component;
        let info = component::describe(&engine, &component);
        let linker = component::linker(&engine)?;
        let verdict = component::prepare(&engine, &linker, &component).map(drop);
        Ok(Inspection { info, verdict })
    }

    /// Compiles a component ahead of time into a `.cwasm` for `config.target` (this machine's
    /// when none), with the code generation settings of `config` (fuel metering).
    pub fn precompile(bytes: &[u8], config: &HostConfig) -> Result<Vec<u8>, LoadError> {
        compiled::precompile(&engine::compiler(config)?, bytes)
    }

    /// Starts an invocation on the worker pool: in its session's instance if it has a session
    /// id and instances are per session, otherwise in a fresh instance.
    pub fn invoke(&self, invocation: Invocation) -> RunningInvocation {
        self.invoke_holding(invocation, ())
    }

    /// Starts an invocation and holds `guard` until it has ended, so that whatever the guard
    /// stands for (an admission permit) outlives the invocation's use of an instance.
    pub fn invoke_holding<G: Send + 'static>(
        &self,
        invocation: Invocation,
        guard: G,
    ) -> RunningInvocation {
        let (job, events) = self.job(invocation);
        let cancel = job.cancel.clone();
        // The reader takes the outcome once the event stream has ended. Ending the stream only
        // after the outcome is sent wakes it once, with both ready, instead of twice.
        let stream_open = job.events.hold_open();
        let (done, outcome) = oneshot::channel();
        let inner = self.inner.clone();
        self.inner.pool.spawn(async move {
            let result = jobs::invoke(&inner, job).await;
            drop(guard);
            let _ = done.send(result);
            drop(stream_open);
        });
        RunningInvocation {
            events,
            outcome,
            cancel,
        }
    }

    /// Runs an invocation on the caller's own task instead of the worker pool, discarding its
    /// events. This measures instantiate + call without the hand-off to the pool; a server must
    /// not use it, since guest code would then run on its runtime.
    #[doc(hidden)]
    pub async fn invoke_here(&self, invocation: Invocation) -> Result<Completion, InvokeError> {
        let (job, _) = self.job(invocation);
        jobs::invoke(&self.inner, job).await
    }

    /// An invocation ready to run, and the caller's end of its event channel.
    fn job(&self, invocation: Invocation) -> (Job, mpsc::Receiver<Event>) {
        let config = &self.inner.shared.config;
        let cancel = self.inner.root.child_token();
        let (events, receiver) = events::channel(
            config.event_buffer,
            config.event_buffer_bytes,
            cancel.clone(),
        );
        let deadline = Deadline::new(
            Instant::now(),
            invocation.timeout,
            invocation.stream_timeout,
        );
        let job = Job {
            invocation,
            deadline,
            events,
            cancel,
        };
        (job, receiver)
    }

    /// Starts the component's WebSocket handler for one connection, in an instance of its own,
    /// with `timeout` for the whole connection. Refused when the component has no WebSocket
    /// handler or every connection slot is taken.
    pub fn connect(
        &self,
        context: Context,
        timeout: Duration,
    ) -> Result<RunningSocket, InvokeError> {
        if !self.has_websocket() {
            return Err(InvokeError::Internal(
                "the component does not export a WebSocket handler".into(),
            ));
        }
        let slot = self
            .inner
            .websockets
            .clone()
            .try_acquire_owned()
            .map_err(|_| {
                InvokeError::Capacity(format!(
                    "all {} WebSocket connections are in use",
                    self.inner.shared.config.max_websockets
                ))
            })?;
        let cancel = self.inner.root.child_token();
        let (done, outcome) = oneshot::channel();
        let (socket, running) = socket::pair(cancel.clone(), outcome);
        let deadline = Deadline::new(Instant::now(), timeout, None);
        let inner = self.inner.clone();
        self.inner.pool.spawn(async move {
            jobs::websocket(&inner, context, deadline, socket, cancel, slot, done).await;
        });
        Ok(running)
    }

    /// Runs `work` on the worker pool and returns its result: for work whose size a client
    /// controls (checking a large body), which must not run on the caller's runtime.
    pub async fn run_on_pool<R, F>(&self, work: F) -> Option<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (done, result) = oneshot::channel();
        self.inner.pool.spawn(async move {
            let _ = done.send(work());
        });
        result.await.ok()
    }

    /// Waits until no background work is scheduled or running (for a one-shot caller, which
    /// would otherwise end the work by exiting).
    pub async fn background_finished(&self) {
        if let Some(slots) = &self.inner.shared.background {
            let all = self.inner.shared.config.max_background;
            let _ = slots.acquire_many(all).await;
        }
    }

    /// Stops the host (at shutdown): cancels every invocation in progress, each getting the
    /// cancel grace, at most [`STOP_GRACE`](crate::config::STOP_GRACE), to return, and
    /// refuses any submitted later. An invocation this stops that does not complete ends in
    /// [`InvokeError::ShuttingDown`], not [`InvokeError::Cancelled`].
    pub fn cancel_all(&self) {
        self.inner.root.cancel();
    }

    /// Completes once [`cancel_all`](Self::cancel_all) has been called: for a caller still
    /// waiting to submit an invocation, which the host would now refuse.
    pub async fn stopped(&self) {
        self.inner.root.cancelled().await;
    }

    /// Bytes of linear memory all instances hold now, if a process-wide budget is set.
    pub fn memory_in_use(&self) -> Option<u64> {
        self.inner.shared.memory.as_ref().map(|m| m.in_use())
    }

    /// What the loaded component exports and imports.
    pub fn info(&self) -> &ComponentInfo {
        &self.inner.info
    }

    /// The configuration the host runs with.
    pub fn config(&self) -> &HostConfig {
        &self.inner.shared.config
    }

    /// The registry of async tasks guests opened (and background work holds open).
    pub fn tasks(&self) -> &Arc<AsyncTasks> {
        &self.inner.shared.tasks
    }

    /// The status a guest set for `/ping`, if any.
    pub fn guest_status(&self) -> Option<GuestStatus> {
        self.inner.shared.guest_status()
    }

    /// Whether the component exports a WebSocket handler.
    pub fn has_websocket(&self) -> bool {
        self.inner.info.has(WEBSOCKET)
    }

    /// Sessions that exist now, with or without a live instance.
    pub fn sessions(&self) -> usize {
        self.inner.sessions.len()
    }

    /// Counts of the outbound requests guests made.
    pub fn outbound_stats(&self) -> OutboundSnapshot {
        self.inner.shared.outbound.stats()
    }

    /// Instances currently allocated from the pool.
    pub fn live_instances(&self) -> Option<u64> {
        self.inner
            .engine
            .pooling_allocator_metrics()
            .map(|m| m.component_instances())
    }

    /// Bytes the pool keeps resident in slots no instance holds (linear memories, tables and
    /// stacks kept warm for the next instance): memory the process holds on purpose, which an
    /// operator watching its size should tell apart from a leak.
    pub fn pool_warm_bytes(&self) -> Option<u64> {
        let metrics = self.inner.engine.pooling_allocator_metrics()?;
        let bytes = metrics.unused_memory_bytes_resident()
            + metrics.unused_table_bytes_resident()
            + metrics.unused_stack_bytes_resident().unwrap_or(0);
        Some(bytes as u64)
    }
}

/// Instance slots the pool needs: the fresh instances of concurrent invocations, plus one per
/// session, background run and WebSocket connection the component can have.
fn pool_slots(config: &HostConfig, info: &ComponentInfo) -> u32 {
    let sessions = match config.scope {
        InstanceScope::Session => config.max_sessions,
        InstanceScope::Request => 0,
    };
    let background = if info.has(BACKGROUND) {
        config.max_background
    } else {
        0
    };
    let websockets = if info.has(WEBSOCKET) {
        config.max_websockets
    } else {
        0
    };
    config
        .instance_slots
        .saturating_add(sessions)
        .saturating_add(background)
        .saturating_add(websockets)
}

/// What the file holds: WebAssembly, or native code that only a `.cwasm` name may carry.
fn source_of<'a>(path: &Path, bytes: &'a [u8], name: &'a str) -> Result<Source<'a>, LoadError> {
    let named_cwasm = path.extension().is_some_and(|e| e == "cwasm");
    match (Engine::detect_precompiled(bytes).is_some(), named_cwasm) {
        (true, true) => Ok(Source::Precompiled { bytes, name }),
        (false, false) => Ok(Source::Wasm(bytes)),
        (true, false) => Err(LoadError::Precompiled(format!(
            "{name} holds precompiled native code; it is served only from a file named .cwasm"
        ))),
        (false, true) => Err(LoadError::Precompiled(format!(
            "{name} is named .cwasm but is not a component precompiled by `wasm-agent compile`"
        ))),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests;
