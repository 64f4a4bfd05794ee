//! `wasm-agent check`: describe a component and say whether it can be served.

use std::process::ExitCode;

use anyhow::Context as _;
use wasm_agent_host::{Host, HostConfig};

use crate::args::CheckArgs;
use crate::{EXIT_COMPONENT, EXIT_FAILED};

pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(&args.handler)
        .with_context(|| format!("cannot read {}", args.handler.display()))?;
    let config = HostConfig {
        cache_dir: args.cache.dir(),
        ..HostConfig::default()
    };
    let inspection = match Host::inspect(&bytes, &config) {
        Ok(inspection) => inspection,
        Err(error) => {
            eprintln!("error: {}: {error}", args.handler.display());
            return Ok(ExitCode::from(EXIT_COMPONENT));
        }
    };
    let info = &inspection.info;
    println!("{}", args.handler.display());
    println!("  size: {} bytes", bytes.len());
    println!("  exports:");
    for name in &info.exports {
        println!("    {name}");
    }
    println!("  imports:");
    for name in &info.imports {
        println!("    {name}");
    }
    let features = if info.features.is_empty() {
        "none".to_owned()
    } else {
        info.features.join(", ")
    };
    println!("  optional features: {features}");
    match inspection.verdict {
        Ok(()) => {
            println!("  ok: a wasm-agent handler (wasm-agent:handler@0.1.0)");
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("error: {}: {error}", args.handler.display());
            Ok(ExitCode::from(
                if matches!(error, wasm_agent_host::LoadError::Read { .. }) {
                    EXIT_FAILED
                } else {
                    EXIT_COMPONENT
                },
            ))
        }
    }
}
