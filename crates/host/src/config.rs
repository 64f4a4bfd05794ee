//! The host's limits and pool sizes, validated by the caller and passed in whole.

use std::time::Duration;

use crate::outbound::OutboundConfig;

// Defined beside `Invocation`, whose builder uses it: `invocation` sits below this module.
pub use crate::invocation::DEFAULT_TIMEOUT;
/// Threads of the worker pool that runs guest code: 0, one per core, since guest code is what
/// the machine is for and a waiting guest holds no thread.
pub const DEFAULT_WORKERS: usize = 0;
/// Linear memory one instance may use: enough for an interpreter (Python, JavaScript) and its
/// heap, and small enough that a few hundred greedy guests cannot exhaust a server.
pub const DEFAULT_MAX_MEMORY: u64 = 1 << 30;
/// The wasm stack an invocation may use: wasmtime's own default, ample for interpreters.
pub const DEFAULT_MAX_WASM_STACK: usize = 512 << 10;
/// Invocations running at once in fresh instances, one pool slot each. A guest that waits holds
/// no thread, so this is sized by instances rather than cores; each slot reserves address space
/// (not memory), so it is cheap.
pub const DEFAULT_MAX_CONCURRENCY: u32 = 256;
/// Invocations waiting for a fresh instance before new ones are refused ([`InvokeError::Busy`]).
///
/// [`InvokeError::Busy`]: crate::InvokeError::Busy
pub const DEFAULT_MAX_QUEUE: usize = 256;
/// How often the epoch advances: the time slice a guest runs before it yields its worker thread,
/// and the resolution of deadlines enforced inside guest code.
pub const DEFAULT_EPOCH_TICK: Duration = Duration::from_millis(10);
/// Events buffered between a guest and a slow caller before `emit` waits.
pub const DEFAULT_EVENT_BUFFER: usize = 64;
/// Bytes of events buffered between a guest and a slow caller before `emit` waits.
pub const DEFAULT_EVENT_BUFFER_BYTES: usize = 4 << 20;
/// Bytes of one result a guest may return: a model's answer is kilobytes, a generated file a
/// few megabytes; far more would be held in the host whole while it is sent.
pub const DEFAULT_MAX_RESULT_BYTES: usize = 16 << 20;
/// Bytes of one event a guest may emit: a token or a tool's result, and room for an image; as
/// much as the event buffer holds by default, so one event at the limit is buffered alone.
pub const DEFAULT_MAX_EVENT_BYTES: usize = DEFAULT_EVENT_BUFFER_BYTES;
/// How long a call stopped by shutdown may take to return: the shutdown grace is already over
/// and the process must exit within a second of it, answering every caller on the way out.
pub const STOP_GRACE: Duration = Duration::from_millis(500);
/// Async tasks one instance may have open: far more than an agent tracks, far fewer than would
/// let a looping guest grow the host's registry without bound.
pub const DEFAULT_MAX_ASYNC_TASKS: usize = 1000;
/// Bytes of stdout and stderr an invocation may write to the log; the rest is dropped, so a
/// chatty guest cannot flood the host's log.
pub const DEFAULT_GUEST_LOG_BYTES: usize = 64 << 10;
/// How long a cancelled invocation may take to notice and return before it is cut off.
pub const DEFAULT_CANCEL_GRACE: Duration = Duration::from_secs(2);
/// Session instances kept at once; past it the least recently used idle one is dropped.
pub const DEFAULT_MAX_SESSIONS: u32 = 1024;
/// A session's instance is dropped after this long without invocations: AgentCore's idle
/// session timeout.
pub const DEFAULT_SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// A session's instance is dropped this long after it was created: AgentCore's maximum
/// session lifetime.
pub const DEFAULT_SESSION_MAX_LIFETIME: Duration = Duration::from_secs(8 * 60 * 60);
/// Invocations of one session that may wait while another of it runs; past it, 503.
pub const DEFAULT_SESSION_QUEUE: usize = 16;
/// Background runs scheduled or running at once; past it, scheduling fails.
pub const DEFAULT_MAX_BACKGROUND: u32 = 64;
/// The deadline of one background run: AgentCore's limit for an asynchronous job.
pub const DEFAULT_TASK_TIMEOUT: Duration = Duration::from_secs(8 * 60 * 60);
/// WebSocket connections served at once.
pub const DEFAULT_MAX_WEBSOCKETS: u32 = 64;

/// Which instance an invocation runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InstanceScope {
    /// An invocation with a session id runs in its session's instance, kept between
    /// invocations; one without gets a fresh instance.
    #[default]
    Session,
    /// Every invocation gets a fresh instance.
    Request,
}

