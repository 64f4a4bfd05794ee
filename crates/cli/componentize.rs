//! `wasm-agent componentize`: makes a core module that targets WASI preview1 (what C compilers
//! with wasi-libc emit) into a component, with the preview1 reactor adapter of the wasmtime line
//! this binary serves with, so building a C handler needs no tool but the compiler and this
//! binary.

use std::process::ExitCode;

use anyhow::Context as _;
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wit_component::ComponentEncoder;

use crate::EXIT_COMPONENT;
use crate::args::ComponentizeArgs;

pub fn run(args: &ComponentizeArgs) -> anyhow::Result<ExitCode> {
    let module = std::fs::read(&args.core)
        .with_context(|| format!("cannot read {}", args.core.display()))?;
    if let Some(problem) = not_a_core_module(&module) {
        eprintln!("error: {} {problem}", args.core.display());
        return Ok(ExitCode::from(EXIT_COMPONENT));
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
    let component = match encoded {
        Ok(component) => component,
        Err(error) => {
            // The module is the user's input: a bad one is a data error, not a crash.
            eprintln!(
                "error: {} cannot be made into a component: {error:#}",
                args.core.display()
            );
            return Ok(ExitCode::from(EXIT_COMPONENT));
        }
    };
    std::fs::write(&args.output, &component)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    eprintln!(
        "wrote {} ({} bytes) from {} ({} bytes)",
        args.output.display(),
        component.len(),
        args.core.display(),
        module.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// What is wrong with a file that is not a core module, said as a person would rather than as
/// the decoder's byte dump.
fn not_a_core_module(bytes: &[u8]) -> Option<&'static str> {
    const MAGIC: &[u8] = b"\0asm";
    // The version and layer after the magic: 1 and 0 for a core module; a component has layer 1.
    const CORE: &[u8] = &[1, 0, 0, 0];
    match bytes.get(..8) {
        Some(header) if header.starts_with(MAGIC) && &header[4..] == CORE => None,
        Some(header) if header.starts_with(MAGIC) && header[6..] == [1, 0] => {
            Some("is already a component: serve it as it is")
        }
        _ => Some("is not a WebAssembly core module (such as a C compiler's wasm32-wasi output)"),
    }
}

#[cfg(test)]
mod tests {
    use super::not_a_core_module;

    #[test]
    fn only_a_core_module_is_taken() {
        assert_eq!(not_a_core_module(b"\0asm\x01\0\0\0"), None);
        assert!(
            not_a_core_module(b"\0asm\x0d\0\x01\0")
                .unwrap()
                .contains("already")
        );
        assert!(
            not_a_core_module(b"not wasm")
                .unwrap()
                .contains("not a WebAssembly core")
        );
        assert!(
            not_a_core_module(b"\0as")
                .unwrap()
                .contains("not a WebAssembly core")
        );
    }
}
