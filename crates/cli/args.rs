//! The command line: every flag, its environment variable, and how values are parsed.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::RangedU64ValueParser;
use clap::{Args, Parser, Subcommand};
use wasm_agent_host::HostConfig;
use wasm_agent_host::config::DEFAULT_MAX_ASYNC_TASKS;
use wasm_agent_server::config::{
    DEFAULT_BODY_MIN_RATE, DEFAULT_BODY_TIMEOUT, DEFAULT_HEADER_TIMEOUT,
    DEFAULT_KEEP_ALIVE_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
};

use crate::outbound::OutboundArgs;
// The flag units are parsed in the contract crate, where they are fuzzed; clap wires them here.
pub(crate) use wasm_agent_contract::units::{
    parse_bytes, parse_duration, parse_human_duration, parse_size,
};

/// Serve AI-agent handlers written as WebAssembly components, sandboxed and time- and
/// memory-boxed, behind the AWS Bedrock AgentCore Runtime HTTP contract.
#[derive(Debug, Parser)]
#[command(name = "wasm-agent", version, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run one invocation of a handler and print its events and result.
    ///
    /// Each event the handler emits is printed as one line of JSON as soon as it arrives, then
    /// the result, if any. A failure is printed to stderr and the exit status is 1.
    Invoke(InvokeArgs),
    /// Load and validate a component: print what it exports and imports, and whether it can be
    /// served (exit status 0) or not (65).
    Check(CheckArgs),
    /// Serve a handler over the AgentCore Runtime HTTP contract: `POST /invocations`,
    /// `GET /ping`. Prints `listening on http://ADDR` to stderr once it accepts connections.
    Serve(ServeArgs),
    /// Compile a component ahead of time into native code (`.cwasm`), for this machine or
    /// another (`--target aarch64-unknown-linux-gnu`). Serve it by naming the `.cwasm`; it
    /// loads only into the same version and configuration of wasm-agent.
    Compile(CompileArgs),
    /// Create a starter project for a handler: `wasm-agent new --lang python my-agent`.
    New(NewArgs),
    /// Make a core WebAssembly module built for WASI preview1 (C with wasi-libc, for example)
    /// into a component, with the adapter this version of wasm-agent serves with.
    Componentize(ComponentizeArgs),
}

impl Command {
    /// The log filter when `WASM_AGENT_LOG` is not set: quiet, but guest output is shown.
    pub(crate) fn default_log_filter(&self) -> &'static str {
        match self {
            Self::Invoke(_)
            | Self::Check(_)
            | Self::Compile(_)
            | Self::New(_)
            | Self::Componentize(_) => "warn,guest=info",
            Self::Serve(_) => "info",
        }
    }
}

/// Limits that apply to every invocation.
#[derive(Debug, Args)]
pub(crate) struct LimitArgs {
    /// How long the handler may run (e.g. 500ms, 30s, 15m).
    #[arg(long, env = "WASM_AGENT_TIMEOUT", value_parser = parse_duration,
          default_value = "15m")]
    pub timeout: Duration,

    /// Fuel budget per invocation (wasm instructions, roughly); no budget if not given.
    /// Fuel metering slows guest code, so it is compiled in only when this is set.
    #[arg(long, env = "WASM_AGENT_FUEL")]
    pub fuel: Option<u64>,

    /// Linear memory one instance may use (e.g. 64MiB, 1GiB).
    #[arg(long, env = "WASM_AGENT_MAX_MEMORY", value_parser = parse_size,
          default_value = "1GiB")]
    pub max_memory: u64,

    /// The largest result a handler may return (e.g. 16MiB); a larger one fails the
    /// invocation with a 500 naming the limit.
    #[arg(long, env = "WASM_AGENT_MAX_RESULT_SIZE", value_parser = parse_size,
          default_value = "16MiB")]
    pub max_result_size: u64,

    /// The largest event a handler may emit (e.g. 4MiB), and the largest WebSocket message or
    /// background input it may send; a larger one fails the invocation.
    #[arg(long, env = "WASM_AGENT_MAX_EVENT_SIZE", value_parser = parse_size,
          default_value = "4MiB")]
    pub max_event_size: u64,

    /// Async tasks one instance may have open at once; one more fails the invocation that
    /// opens it.
    #[arg(long, env = "WASM_AGENT_MAX_ASYNC_TASKS", default_value_t = DEFAULT_MAX_ASYNC_TASKS,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_async_tasks: usize,
    #[command(flatten)]
    pub cache: CacheArgs,
    #[command(flatten)]
    pub outbound: OutboundArgs,
}

