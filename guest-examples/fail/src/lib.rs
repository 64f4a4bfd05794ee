//! Fails with the status, message and error type the payload gives.

use serde::Deserialize;
use serde_json::Value;
use wasm_agent_sdk::{Context, Failure, handler};

#[derive(Deserialize)]
struct Request {
    #[serde(default = "teapot")]
    status: u16,
    #[serde(default)]
    message: String,
    error_type: Option<String>,
}

fn teapot() -> u16 {
    418
}

fn fail(request: Request, _ctx: &Context) -> Result<Value, Failure> {
    let failure = Failure::new(request.status, request.message);
    Err(match request.error_type {
        Some(kind) => failure.with_error_type(kind),
        None => failure,
    })
}

handler!(fail);
