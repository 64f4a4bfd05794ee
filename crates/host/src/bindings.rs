//! Host-side bindings of the `wasm-agent:handler` world, generated from `wit/`.

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "handler",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use wasm_agent::handler::host::Host as HostImports;
pub use wasm_agent::handler::types::{
    Context as GuestContext, EmitError, Failure as GuestFailure, Host as TypesHost,
    ReplyHead as ReplyHeadWit, SseEvent,
};
