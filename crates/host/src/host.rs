//! [`Host`]: a loaded handler, its engine, its worker pool and its sessions.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use wasm_agent_contract::json::{self, PayloadError};
use wasmtime::Engine;

use crate::admission::AdmissionRefusals;
use crate::cache::{CompileCache, CompileCacheLookup};
use crate::compiled::{self, Serialized, Source};
use crate::component::{self, ComponentInfo};
use crate::config::{HostConfig, InstanceScope};
use crate::engine::{self, EpochTicker, PerInstance};
use crate::error::{InvokeError, LoadError};
use crate::events::{self, Event};
use crate::inner::{Inner, Parts};
use crate::invocation::{
    Completion, Context, Deadline, Invocation, RunningInvocation, UsageReport,
};
use crate::jobs::{self, Job, Lease};
use crate::outbound::{DestinationCounts, Outbound, OutboundSnapshot};
use crate::pool::WorkerPool;
use crate::sessions::{self, SessionEvictions, Sessions};
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

/// What [`Host::admitted`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    /// Invocations running in fresh instances.
    pub running: usize,
    /// Invocations waiting for a fresh instance.
    pub waiting: usize,
}

/// Why [`Host::check_payload`] gave no payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadCheck {
    /// The body is not UTF-8 JSON.
    Refused(PayloadError),
    /// The host stopped before the check ran.
    Stopped,
}

