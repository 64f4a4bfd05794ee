//! `wasm-agent`: serve AI-agent handlers compiled to WebAssembly components.
//!
//! The binary parses and validates the command line, sets up logging, owns the signals, and
//! hands off to the libraries: `serve` runs the HTTP server, `invoke` runs one invocation,
//! `check` describes a component, `new` writes a starter project, `componentize` makes a C
//! core module a component. It is the only place that uses `anyhow` or prints to stdout. A
//! command that fails returns a `Failure`, whose kind is the exit status; `main` prints it.

#![forbid(unsafe_code)]

mod args;
mod aws_env;
mod check;
mod compile;
mod componentize;
mod failure;
mod invoke;
mod new;
mod outbound;
mod serve;

/// mimalloc rather than glibc's allocator: an invocation's buffers are allocated on the control
/// runtime and freed on the worker pool or the other way round, which glibc serves through
/// locked arenas and consolidation. Measured with `bench/profile.sh`, malloc and free took 6%
/// of the server's CPU under echo load; with mimalloc a warm session's request costs about a
/// tenth less CPU (`bench/compare`, side by side).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::args::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.command.default_log_filter());
    let result = match cli.command {
        Command::Invoke(args) => invoke::run(args),
        Command::Check(args) => check::run(&args),
        Command::Serve(args) => serve::run(args),
        Command::Compile(args) => compile::run(&args),
        Command::New(args) => new::run(&args),
        Command::Componentize(args) => componentize::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

fn init_logging(default_filter: &str) {
    let filter = EnvFilter::try_from_env("WASM_AGENT_LOG")
        .unwrap_or_else(|_| EnvFilter::new(default_filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
