//! `wasm-agent componentize`: makes a core module that targets WASI preview1 (what C compilers
//! with wasi-libc emit) into a component, with the preview1 reactor adapter of the wasmtime line
//! this binary serves with, so building a C handler needs no tool but the compiler and this
//! binary.

use anyhow::{Context as _, anyhow};
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wasm_agent_host::WasmKind;
use wit_component::ComponentEncoder;

use crate::args::ComponentizeArgs;
use crate::failure::Failure;

/// Makes the core module `args` names into a component.
pub(crate) fn run(args: &ComponentizeArgs) -> Result<(), Failure> {
    let module = std::fs::read(&args.core)
        .with_context(|| format!("cannot read {}", args.core.display()))?;
    let refusal = match WasmKind::of(&module) {
        WasmKind::CoreModule => None,
        WasmKind::Component => Some("is already a component: serve it as it is"),
        WasmKind::NotWasm => {
            Some("is not a WebAssembly core module (such as a C compiler's wasm32-wasi output)")
        }
    };
    if let Some(refusal) = refusal {
        return Err(Failure::component(anyhow!(
            "{} {refusal}",
            args.core.display()
        )));
    }
    let encoded = ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .and_then(|encoder| {
            encoder.adapter(
                WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
                WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            )
        })
        .and_then(|encoder| encoder.encode());
    // The module is the user's input: a bad one is a data error, not a crash.
    let component = encoded.map_err(|error| {
        Failure::component(error.context(format!(
            "{} cannot be made into a component",
            args.core.display()
        )))
    })?;
    std::fs::write(&args.output, &component)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    eprintln!(
        "wrote {} ({} bytes) from {} ({} bytes)",
        args.output.display(),
        component.len(),
        args.core.display(),
        module.len()
    );
    Ok(())
}