impl LimitArgs {
    /// The host configuration these limits and grants give, reading the variables the flags
    /// name through `env` (this process's environment).
    pub(crate) fn host_config(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<HostConfig, String> {
        let (outbound, guest_env) = self.outbound.configure(env)?;
        Ok(HostConfig {
            fuel: self.fuel,
            max_memory: self.max_memory,
            max_result_bytes: usize::try_from(self.max_result_size).unwrap_or(usize::MAX),
            max_event_bytes: usize::try_from(self.max_event_size).unwrap_or(usize::MAX),
            max_async_tasks: self.max_async_tasks,
            cache_dir: self.cache.dir(),
            env: guest_env,
            outbound,
            ..HostConfig::default()
        })
    }
}

/// This process's environment, as the configuration reads it.
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Where compiled components are kept between runs.
#[derive(Debug, Args)]
pub(crate) struct CacheArgs {
    /// The compile cache: a private directory of compiled components, so a component is
    /// compiled once (Python and JavaScript ones take seconds). Default:
    /// $XDG_CACHE_HOME/wasm-agent/compiled, else ~/.cache/wasm-agent/compiled.
    #[arg(long, env = "WASM_AGENT_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Compile every time; read and write no cache.
    #[arg(long, env = "WASM_AGENT_NO_CACHE")]
    pub no_cache: bool,
}

impl CacheArgs {
    /// The cache directory to use, if any.
    pub(crate) fn dir(&self) -> Option<PathBuf> {
        if self.no_cache {
            return None;
        }
        self.cache_dir.clone().or_else(|| {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .filter(|dir| !dir.is_empty())
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache"))
                })?;
            Some(base.join("wasm-agent").join("compiled"))
        })
    }
}

#[derive(Debug, Args)]
pub(crate) struct InvokeArgs {
    /// The handler component (.wasm).
    pub handler: PathBuf,

    /// The JSON payload: JSON text, `-` to read standard input, or `@FILE` to read a file.
    #[arg(default_value = "{}")]
    pub payload: String,

    /// The session id the handler sees.
    #[arg(long)]
    pub session_id: Option<String>,

    /// The request id the handler sees (a new UUID if not given).
    #[arg(long)]
    pub request_id: Option<String>,

    /// A header the handler sees, as `NAME: VALUE` (repeatable).
    #[arg(long = "header", short = 'H', value_parser = parse_header)]
    pub headers: Vec<(String, String)>,

    #[command(flatten)]
    pub limits: LimitArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The handler component (.wasm).
    pub handler: PathBuf,

    /// The address to listen on. A container sets 0.0.0.0; nothing is guessed.
    #[arg(long, env = "WASM_AGENT_HOST", default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,

    /// The port to listen on; 0 picks a free one (the readiness line shows which).
    #[arg(long, env = "WASM_AGENT_PORT", default_value_t = 8080)]
    pub port: u16,

    /// Time for a whole streamed reply (the timeout applies until the first event).
    #[arg(long, env = "WASM_AGENT_STREAM_TIMEOUT", value_parser = parse_duration, default_value = "60m")]
    pub stream_timeout: Duration,

    /// The largest request body (e.g. 100MB, AgentCore's limit); larger ones get 413.
    #[arg(long, env = "WASM_AGENT_MAX_PAYLOAD", value_parser = parse_size, default_value = "100MB")]
    pub max_payload: u64,

    /// Invocations that may hold an instance at once; the instance pool is sized from it.
    #[arg(long, env = "WASM_AGENT_MAX_CONCURRENCY", default_value_t = 256)]
    pub max_concurrency: usize,

    /// Invocations that may wait for an instance; past that, 503 with Retry-After at once.
    #[arg(long, env = "WASM_AGENT_MAX_QUEUE", default_value_t = 256)]
    pub max_queue: usize,

    /// Linear memory all guests together may use (e.g. 8GiB); default: three quarters of the
    /// machine's memory.
    #[arg(long, env = "WASM_AGENT_MAX_TOTAL_MEMORY", value_parser = parse_size)]
    pub max_total_memory: Option<u64>,

    /// Time in-flight invocations get to finish after SIGTERM or SIGINT.
    #[arg(long, env = "WASM_AGENT_SHUTDOWN_GRACE", value_parser = parse_duration, default_value = "10s")]
    pub shutdown_grace: Duration,

