//! `wasm-agent serve`'s flags. Each long flag `--x-y` has the variable `WASM_AGENT_X_Y` and is
//! the key `x-y` of the config file (`settings`); defaults are the libraries' constants, and
//! the binary's own below for what only the binary decides (address, port, control threads);
//! `limit_args` says how they reach clap.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use wasm_agent_host::InstanceScope;
use wasm_agent_host::config::{
    DEFAULT_CANCEL_GRACE, DEFAULT_MAX_BACKGROUND, DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_QUEUE,
    DEFAULT_MAX_SESSIONS, DEFAULT_MAX_WEBSOCKETS, DEFAULT_SESSION_IDLE_TIMEOUT,
    DEFAULT_SESSION_MAX_LIFETIME, DEFAULT_SESSION_QUEUE, DEFAULT_TASK_TIMEOUT, DEFAULT_WORKERS,
};
use wasm_agent_server::config::{
    DEFAULT_BODY_MIN_RATE, DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT,
    DEFAULT_KEEP_ALIVE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_PAYLOAD,
    DEFAULT_SHUTDOWN_GRACE, DEFAULT_STREAM_TIMEOUT,
};

use crate::args::SERVE_LOG_FILTER;
use crate::limit_args::LimitArgs;
use crate::logging::LogFormat;
use crate::units::{
    duration_text, parse_bytes, parse_duration, parse_human_duration, parse_size, size_text,
};

