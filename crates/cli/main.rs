//! `wasm-agent`: serve AI-agent handlers compiled to WebAssembly components.
//!
//! The binary parses and validates the command line, sets up logging, owns the signals, and
//! hands off to the libraries: `serve` runs the HTTP server, `invoke` runs one invocation,
//! `check` describes a component, `new` writes a starter project, `componentize` makes a C
//! core module a component. It is the only place that uses `anyhow` or prints to stdout. A
//! command that fails returns a `Failure`, whose kind is the exit status; `main` prints it.
//!
//! The command line is `args` (with `limit_args`, `outbound` and `serve_args`), its units
//! `units`; `serve` also reads a config file (`settings`), whose settings include the log's,
//! so `main` resolves them before it starts the log. `logging` starts the log, as text or as
//! the SDK's JSON lines (`log_json`); `telemetry` sets up the OTLP trace exporter `serve` uses,
//! from the standard `OTEL_*` variables; `memory` finds how much memory the default budget may
//! take (a container's limit, not the node's); `watch` reloads the handler when its file changes
//! (`serve --watch`).

#![forbid(unsafe_code)]

mod args;
mod aws_env;
mod check;
mod compile;
mod componentize;
mod failure;
mod invoke;
mod limit_args;
mod log_json;
mod logging;
mod memory;
mod new;
mod outbound;
mod serve;
mod serve_args;
mod settings;
mod telemetry;
mod units;
mod watch;

/// mimalloc rather than glibc's allocator: an invocation's buffers are allocated on the control
/// runtime and freed on the worker pool or the other way round, which glibc serves through
/// locked arenas and consolidation. Measured with `bench/profile.sh`, malloc and free took 6%
/// of the server's CPU under echo load; with mimalloc a warm session's request costs about a
/// tenth less CPU (`bench/compare`, side by side).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _};

use crate::args::{Cli, Command};
use crate::failure::Failure;
use crate::logging::LogFormat;

fn main() -> ExitCode {
    // Parsed in two steps, keeping the matches: they tell `serve`'s settings which values a
    // flag or variable gave, to put the config file's beneath them.
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches)
        .unwrap_or_else(|error| error.format(&mut Cli::command()).exit());
    // `serve` starts its log once its settings are known; the other commands have only these.
    if !matches!(cli.command, Command::Serve(_)) {
        let filter = std::env::var("WASM_AGENT_LOG")
            .unwrap_or_else(|_| cli.command.default_log_filter().to_owned());
        logging::init(&filter, LogFormat::Text);
    }
    let result = match cli.command {
        Command::Invoke(args) => invoke::run(*args),
        Command::Check(args) => check::run(&args),
        Command::Serve(args) => serve(*args, &matches),
        Command::Compile(args) => compile::run(&args),
        Command::New(args) => new::run(&args),
        Command::Componentize(args) => componentize::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

/// `serve`: its settings resolved (the log's among them), then the log started, then the server.
fn serve(args: serve_args::ServeArgs, matches: &clap::ArgMatches) -> Result<(), Failure> {
    let serve_matches = matches
        .subcommand_matches("serve")
        .ok_or_else(|| Failure::usage(anyhow::anyhow!("not the serve command")))?;
    let settings = settings::resolve(args, serve_matches)?;
    logging::init(&settings.args.log, settings.args.log_format);
    serve::run(settings)
}
