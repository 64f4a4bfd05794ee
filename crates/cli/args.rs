//! The command line: the commands, and the flags of each but `serve` (`serve_args`) and the
//! limits `invoke` and `serve` share (`limit_args`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::limit_args::{CacheArgs, LimitArgs};
use crate::serve_args::ServeArgs;

/// The log filter of `serve` when none is given: its start, its stops, and every warning.
pub(crate) const SERVE_LOG_FILTER: &str = "info";
/// The log filter of the other commands when `WASM_AGENT_LOG` is not set: quiet, but guest
/// output is shown.
pub(crate) const TOOL_LOG_FILTER: &str = "warn,guest=info";

/// Serve AI-agent handlers written as WebAssembly components, sandboxed and time- and
/// memory-boxed, behind the AWS Bedrock AgentCore Runtime HTTP contract.
#[derive(Debug, Parser)]
#[command(name = "wasm-agent", version, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// `invoke` and `serve` are boxed: each has several times the flags of the other commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run one invocation of a handler and print its events and result.
    ///
    /// Each event the handler emits is printed as one line of JSON as soon as it arrives, then
    /// the result, if any. A failure is printed to stderr and the exit status is 1.
    Invoke(Box<InvokeArgs>),
    /// Load and validate a component: print what it exports and imports, and whether it can be
    /// served (exit status 0) or not (65).
    Check(CheckArgs),
    /// Serve a handler over the AgentCore Runtime HTTP contract: `POST /invocations`,
    /// `GET /ping`. Prints `listening on http://ADDR` to stderr once it accepts connections.
    Serve(Box<ServeArgs>),
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
    /// The log filter when `WASM_AGENT_LOG` is not set.
    pub(crate) fn default_log_filter(&self) -> &'static str {
        match self {
            Self::Invoke(_)
            | Self::Check(_)
            | Self::Compile(_)
            | Self::New(_)
            | Self::Componentize(_) => TOOL_LOG_FILTER,
            Self::Serve(_) => SERVE_LOG_FILTER,
        }
    }
}

/// This process's environment, as the configuration reads it.
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A setting named as its flag, for errors where only flags (and their variables) apply.
pub(crate) fn flag_name(key: &str) -> String {
    format!("--{key}")
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

    /// The defaults clap is given as text (and shows in `--help`) parse back to the host's.
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
