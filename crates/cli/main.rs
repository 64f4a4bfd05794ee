//! `wasm-agent`: serve AI-agent handlers compiled to WebAssembly components.
//!
//! The binary parses and validates the command line, sets up logging, owns the signals, and
//! hands off to the libraries: `serve` runs the HTTP server, `invoke` runs one invocation,
//! `check` describes a component, `new` writes a starter project, `componentize` makes a C
//! core module a component. It is the only place that uses `anyhow` or prints to stdout.

mod args;
mod aws_env;
mod check;
mod compile;
mod componentize;
mod invoke;
mod new;
mod outbound;
mod serve;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::args::{Cli, Command};

/// Exit status for an invocation that failed (a trap, a timeout, a guest failure).
const EXIT_FAILED: u8 = 1;
/// Exit status for a configuration that does not make sense (sysexits' EX_USAGE).
const EXIT_CONFIG: u8 = 64;
/// Exit status for a component that cannot be served (sysexits' EX_DATAERR).
const EXIT_COMPONENT: u8 = 65;

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
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(EXIT_FAILED)
        }
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
