//! The glue between the generated `invoke` export and the author's function.

use std::panic::{self, PanicHookInfo};
use std::sync::Once;

use serde::de::DeserializeOwned;

use crate::bindings::wasm_agent::handler::host;
use crate::bindings::{Context as RawContext, Failure as RawFailure};
use crate::{Context, Failure, Reply};

/// Runs one invocation of `function`: the body of the `invoke` export that [`crate::handler!`]
/// generates.
pub fn invoke<P, R, F>(
    payload: String,
    context: RawContext,
    function: F,
) -> Result<Option<String>, RawFailure>
where
    P: DeserializeOwned,
    R: Reply,
    F: FnOnce(P, &Context) -> Result<R, Failure>,
{
    install_panic_hook();
    let payload: P = serde_json::from_str(&payload).map_err(|e| {
        raw(Failure::bad_request(format!("invalid payload: {e}"))
            .with_error_type("ValidationError"))
    })?;
    let context = Context::new(context);
    function(payload, &context)
        .and_then(Reply::into_json)
        .map_err(raw)
}

/// Runs one piece of scheduled background work: the body of the `background` export.
pub fn background<I, F>(
    task: String,
    input: String,
    context: RawContext,
    function: F,
) -> Result<(), RawFailure>
where
    I: DeserializeOwned,
    F: FnOnce(&str, I, &Context) -> Result<(), Failure>,
{
    install_panic_hook();
    let input: I = serde_json::from_str(&input).map_err(|e| {
        raw(
            Failure::bad_request(format!("invalid input for task {task}: {e}"))
                .with_error_type("ValidationError"),
        )
    })?;
    function(&task, input, &Context::new(context)).map_err(raw)
}

/// Serves one WebSocket connection: the body of the `websocket` export.
#[cfg(feature = "websocket")]
pub fn websocket<F>(context: RawContext, function: F) -> Result<(), RawFailure>
where
    F: FnOnce(&crate::Socket, &Context) -> Result<(), Failure>,
{
    install_panic_hook();
    function(&crate::Socket::new(), &Context::new(context)).map_err(raw)
}

fn raw(failure: Failure) -> RawFailure {
    RawFailure {
        status: failure.status,
        message: failure.message,
        error_type: failure.error_type,
    }
}

fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            host::report_panic(&panic_message(info));
            default(info);
        }));
    });
}

fn panic_message(info: &PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("Box<dyn Any>");
    match info.location() {
        Some(at) => format!("{}:{}: {message}", at.file(), at.line()),
        None => message.to_owned(),
    }
}
