//! The flags `invoke` and `serve` share: what one invocation may use, the compile cache, and
//! (flattened from `outbound`) what guests may reach.
//!
//! Every default is a library's `DEFAULT_*` constant, written into clap as text by
//! [`crate::units`]: clap then shows it in `--help` and parses it like a value an operator
//! typed, and `ArgMatches::value_source` still tells it from one (which is how a config file
//! slides in beneath flags and variables; see `settings`). Making the fields `Option`s instead
//! would lose the defaults from `--help`, and turn `--debug`-style switches into options.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use clap::builder::RangedU64ValueParser;
use wasm_agent_host::HostConfig;
use wasm_agent_host::config::{
    DEFAULT_MAX_ASYNC_TASKS, DEFAULT_MAX_EVENT_BYTES, DEFAULT_MAX_MEMORY, DEFAULT_MAX_RESULT_BYTES,
    DEFAULT_TIMEOUT,
};

use crate::outbound::OutboundArgs;
use crate::units::{duration_text, parse_duration, parse_size, size_text};

/// Limits that apply to every invocation.
#[derive(Debug, Args)]
pub(crate) struct LimitArgs {
    /// How long the handler may run (e.g. 500ms, 30s, 15m).
    #[arg(long, env = "WASM_AGENT_TIMEOUT", value_parser = parse_duration,
          default_value = duration_text(DEFAULT_TIMEOUT))]
    pub timeout: Duration,

    /// Fuel budget per invocation (wasm instructions, roughly); no budget if not given.
    /// Fuel metering slows guest code, so it is compiled in only when this is set.
    #[arg(long, env = "WASM_AGENT_FUEL")]
    pub fuel: Option<u64>,

    /// Linear memory one instance may use (e.g. 64MiB, 1GiB).
    #[arg(long, env = "WASM_AGENT_MAX_MEMORY", value_parser = parse_size,
          default_value = size_text(DEFAULT_MAX_MEMORY))]
    pub max_memory: u64,

    /// The largest result a handler may return (e.g. 16MiB); a larger one fails the
    /// invocation with a 500 naming the limit.
    #[arg(long, env = "WASM_AGENT_MAX_RESULT_SIZE", value_parser = parse_size,
          default_value = size_text(DEFAULT_MAX_RESULT_BYTES as u64))]
    pub max_result_size: u64,

    /// The largest event a handler may emit (e.g. 4MiB), and the largest WebSocket message or
    /// background input it may send; a larger one fails the invocation.
    #[arg(long, env = "WASM_AGENT_MAX_EVENT_SIZE", value_parser = parse_size,
          default_value = size_text(DEFAULT_MAX_EVENT_BYTES as u64))]
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
    /// name through `env` (this process's environment); `name` names a setting in an error.
    pub(crate) fn host_config(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        name: &dyn Fn(&str) -> String,
    ) -> Result<HostConfig, String> {
        let (outbound, guest_env) = self.outbound.configure(env, name)?;
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