/// Bodies up to this size are checked on the caller's runtime, which takes microseconds;
/// larger ones on the worker pool.
const INLINE_CHECK_LIMIT: usize = 64 << 10;

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
        let compile_cache = match (&cache, &obtained.serialized) {
            (Some(_), Serialized::Cached(_)) => CompileCacheLookup::Hit,
            (Some(_), Serialized::Compiled(_)) => CompileCacheLookup::Miss,
            _ => CompileCacheLookup::Skipped,
        };
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
        let setup = |e: std::io::Error| LoadError::Engine(e.into());
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
        let inner = Arc::new(Inner::new(Parts {
            engine,
            prepared,
            shared,
            sessions,
            info,
            pool,
            compile_cache,
            reaper: reaper.drop_guard(),
            ticker,
        }));
        inner.spawn(jobs::launcher(Arc::downgrade(&inner), launches));
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
    /// id and instances are per session, otherwise in a fresh instance once one is free. A
    /// fresh instance is waited for in a bounded queue, no longer than the invocation's own
    /// timeout; the host holds the slot until the instance is gone.
    ///
    /// Refused with [`InvokeError::Busy`] when the queue is full or the wait runs out, and
    /// with [`InvokeError::ShuttingDown`] once the host is stopping. A session's own bounds
    /// (its queue, the number of sessions) are applied on the pool, and end the invocation.
    pub async fn invoke(&self, invocation: Invocation) -> Result<RunningInvocation, InvokeError> {
        // Its session's instance has a slot of its own, and the session's queue and count bound
        // the waiting: a slot held while queued behind the session's earlier invocations would
        // let a few busy sessions lock every other caller out.
        let lease = match self.session_lease(&invocation) {
            Some(lease) => lease,
            None => Lease::Fresh(self.inner.admit(invocation.timeout).await?),
        };
        let (job, events) = self.job(invocation, lease);
        let cancel = job.cancel.clone();
        let usage = job.usage.clone();
        // The reader takes the outcome once the event stream has ended. Ending the stream only
        // after the outcome is sent wakes it once, with both ready, instead of twice.
        let stream_open = job.events.hold_open();
        let (done, outcome) = oneshot::channel();
        let inner = self.inner.clone();
        self.inner.spawn(async move {
            // The call's future is several kilobytes: boxed here, on the worker, the caller's
            // runtime spawns (and copies) only the few words this block captures.
            let result = Box::pin(jobs::invoke(&inner, job)).await;
            let _ = done.send(result);
            drop(stream_open);
        });
        Ok(RunningInvocation {
            events,
            outcome,
            cancel,
            usage,
        })
    }

    /// Runs an invocation on the caller's own task instead of the worker pool, without
    /// admission, discarding its events. This measures instantiate + call without the hand-off
    /// to the pool; a server must not use it, since guest code would then run on its runtime.
    #[doc(hidden)]
    pub async fn invoke_here(&self, invocation: Invocation) -> Result<Completion, InvokeError> {
        let lease = self.session_lease(&invocation).unwrap_or(Lease::Unbounded);
        let (job, _) = self.job(invocation, lease);
        jobs::invoke(&self.inner, job).await
    }

    /// Its session's instance, if the invocation runs in one.
    fn session_lease(&self, invocation: &Invocation) -> Option<Lease> {
        let id = self.inner.session_of(&invocation.context)?;
        Some(Lease::Session(id.to_owned()))
    }

    /// An invocation ready to run in the instance `lease` names, and the caller's end of its
    /// event channel.
    fn job(&self, invocation: Invocation, lease: Lease) -> (Job, mpsc::Receiver<Event>) {
        let config = self.inner.config();
        let cancel = self.inner.call_token();
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
            lease,
            deadline,
            events,
            cancel,
            usage: UsageReport::default(),
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
            return Err(InvokeError::Unsupported("WebSocket connections"));
        }
        let slot = self.inner.websocket_slot().ok_or_else(|| {
            InvokeError::Capacity(format!(
                "all {} WebSocket connections are in use",
                self.inner.config().max_websockets
            ))
        })?;
        let cancel = self.inner.call_token();
        let (done, outcome) = oneshot::channel();
        let (socket, running) = socket::pair(cancel.clone(), outcome);
        let deadline = Deadline::new(Instant::now(), timeout, None);
        let inner = self.inner.clone();
        self.inner.spawn(async move {
            jobs::websocket(&inner, context, deadline, socket, cancel, slot, done).await;
        });
        Ok(running)
    }

    /// Checks that a request body is UTF-8 and one JSON document and returns it as text. A
    /// large body takes milliseconds to check, so it is checked on the worker pool, never on
    /// the caller's runtime, whose size a client would otherwise control.
    pub async fn check_payload(&self, bytes: Vec<u8>) -> Result<String, PayloadCheck> {
        if bytes.len() <= INLINE_CHECK_LIMIT {
            return json::payload(bytes).map_err(PayloadCheck::Refused);
        }
        let (done, checked) = oneshot::channel();
        self.inner.spawn(async move {
            let _ = done.send(json::payload(bytes));
        });
        match checked.await {
            Ok(checked) => checked.map_err(PayloadCheck::Refused),
            Err(_) => Err(PayloadCheck::Stopped),
        }
    }

    /// Waits until no background work is scheduled or running (for a one-shot caller, which
    /// would otherwise end the work by exiting).
    pub async fn background_finished(&self) {
        if let Some(slots) = &self.inner.shared().background {
            let all = self.inner.config().max_background;
            let _ = slots.acquire_many(all).await;
        }
    }

    /// Stops the host (at shutdown): cancels every invocation in progress, each getting the
    /// cancel grace, at most [`STOP_GRACE`](crate::config::STOP_GRACE), to return, and
    /// refuses any submitted later. An invocation this stops that does not complete ends in
    /// [`InvokeError::ShuttingDown`], not [`InvokeError::Cancelled`].
    pub fn cancel_all(&self) {
        self.inner.stop();
    }

    /// Whether anything but this handle holds the host: a call in progress, or another clone.
    /// A host replaced by a new one is unloaded once this is false.
    pub fn is_in_use(&self) -> bool {
        Arc::strong_count(&self.inner) > 1
    }

    /// Whether [`cancel_all`](Self::cancel_all) has been called.
    pub fn is_stopping(&self) -> bool {
        self.inner.is_stopping()
    }

    /// Completes once [`cancel_all`](Self::cancel_all) has been called: for a caller still
    /// waiting to submit an invocation, which the host would now refuse.
    pub async fn stopped(&self) {
        self.inner.stop_token().cancelled().await;
    }

    /// Invocations running in fresh instances, and waiting for one, now.
    pub fn admitted(&self) -> Admitted {
        let (running, waiting) = self.inner.admitted();
        Admitted { running, waiting }
    }

    /// Invocations refused for want of a fresh instance since the host started.
    pub fn admission_refusals(&self) -> AdmissionRefusals {
        self.inner.admission_refusals()
    }

    /// Bytes of linear memory all instances hold now, if a process-wide budget is set.
    pub fn memory_in_use(&self) -> Option<u64> {
        self.inner.shared().memory.as_ref().map(|m| m.in_use())
    }

    /// What the loaded component exports and imports.
    pub fn info(&self) -> &ComponentInfo {
        self.inner.info()
    }

    /// The configuration the host runs with.
    pub fn config(&self) -> &HostConfig {
        self.inner.config()
    }

    /// The registry of async tasks guests opened (and background work holds open).
    pub fn tasks(&self) -> &AsyncTasks {
        &self.inner.shared().tasks
    }

    /// The status a guest set for `/ping`, if any.
    pub fn guest_status(&self) -> Option<GuestStatus> {
        self.inner.shared().guest_status()
    }

    /// Whether the component exports a WebSocket handler.
    pub fn has_websocket(&self) -> bool {
        self.inner.info().has(WEBSOCKET)
    }

    /// Sessions that exist now, with or without a live instance.
    pub fn sessions(&self) -> usize {
        self.inner.sessions().len()
    }

    /// Session instances dropped since the host started, by cause.
    pub fn session_evictions(&self) -> SessionEvictions {
        self.inner.sessions().evictions()
    }

    /// Counts of the outbound requests guests made.
    pub fn outbound_stats(&self) -> OutboundSnapshot {
        self.inner.shared().outbound.stats()
    }

    /// Counts of the outbound requests guests made, by destination host.
    pub fn outbound_destinations(&self) -> Vec<DestinationCounts> {
        self.inner.shared().outbound.destinations()
    }

    /// What the compile cache gave when the component was loaded.
    pub fn compile_cache(&self) -> CompileCacheLookup {
        self.inner.compile_cache()
    }

    /// Instance slots the pool holds: one for each invocation that may run at once in a fresh
    /// instance, session, background run and WebSocket connection.
    pub fn instance_slots(&self) -> u32 {
        pool_slots(self.config(), self.info())
    }

    /// Instances currently allocated from the pool.
    pub fn live_instances(&self) -> Option<u64> {
        self.inner
            .engine()
            .pooling_allocator_metrics()
            .map(|m| m.component_instances())
    }

    /// Bytes the pool keeps resident in slots no instance holds (linear memories, tables and
    /// stacks kept warm for the next instance): memory the process holds on purpose, which an
    /// operator watching its size should tell apart from a leak.
    pub fn pool_warm_bytes(&self) -> Option<u64> {
        let metrics = self.inner.engine().pooling_allocator_metrics()?;
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
        .max_concurrency
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
        (true, false) => Err(LoadError::Precompiled {
            reason: format!(
                "{name} holds precompiled native code; it is served only from a file named .cwasm"
            ),
            source: None,
        }),
        (false, true) => Err(LoadError::Precompiled {
            reason: format!(
                "{name} is named .cwasm but is not a component precompiled by `wasm-agent compile`"
            ),
            source: None,
        }),
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