    /// Time a cancelled invocation (its client went away) gets to return before it is cut off.
    #[arg(long, env = "WASM_AGENT_CANCEL_GRACE", value_parser = parse_duration, default_value = "2s")]
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
          default_value_t = DEFAULT_BODY_MIN_RATE)]
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
    #[arg(long, env = "WASM_AGENT_WORKERS", default_value_t = 0)]
    pub workers: usize,

    /// Threads that accept connections, speak HTTP and answer `/ping`; 0 means one per four
    /// cores (at least one). They run no guest code.
    #[arg(long, env = "WASM_AGENT_CONTROL_THREADS", default_value_t = 0)]
    pub control_threads: usize,

    /// Which instance an invocation runs in: `session` keeps one instance per session id
    /// between its invocations (its memory persists; invocations without a session id get a
    /// fresh one); `request` gives every invocation a fresh instance.
    #[arg(long, env = "WASM_AGENT_INSTANCE_SCOPE", value_enum, default_value_t = Scope::Session)]
    pub instance_scope: Scope,

    /// Session instances kept at once; past it the least recently used idle one is dropped.
    #[arg(long, env = "WASM_AGENT_MAX_SESSIONS", default_value_t = 1024)]
    pub max_sessions: u32,

    /// A session's instance is dropped after this long without invocations.
    #[arg(long, env = "WASM_AGENT_SESSION_IDLE_TIMEOUT", value_parser = parse_duration,
          default_value = "15m")]
    pub session_idle_timeout: Duration,

    /// A session's instance is dropped this long after it was created.
    #[arg(long, env = "WASM_AGENT_SESSION_MAX_LIFETIME", value_parser = parse_duration,
          default_value = "8h")]
    pub session_max_lifetime: Duration,

    /// Invocations of one session that may wait while another runs; past it, 503.
    #[arg(long, env = "WASM_AGENT_SESSION_QUEUE", default_value_t = 16)]
    pub session_queue: usize,

    /// Background runs (work a handler scheduled) at once; past it, scheduling fails.
    #[arg(long, env = "WASM_AGENT_MAX_BACKGROUND", default_value_t = 64)]
    pub max_background: u32,

    /// How long one background run may take (AgentCore's limit for an asynchronous job).
    #[arg(long, env = "WASM_AGENT_TASK_TIMEOUT", value_parser = parse_duration,
          default_value = "8h")]
    pub task_timeout: Duration,

    /// WebSocket connections served at once; past it, the handshake gets 503.
    #[arg(long, env = "WASM_AGENT_MAX_WEBSOCKETS", default_value_t = 64)]
    pub max_websockets: u32,

    /// Answer the SDK's debug actions: a payload object with `_agent_core_app_action` set to
    /// `ping_status`, `job_status`, `force_healthy`, `force_busy` or `clear_forced_status`.
    #[arg(long, env = "WASM_AGENT_DEBUG")]
    pub debug: bool,

    #[command(flatten)]
    pub limits: LimitArgs,
}

/// `--instance-scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Scope {
    /// One instance per session id, kept between its invocations.
    Session,
    /// A fresh instance for every invocation.
    Request,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The component to check (.wasm).
    pub handler: PathBuf,
    #[command(flatten)]
    pub cache: CacheArgs,
}

#[derive(Debug, Args)]
pub(crate) struct NewArgs {
    /// The project's directory; its last component is the project's name.
    pub path: PathBuf,
    /// The language of the handler.
    #[arg(long, value_enum)]
    pub lang: Lang,
}

#[derive(Debug, Args)]
pub(crate) struct ComponentizeArgs {
    /// The core module (.wasm), with the world's type section embedded by its bindings.
    pub core: PathBuf,
    /// Where to write the component.
    #[arg(long, short = 'o')]
    pub output: PathBuf,
}

/// `--lang`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Lang {
    Rust,
    Python,
    Js,
    C,
}

#[derive(Debug, Args)]
pub(crate) struct CompileArgs {
    /// The component to compile (.wasm).
    pub handler: PathBuf,
    /// Where to write the native code (by convention `NAME.cwasm`).
    #[arg(long, short = 'o')]
    pub output: PathBuf,
    /// The machine to compile for, as a target triple; default: this one.
    #[arg(long)]
    pub target: Option<String>,
    /// Compile with fuel metering, for a server that will run with `--fuel` (the amount does
    /// not matter here; metering changes the code).
    #[arg(long)]
    pub fuel: Option<u64>,
}

/// Parses `Name: value`.
pub(crate) fn parse_header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("`{text}` is not `NAME: VALUE`"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("`{text}` has no header name"));
    }
    Ok((name.to_owned(), value.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Headers split at the first colon and are trimmed.
    #[test]
    fn parses_headers() {
        assert_eq!(
            parse_header("X-Thing: a:b "),
            Ok(("X-Thing".to_owned(), "a:b".to_owned()))
        );
        assert!(parse_header("no-colon").is_err());
        assert!(parse_header(": v").is_err());
    }

    /// The defaults written in the help text are the host's defaults.
    #[test]
    fn help_defaults_match_the_host() -> Result<(), String> {
        use wasm_agent_host::config::{
            DEFAULT_MAX_EVENT_BYTES, DEFAULT_MAX_MEMORY, DEFAULT_MAX_RESULT_BYTES, DEFAULT_TIMEOUT,
        };
        let cli =
            Cli::try_parse_from(["wasm-agent", "invoke", "h.wasm"]).map_err(|e| e.to_string())?;
        let Command::Invoke(args) = cli.command else {
            return Err("not invoke".into());
        };
        assert_eq!(args.limits.timeout, DEFAULT_TIMEOUT);
        assert_eq!(args.limits.max_memory, DEFAULT_MAX_MEMORY);
        assert_eq!(args.limits.max_result_size, DEFAULT_MAX_RESULT_BYTES as u64);
        assert_eq!(args.limits.max_event_size, DEFAULT_MAX_EVENT_BYTES as u64);
        Ok(())
    }

    /// The command line definition is consistent (clap's own checks).
    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
