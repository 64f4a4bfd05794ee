//! What a file's first bytes say it is, so a wrong file is named in one line a person reads
//! rather than in the decoder's dump of expected and actual bytes.

/// The kinds of file a user hands wasm-agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasmKind {
    /// A component (what `serve` runs).
    Component,
    /// A core module (what a C compiler emits; `wasm-agent componentize` makes it a component).
    CoreModule,
    /// Not WebAssembly at all.
    NotWasm,
}

const MAGIC: &[u8] = b"\0asm";

impl WasmKind {
    /// Reads the preamble: the magic, then a version and layer (1 and 0 for a core module; a
    /// component has layer 1 and a version of its own).
    pub fn of(bytes: &[u8]) -> Self {
        match bytes.get(..8) {
            Some(head) if head.starts_with(MAGIC) && head[6..] == [1, 0] => Self::Component,
            Some(head) if head.starts_with(MAGIC) && head[4..] == [1, 0, 0, 0] => Self::CoreModule,
            _ => Self::NotWasm,
        }
    }

    /// Why a file of this kind cannot be served, if it cannot.
    pub fn not_servable(self) -> Option<&'static str> {
        match self {
            Self::Component => None,
            Self::CoreModule => Some(
                "a core WebAssembly module, not a component: build for wasm32-wasip2, or make \
                 it a component with `wasm-agent componentize`",
            ),
            Self::NotWasm => {
                Some("not WebAssembly (it does not start with the WebAssembly magic bytes)")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::WasmKind;

    #[test]
    fn the_preamble_tells_the_kind() {
        assert_eq!(WasmKind::of(b"\0asm\x0d\0\x01\0rest"), WasmKind::Component);
        assert_eq!(WasmKind::of(b"\0asm\x01\0\0\0rest"), WasmKind::CoreModule);
        assert_eq!(WasmKind::of(b"not wasm at all"), WasmKind::NotWasm);
        assert_eq!(WasmKind::of(b"\0asm"), WasmKind::NotWasm);
        assert_eq!(WasmKind::of(b"\x7fELF\x02\x01\x01\0"), WasmKind::NotWasm);
    }
}
