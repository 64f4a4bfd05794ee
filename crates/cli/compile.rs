//! `wasm-agent compile`: a component compiled ahead of time into native code (`.cwasm`).

use std::time::Instant;

use anyhow::Context as _;
use wasm_agent_host::{Host, HostConfig};

use crate::args::CompileArgs;
use crate::failure::Failure;

/// Compiles the component `args` names into a `.cwasm`, written whole or not at all.
pub(crate) fn run(args: &CompileArgs) -> Result<(), Failure> {
    let bytes = std::fs::read(&args.handler)
        .with_context(|| format!("cannot read {}", args.handler.display()))?;
    let config = HostConfig {
        fuel: args.fuel,
        target: args.target.clone(),
        ..HostConfig::default()
    };
    let started = Instant::now();
    let compiled =
        Host::precompile(&bytes, &config).map_err(|error| Failure::load(&args.handler, error))?;
    // Written beside the destination and renamed, so a half-written file is never served.
    let partial = args.output.with_extension("cwasm.partial");
    std::fs::write(&partial, &compiled)
        .and_then(|()| std::fs::rename(&partial, &args.output))
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    eprintln!(
        "compiled {} ({} bytes) into {} ({} bytes) for {} in {} ms",
        args.handler.display(),
        bytes.len(),
        args.output.display(),
        compiled.len(),
        args.target.as_deref().unwrap_or("this machine"),
        started.elapsed().as_millis()
    );
    Ok(())
}
