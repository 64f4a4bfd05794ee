//! Panics with the payload's `message`, so the caller should see that message.

use serde_json::Value;
use wasm_agent_sdk::{Context, Failure, handler};

fn trap(payload: Value, _ctx: &Context) -> Result<Value, Failure> {
    let message = payload["message"]
        .as_str()
        .unwrap_or("the trap guest panics");
    panic!("{message}");
}

handler!(trap);