/// The address to listen on: loopback, so nothing is exposed that the operator did not mean
/// to; a container sets 0.0.0.0.
pub(crate) const DEFAULT_HOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// The port to listen on: the one AgentCore Runtime sends invocations to.
pub(crate) const DEFAULT_PORT: u16 = 8080;
/// Control threads: 0, one per four cores (see `serve::control_threads`).
pub(crate) const DEFAULT_CONTROL_THREADS: usize = 0;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The handler component (.wasm); may instead be the config file's `handler`.
    #[arg(env = "WASM_AGENT_HANDLER")]
    pub handler: Option<PathBuf>,

    /// A TOML file of settings: its keys are the long flags' names (`timeout = "30s"`,
    /// `allow-outbound = ["https://api.example.com"]`). Flags, then variables, win over it;
    /// a list given by a flag replaces the file's. See docs/configuration.md.
    #[arg(long, env = "WASM_AGENT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Print the settings in effect (flags over variables over the file over defaults) as
    /// TOML and exit, without loading the handler. The value of an --env grant whose name
    /// contains KEY, TOKEN, SECRET, PASSWORD, PASSWD, PWD, CREDENTIAL, AUTH or PRIVATE, or
    /// that is a URL with credentials (user@ or user:password@), prints as `***`.
    #[arg(long)]
    pub print_config: bool,

    /// The address to listen on. A container sets 0.0.0.0; nothing is guessed.
    #[arg(long, env = "WASM_AGENT_HOST", default_value_t = DEFAULT_HOST)]
    pub host: IpAddr,

    /// The port to listen on; 0 picks a free one (the readiness line shows which).
    #[arg(long, env = "WASM_AGENT_PORT", default_value_t = DEFAULT_PORT)]
    pub port: u16,

    /// Serve `/metrics` on a listener of its own at this address (e.g. 0.0.0.0:9090), where
    /// the main port answers it 404; by default it is served on the main port.
    #[arg(long, env = "WASM_AGENT_METRICS_ADDR", value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// Time for a whole streamed reply (the timeout applies until the first event).
    #[arg(long, env = "WASM_AGENT_STREAM_TIMEOUT", value_parser = parse_duration,
          default_value = duration_text(DEFAULT_STREAM_TIMEOUT))]
    pub stream_timeout: Duration,

    /// The largest request body (e.g. 100MB, AgentCore's limit); larger ones get 413.
    #[arg(long, env = "WASM_AGENT_MAX_PAYLOAD", value_parser = parse_size,
          default_value = size_text(DEFAULT_MAX_PAYLOAD as u64))]
    pub max_payload: u64,

    /// Invocations that may hold an instance at once; the instance pool is sized from it.
    #[arg(long, env = "WASM_AGENT_MAX_CONCURRENCY",
          default_value_t = DEFAULT_MAX_CONCURRENCY as usize)]
    pub max_concurrency: usize,

    /// Invocations that may wait for an instance; past that, 503 with Retry-After at once.
    #[arg(long, env = "WASM_AGENT_MAX_QUEUE", default_value_t = DEFAULT_MAX_QUEUE)]
    pub max_queue: usize,

    /// Linear memory all guests together may use (e.g. 8GiB); default: three quarters of the
    /// machine's memory, or of the container's memory limit if that is lower.
    #[arg(long, env = "WASM_AGENT_MAX_TOTAL_MEMORY", value_parser = parse_size)]
    pub max_total_memory: Option<u64>,

    /// Time in-flight invocations get to finish after SIGTERM or SIGINT.
    #[arg(long, env = "WASM_AGENT_SHUTDOWN_GRACE", value_parser = parse_duration,
          default_value = duration_text(DEFAULT_SHUTDOWN_GRACE))]
    pub shutdown_grace: Duration,

    /// Time a cancelled invocation (its client went away) gets to return before it is cut off.
    #[arg(long, env = "WASM_AGENT_CANCEL_GRACE", value_parser = parse_duration,
          default_value = duration_text(DEFAULT_CANCEL_GRACE))]
    pub cancel_grace: Duration,

    /// Time a client has to send a request's head (from connecting, or from the first byte of
    /// a later request on the connection); past it the connection is closed.
    #[arg(long, env = "WASM_AGENT_HEADER_TIMEOUT", value_parser = parse_human_duration,
          default_value_t = DEFAULT_HEADER_TIMEOUT.into())]
    pub header_timeout: humantime::Duration,

    /// Time a request body may stall without a byte, and the head start it gets before
    /// --body-min-rate applies; past either, 408.
    #[arg(long, env = "WASM_AGENT_BODY_TIMEOUT", value_parser = parse_human_duration,
          default_value_t = DEFAULT_BODY_TIMEOUT.into())]
    pub body_timeout: humantime::Duration,

    /// The slowest average rate a request body may arrive at, in bytes a second (e.g. 64KiB);
    /// a body that falls further behind than --body-timeout gets 408.
    #[arg(long, env = "WASM_AGENT_BODY_MIN_RATE", value_parser = parse_bytes,
          default_value = size_text(DEFAULT_BODY_MIN_RATE))]
    pub body_min_rate: u64,

    /// Time a connection may stay open with no request in progress; past it, it is closed.
    #[arg(long, env = "WASM_AGENT_KEEP_ALIVE_TIMEOUT", value_parser = parse_human_duration,
          default_value_t = DEFAULT_KEEP_ALIVE_TIMEOUT.into())]
    pub keep_alive_timeout: humantime::Duration,

    /// Connections served at once; past it, a new connection is closed as soon as it is
    /// accepted (`/ping` on a connection already open still answers).
    #[arg(long, env = "WASM_AGENT_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,

    /// Threads that run guest code; 0 means one per core.
    #[arg(long, env = "WASM_AGENT_WORKERS", default_value_t = DEFAULT_WORKERS)]
    pub workers: usize,

    /// Threads that accept connections, speak HTTP and answer `/ping`; 0 means one per four
    /// cores (at least one). They run no guest code.
    #[arg(long, env = "WASM_AGENT_CONTROL_THREADS", default_value_t = DEFAULT_CONTROL_THREADS)]
    pub control_threads: usize,

    /// Which instance an invocation runs in: `session` keeps one instance per session id
    /// between its invocations (its memory persists; invocations without a session id get a
    /// fresh one); `request` gives every invocation a fresh instance.
    #[arg(long, env = "WASM_AGENT_INSTANCE_SCOPE", value_enum,
          default_value_t = Scope::from(InstanceScope::default()))]
    pub instance_scope: Scope,

    /// Session instances kept at once; past it the least recently used idle one is dropped.
    #[arg(long, env = "WASM_AGENT_MAX_SESSIONS", default_value_t = DEFAULT_MAX_SESSIONS)]
    pub max_sessions: u32,

    /// A session's instance is dropped after this long without invocations.
    #[arg(long, env = "WASM_AGENT_SESSION_IDLE_TIMEOUT", value_parser = parse_duration,
          default_value = duration_text(DEFAULT_SESSION_IDLE_TIMEOUT))]
    pub session_idle_timeout: Duration,

    /// A session's instance is dropped this long after it was created.
    #[arg(long, env = "WASM_AGENT_SESSION_MAX_LIFETIME", value_parser = parse_duration,
          default_value = duration_text(DEFAULT_SESSION_MAX_LIFETIME))]
    pub session_max_lifetime: Duration,

    /// Invocations of one session that may wait while another runs; past it, 503.
    #[arg(long, env = "WASM_AGENT_SESSION_QUEUE", default_value_t = DEFAULT_SESSION_QUEUE)]
    pub session_queue: usize,

    /// Background runs (work a handler scheduled) at once; past it, scheduling fails.
    #[arg(long, env = "WASM_AGENT_MAX_BACKGROUND", default_value_t = DEFAULT_MAX_BACKGROUND)]
    pub max_background: u32,

    /// How long one background run may take (AgentCore's limit for an asynchronous job).
    #[arg(long, env = "WASM_AGENT_TASK_TIMEOUT", value_parser = parse_duration,
          default_value = duration_text(DEFAULT_TASK_TIMEOUT))]
    pub task_timeout: Duration,

    /// WebSocket connections served at once; past it, the handshake gets 503.
    #[arg(long, env = "WASM_AGENT_MAX_WEBSOCKETS", default_value_t = DEFAULT_MAX_WEBSOCKETS)]
    pub max_websockets: u32,

    /// Answer the SDK's debug actions: a payload object with `_agent_core_app_action` set to
    /// `ping_status`, `job_status`, `force_healthy`, `force_busy` or `clear_forced_status`.
    #[arg(long, env = "WASM_AGENT_DEBUG")]
    pub debug: bool,

    /// Reload the handler when its file changes: new invocations get the new code, running
    /// ones finish on the old, sessions start afresh; a file that fails to load is logged and
    /// the old code goes on serving. For development, not production.
    #[arg(long, env = "WASM_AGENT_WATCH")]
    pub watch: bool,

    /// How the log is written: `text` for people, `json` for one object per line in the
    /// AgentCore SDK's shape.
    #[arg(long, env = "WASM_AGENT_LOG_FORMAT", value_enum,
          default_value_t = LogFormat::default())]
    pub log_format: LogFormat,

    /// What the log shows, in tracing's filter syntax (e.g. `info,wasm_agent_host=debug`);
    /// one it cannot read logs at `info`.
    #[arg(long, env = "WASM_AGENT_LOG", value_name = "FILTER",
          default_value = SERVE_LOG_FILTER)]
    pub log: String,

    #[command(flatten)]
    pub limits: LimitArgs,
}

/// `--instance-scope`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Scope {
    /// One instance per session id, kept between its invocations.
    Session,
    /// A fresh instance for every invocation.
    Request,
}

impl From<InstanceScope> for Scope {
    fn from(scope: InstanceScope) -> Self {
        match scope {
            InstanceScope::Session => Self::Session,
            InstanceScope::Request => Self::Request,
        }
    }
}

impl From<Scope> for InstanceScope {
    fn from(scope: Scope) -> Self {
        match scope {
            Scope::Session => Self::Session,
            Scope::Request => Self::Request,
        }
    }
}