/// Everything the host needs to know before it loads a component.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Threads of the worker pool that runs guest code; 0 means one per core.
    pub workers: usize,
    /// Invocations that may run at once in fresh instances (one pool slot each); sessions,
    /// background runs and WebSockets have slots of their own on top.
    pub max_concurrency: u32,
    /// Invocations that may wait, each no longer than its own deadline, for a fresh instance
    /// while `max_concurrency` run; past it they are refused at once.
    pub max_queue: usize,
    /// Whether invocations with a session id share their session's instance.
    pub scope: InstanceScope,
    /// Session instances kept at once.
    pub max_sessions: u32,
    /// Time without invocations after which a session's instance is dropped.
    pub session_idle_timeout: Duration,
    /// Time after its creation when a session's instance is dropped.
    pub session_max_lifetime: Duration,
    /// Invocations of one session that may wait for it.
    pub session_queue: usize,
    /// Background runs scheduled or running at once.
    pub max_background: u32,
    /// The deadline of one background run.
    pub task_timeout: Duration,
    /// WebSocket connections served at once.
    pub max_websockets: u32,
    /// Where compiled components are kept between runs; `None` compiles every time.
    pub cache_dir: Option<std::path::PathBuf>,
    /// The target to compile for (a `wasm-agent compile` for another machine); `None` for
    /// this one.
    pub target: Option<String>,
    /// Linear memory one instance may use, in bytes.
    pub max_memory: u64,
    /// Fuel for one invocation; `None` compiles without fuel metering.
    pub fuel: Option<u64>,
    /// The wasm stack limit, in bytes.
    pub max_wasm_stack: usize,
    /// The epoch tick: time slice and deadline resolution.
    pub epoch_tick: Duration,
    /// Events buffered per invocation before `emit` waits.
    pub event_buffer: usize,
    /// Bytes of events buffered per invocation before `emit` waits.
    pub event_buffer_bytes: usize,
    /// Bytes of one result.
    pub max_result_bytes: usize,
    /// Bytes of one event.
    pub max_event_bytes: usize,
    /// Async tasks one instance may have open.
    pub max_async_tasks: usize,
    /// Bytes of guest stdout/stderr logged per invocation.
    pub guest_log_bytes: usize,
    /// How long a cancelled invocation may take to return.
    pub cancel_grace: Duration,
    /// Linear memory all instances together may use, in bytes; `None` for no budget beyond
    /// each instance's own limit.
    pub max_total_memory: Option<u64>,
    /// Environment variables every guest sees; none by default.
    pub env: Vec<(String, String)>,
    /// What guests may reach over HTTP, and the credentials the host attaches.
    pub outbound: OutboundConfig,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            workers: DEFAULT_WORKERS,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            max_queue: DEFAULT_MAX_QUEUE,
            scope: InstanceScope::default(),
            max_sessions: DEFAULT_MAX_SESSIONS,
            session_idle_timeout: DEFAULT_SESSION_IDLE_TIMEOUT,
            session_max_lifetime: DEFAULT_SESSION_MAX_LIFETIME,
            session_queue: DEFAULT_SESSION_QUEUE,
            max_background: DEFAULT_MAX_BACKGROUND,
            task_timeout: DEFAULT_TASK_TIMEOUT,
            max_websockets: DEFAULT_MAX_WEBSOCKETS,
            cache_dir: None,
            target: None,
            max_memory: DEFAULT_MAX_MEMORY,
            fuel: None,
            max_wasm_stack: DEFAULT_MAX_WASM_STACK,
            epoch_tick: DEFAULT_EPOCH_TICK,
            event_buffer: DEFAULT_EVENT_BUFFER,
            event_buffer_bytes: DEFAULT_EVENT_BUFFER_BYTES,
            max_result_bytes: DEFAULT_MAX_RESULT_BYTES,
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            max_async_tasks: DEFAULT_MAX_ASYNC_TASKS,
            guest_log_bytes: DEFAULT_GUEST_LOG_BYTES,
            cancel_grace: DEFAULT_CANCEL_GRACE,
            max_total_memory: None,
            env: Vec::new(),
            outbound: OutboundConfig::default(),
        }
    }
}

impl HostConfig {
    /// Bytes a guest may hand the host in one call (wasmtime's hostcall fuel): the larger of a
    /// result, an event and the chunk wasi:http lets a guest write to a request body at once,
    /// and room for the small fields beside them. Past it wasmtime refuses to copy, which
    /// `classify` reports as output too large.
    pub fn max_guest_transfer(&self) -> usize {
        const FIELDS: usize = 64 << 10;
        self.max_result_bytes
            .max(self.max_event_bytes)
            .max(wasmtime_wasi_http::p2::DEFAULT_OUTGOING_BODY_CHUNK_SIZE)
            .saturating_add(FIELDS)
    }

    /// The worker count to use: the configured one, or one per core.
    pub fn worker_threads(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        }
    }
}
