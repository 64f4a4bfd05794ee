//! Loading a component, checking it against the `wasm-agent:handler` world, and describing it.

use wasmtime::Engine;
use wasmtime::component::{Component, HasSelf, InstancePre, Linker};

use crate::bindings::{BackgroundIndices, Handler, HandlerIndices, WebsocketIndices, add_socket};
use crate::error::LoadError;
use crate::state::InvocationState;
use crate::wasm_kind::WasmKind;

/// The exported interface of background work.
const BACKGROUND: &str = "wasm-agent:handler/background@0.1.0";
/// The exported interface of a WebSocket handler.
const WEBSOCKET: &str = "wasm-agent:handler/websocket@0.1.0";
/// The optional capabilities the host knows, each an exported interface a component may have,
/// with the name `check` reports it by.
const OPTIONAL_EXPORTS: &[(&str, &str)] = &[(BACKGROUND, "background"), (WEBSOCKET, "websocket")];

/// A handler checked and linked once, ready to instantiate many times, with the optional
/// exports it has.
pub(crate) struct Prepared {
    pub pre: InstancePre<InvocationState>,
    pub handler: HandlerIndices,
    pub background: Option<BackgroundIndices>,
    pub websocket: Option<WebsocketIndices>,
}

/// What a component exports and imports, and which optional capabilities it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentInfo {
    /// Exported names (functions and interfaces).
    pub exports: Vec<String>,
    /// Imported names (interfaces and functions).
    pub imports: Vec<String>,
    /// Optional capabilities found among the exports.
    pub features: Vec<String>,
}

impl ComponentInfo {
    /// Whether the component has the optional capability `feature`.
    pub fn has(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }
}

/// Compiles a component.
pub(crate) fn compile(engine: &Engine, bytes: &[u8]) -> Result<Component, LoadError> {
    servable(bytes)?;
    Component::new(engine, bytes).map_err(|e| LoadError::Invalid(e.into()))
}

/// Refuses a file that is not a component before the decoder does, in words.
pub(crate) fn servable(bytes: &[u8]) -> Result<(), LoadError> {
    match WasmKind::of(bytes).not_servable() {
        Some(why) => Err(LoadError::NotAComponent(why)),
        None => Ok(()),
    }
}

/// Describes a compiled component.
pub(crate) fn describe(engine: &Engine, component: &Component) -> ComponentInfo {
    let ty = component.component_type();
    let exports: Vec<String> = ty
        .exports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    let imports = ty
        .imports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    let features = OPTIONAL_EXPORTS
        .iter()
        .filter(|(interface, _)| exports.iter().any(|e| e == interface))
        .map(|(_, feature)| (*feature).to_owned())
        .collect();
    ComponentInfo {
        exports,
        imports,
        features,
    }
}

/// The linker with everything a handler may import: WASI (files and sockets present but denied),
/// `wasi:http` (each request checked by the outbound hooks) and the `wasm-agent:handler`
/// interfaces.
pub(crate) fn linker(engine: &Engine) -> Result<Linker<InvocationState>, LoadError> {
    let mut linker = Linker::new(engine);
    let link = |e: wasmtime::Error| LoadError::Engine(e.into());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(link)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(link)?;
    Handler::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state).map_err(link)?;
    add_socket::<_, HasSelf<_>>(&mut linker, |state| state).map_err(link)?;
    Ok(linker)
}

/// Checks `component` against the world and links it once, ready to instantiate many times.
pub(crate) fn prepare(
    engine: &Engine,
    linker: &Linker<InvocationState>,
    component: &Component,
) -> Result<Prepared, LoadError> {
    if component.get_export_index(None, "invoke").is_none() {
        let info = describe(engine, component);
        let exports = if info.exports.is_empty() {
            "nothing".to_owned()
        } else {
            info.exports.join(", ")
        };
        return Err(LoadError::NotAHandler {
            reason: format!(
                "it does not export the function `invoke` of wasm-agent:handler@0.1.0 (it \
                 exports {exports})"
            ),
            source: None,
        });
    }
    let pre = linker
        .instantiate_pre(component)
        .map_err(|e| LoadError::Link(e.into()))?;
    let optional = |name: &str| component.get_export_index(None, name).is_some();
    let wrong_type = |what: &str, e: wasmtime::Error| LoadError::NotAHandler {
        reason: format!(
            "its export `{what}` does not have the type wasm-agent:handler@0.1.0 expects"
        ),
        source: Some(e.into()),
    };
    let background = optional(BACKGROUND)
        .then(|| BackgroundIndices::new(&pre))
        .transpose()
        .map_err(|e| wrong_type(BACKGROUND, e))?;
    let websocket = optional(WEBSOCKET)
        .then(|| WebsocketIndices::new(&pre))
        .transpose()
        .map_err(|e| wrong_type(WEBSOCKET, e))?;
    let handler = HandlerIndices::new(&pre).map_err(|e| wrong_type("invoke", e))?;
    Ok(Prepared {
        pre,
        handler,
        background,
        websocket,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A component wasmtime refuses is `Invalid`, and wasmtime's reason reaches the reader.
    #[test]
    fn a_refused_component_shows_wasmtime_s_reason() -> Result<(), String> {
        // A component preamble and nothing valid after it.
        let bytes = b"\0asm\x0d\0\x01\0\xff\xff";
        let error = compile(&wasmtime::Engine::default(), bytes).err();
        let Some(error @ LoadError::Invalid(_)) = error else {
            return Err(format!("expected Invalid, got {error:?}"));
        };
        let mut text = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            text = format!("{text}: {cause}");
            source = cause.source();
        }
        assert!(
            text.starts_with("not a valid WebAssembly component: ") && text.len() > 40,
            "{text}"
        );
        Ok(())
    }
}
