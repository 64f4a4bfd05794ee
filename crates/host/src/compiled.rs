//! Where a served component's machine code comes from: compiled now, read from the compile
//! cache, or precompiled by `wasm-agent compile` and named explicitly. It is loaded into the
//! compiling engine first (to check and size it), then into the serving engine, whose pool is
//! sized from what the component needs.

use std::path::PathBuf;

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::cache::CompileCache;
use crate::component;
use crate::error::LoadError;

/// What the caller has.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source<'a> {
    /// A component's WebAssembly bytes.
    Wasm(&'a [u8]),
    /// A precompiled component (`.cwasm`), and the name to report it by.
    Precompiled { bytes: &'a [u8], name: &'a str },
}

/// The machine code, in a form any engine with the same configuration can load; the variant
/// also says how it was obtained.
pub(crate) enum Serialized<'a> {
    /// A precompiled component, as the caller holds it.
    Precompiled(&'a [u8]),
    /// Just compiled.
    Compiled(Vec<u8>),
    /// An entry of the compile cache.
    Cached(PathBuf),
}

impl Serialized<'_> {
    /// How the machine code was obtained, for the load log line.
    pub(crate) fn origin(&self) -> &'static str {
        match self {
            Self::Compiled(_) => "compiled",
            Self::Cached(_) => "compile cache",
            Self::Precompiled(_) => "precompiled",
        }
    }
}

/// A component loaded into the compiling engine, and its machine code.
pub(crate) struct Obtained<'a> {
    pub component: Component,
    pub serialized: Serialized<'a>,
}

/// Loads `source` into `compiler`: a cache hit or a precompiled component is only mapped; a
/// miss is compiled and stored.
pub(crate) fn obtain<'a>(
    compiler: &Engine,
    source: Source<'a>,
    cache: Option<&CompileCache>,
) -> Result<Obtained<'a>, LoadError> {
    let bytes = match source {
        Source::Precompiled { bytes, name } => {
            // SAFETY: a `.cwasm` is native code by definition; the operator named this file
            // explicitly to be served, which is the trust `wasm-agent compile` output needs.
            // wasmtime still refuses one from another version or configuration.
            let component = unsafe { Component::deserialize(compiler, bytes) }.map_err(|e| {
                LoadError::Precompiled {
                    reason: format!(
                        "{name} was not compiled by this version and configuration of \
                         wasm-agent; compile it again with `wasm-agent compile`, with the same \
                         --fuel setting as the server"
                    ),
                    source: Some(e.into()),
                }
            })?;
            return Ok(Obtained {
                component,
                serialized: Serialized::Precompiled(bytes),
            });
        }
        Source::Wasm(bytes) => bytes,
    };
    let entry = cache.map(|cache| cache.entry(compiler, bytes));
    if let Some(entry) = entry.as_ref().filter(|entry| entry.exists()) {
        // SAFETY: the entry was written whole (renamed into place) by this program into a
        // directory only this user can write, keyed by the component's hash and the engine's
        // configuration.
        match unsafe { Component::deserialize_file(compiler, entry) } {
            Ok(component) => {
                return Ok(Obtained {
                    component,
                    serialized: Serialized::Cached(entry.clone()),
                });
            }
            Err(error) => {
                tracing::warn!(entry = %entry.display(), %error, "unusable cache entry; compiling");
            }
        }
    }
    let component = component::compile(compiler, bytes)?;
    let serialized = component
        .serialize()
        .map_err(|e| LoadError::Engine(e.into()))?;
    if let (Some(cache), Some(entry)) = (cache, &entry) {
        cache.store(entry, &serialized);
    }
    Ok(Obtained {
        component,
        serialized: Serialized::Compiled(serialized),
    })
}

/// Loads the machine code into `engine` (the serving engine, configured as the compiler was).
pub(crate) fn load_into(
    serialized: &Serialized<'_>,
    engine: &Engine,
) -> Result<Component, LoadError> {
    // SAFETY: the same code `obtain` has just loaded into an engine of the same configuration.
    let component = match serialized {
        Serialized::Precompiled(bytes) => unsafe { Component::deserialize(engine, bytes) },
        Serialized::Compiled(bytes) => unsafe { Component::deserialize(engine, bytes) },
        Serialized::Cached(path) => unsafe { Component::deserialize_file(engine, path) },
    };
    component.map_err(|e| LoadError::Engine(e.into()))
}

/// Compiles `bytes` ahead of time for the target `compiler` was configured for: a `.cwasm`.
pub(crate) fn precompile(compiler: &Engine, bytes: &[u8]) -> Result<Vec<u8>, LoadError> {
    crate::component::servable(bytes)?;
    compiler
        .precompile_component(bytes)
        .map_err(|e| LoadError::Invalid(e.into()))
}
