//! `wasm-agent check`: describe a component and say whether it can be served.

use anyhow::Context as _;
use wasm_agent_host::{Host, HostConfig};

use crate::args::CheckArgs;
use crate::failure::Failure;

/// Describes the component `args` names and whether it can be served.
pub(crate) fn run(args: &CheckArgs) -> Result<(), Failure> {
    // Read here, not by the host: a file `check` cannot read fails (1) instead of being judged
    // as a component (65).
    let bytes = std::fs::read(&args.handler)
        .with_context(|| format!("cannot read {}", args.handler.display()))?;
    let config = HostConfig {
        cache_dir: args.cache.dir(),
        ..HostConfig::default()
    };
    let inspection =
        Host::inspect(&bytes, &config).map_err(|error| Failure::load(&args.handler, error))?;
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
    inspection
        .verdict
        .map_err(|error| Failure::load(&args.handler, error))?;
    println!("  ok: a wasm-agent handler (wasm-agent:handler@0.1.0)");
    Ok(())
}
