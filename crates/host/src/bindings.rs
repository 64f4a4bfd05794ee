//! Host-side bindings of the `wasm-agent:handler` worlds, generated from `wit/`.
//!
//! `handler` gives the base world (the `invoke` export and the `host` imports); `agent` adds
//! the optional `background` and `websocket` exports and the `socket` import, sharing the base
//! world's types. The host links everything and loads only the exports a component has.

mod handler {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "handler",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

mod agent {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "agent",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "wasm-agent:handler/types": super::handler::wasm_agent::handler::types,
            "wasm-agent:handler/host": super::handler::wasm_agent::handler::host,
        },
    });
}

pub(crate) use agent::exports::wasm_agent::handler::background::GuestIndices as BackgroundIndices;
pub(crate) use agent::exports::wasm_agent::handler::websocket::GuestIndices as WebsocketIndices;
pub(crate) use agent::wasm_agent::handler::socket::{
    Host as SocketImports, Received, add_to_linker as add_socket,
};
pub(crate) use handler::wasm_agent::handler::host::Host as HostImports;
pub(crate) use handler::wasm_agent::handler::types::{
    Context as GuestContext, EmitError, Failure as GuestFailure, Host as TypesHost,
    Message as MessageWit, PingStatus as PingStatusWit, ReplyHead as ReplyHeadWit, ScheduleError,
    SseEvent,
};
pub(crate) use handler::{Handler, HandlerIndices};
