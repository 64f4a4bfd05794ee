//! Write wasm-agent handlers in Rust.
//!
//! A handler is an ordinary function from a payload (a [`serde_json::Value`] or any
//! `Deserialize` type) and a [`Context`] to a `Result` of any `Serialize` type or a [`Failure`].
//! One line, [`handler!`], turns it into the `invoke` export of the `wasm-agent:handler` world;
//! build the crate as a `cdylib` for `wasm32-wasip2` and serve the `.wasm` with `wasm-agent`.
//!
//! ```no_run
//! use serde_json::{Value, json};
//! use wasm_agent_sdk::{Context, Failure, handler};
//!
//! fn answer(payload: Value, ctx: &Context) -> Result<Value, Failure> {
//!     let prompt = payload["prompt"].as_str().ok_or(Failure::bad_request("no prompt"))?;
//!     for word in prompt.split_whitespace() {
//!         ctx.emit(&json!({ "token": word }))?; // streamed to the caller as it is produced
//!     }
//!     Ok(json!({ "done": true, "session": ctx.session_id() }))
//! }
//!
//! handler!(answer);
//! ```
//!
//! A handler that only streams returns [`Done`], so nothing follows its events; one that chooses
//! its status, content type or headers returns a [`Response`]. A panic reaches the caller as a
//! 500 whose error carries the panic message.
//!
//! With the `http` feature, the `http` module sends outbound HTTP requests (blocking, with
//! streamed responses and server-sent events) to the destinations the host's operator allows.
//!
//! This crate hides the generated bindings; it depends on nothing but wit-bindgen and serde
//! (and, for `http`, the `wasip2` bindings).

mod context;
mod failure;
mod reply;
#[doc(hidden)]
pub mod runtime;

#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "websocket")]
mod socket;

pub use context::{Closed, Context, PingStatus, ScheduleError};
pub use failure::Failure;
pub use reply::{Done, Reply, Response};
#[cfg(feature = "websocket")]
pub use socket::{Message, Received, Socket};

// The world follows the features: each optional capability is an export the component must
// then provide, so a component only has the exports its author asked for.
#[doc(hidden)]
#[allow(clippy::too_many_arguments, reason = "generated code")]
pub mod bindings {
    #[cfg(not(any(feature = "background", feature = "websocket")))]
    wit_bindgen::generate!({
        path: "wit",
        world: "handler",
        pub_export_macro: true,
        export_macro_name: "__export_handler",
        default_bindings_module: "wasm_agent_sdk::bindings",
    });
    #[cfg(all(feature = "background", not(feature = "websocket")))]
    wit_bindgen::generate!({
        path: "wit",
        world: "background-handler",
        pub_export_macro: true,
        export_macro_name: "__export_handler",
        default_bindings_module: "wasm_agent_sdk::bindings",
    });
    #[cfg(all(feature = "websocket", not(feature = "background")))]
    wit_bindgen::generate!({
        path: "wit",
        world: "websocket-handler",
        pub_export_macro: true,
        export_macro_name: "__export_handler",
        default_bindings_module: "wasm_agent_sdk::bindings",
    });
    #[cfg(all(feature = "background", feature = "websocket"))]
    wit_bindgen::generate!({
        path: "wit",
        world: "agent",
        pub_export_macro: true,
        export_macro_name: "__export_handler",
        default_bindings_module: "wasm_agent_sdk::bindings",
    });
}

/// Exports a function as the component's handler, with the optional capabilities the crate's
/// features enable.
///
/// The function takes the payload (any `serde::de::DeserializeOwned` type; a payload that does
/// not fit it is refused with a 400) and a `&Context`, and returns `Result<R, Failure>` where `R`
/// is any `Serialize` type, or [`Done`] to send nothing after the streamed events.
///
/// With the `background` feature, name the function that runs scheduled work:
/// `handler!(answer, background: work)`, where `work(task: &str, input: I, ctx: &Context) ->
/// Result<(), Failure>` and `I` is any `DeserializeOwned` type. With the `websocket` feature,
/// name the `/ws` handler: `handler!(answer, websocket: chat)`, where `chat(socket: &Socket,
/// ctx: &Context) -> Result<(), Failure>`. With both, give both, background first.
#[macro_export]
macro_rules! handler {
    ($function:path $(, background: $background:path)? $(, websocket: $websocket:path)? $(,)?) => {
        #[doc(hidden)]
        struct __WasmAgentHandler;

        impl $crate::bindings::Guest for __WasmAgentHandler {
            fn invoke(
                payload: ::std::string::String,
                context: $crate::bindings::Context,
            ) -> ::std::result::Result<
                ::std::option::Option<::std::string::String>,
                $crate::bindings::Failure,
            > {
                $crate::runtime::invoke(payload, context, $function)
            }
        }

        $(
            impl $crate::bindings::exports::wasm_agent::handler::background::Guest
                for __WasmAgentHandler
            {
                fn run(
                    task: ::std::string::String,
                    input: ::std::string::String,
                    context: $crate::bindings::Context,
                ) -> ::std::result::Result<(), $crate::bindings::Failure> {
                    $crate::runtime::background(task, input, context, $background)
                }
            }
        )?

        $(
            impl $crate::bindings::exports::wasm_agent::handler::websocket::Guest
                for __WasmAgentHandler
            {
                fn run(
                    context: $crate::bindings::Context,
                ) -> ::std::result::Result<(), $crate::bindings::Failure> {
                    $crate::runtime::websocket(context, $websocket)
                }
            }
        )?

        $crate::bindings::__export_handler!(__WasmAgentHandler);
    };
}
