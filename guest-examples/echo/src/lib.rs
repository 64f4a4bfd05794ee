//! Returns the payload and everything in the context, so a caller can see what the handler saw.

use serde_json::{Value, json};
use wasm_agent_sdk::{Context, Failure, handler};

fn echo(payload: Value, ctx: &Context) -> Result<Value, Failure> {
    Ok(json!({
        "payload": payload,
        "context": {
            "request_id": ctx.request_id(),
            "session_id": ctx.session_id(),
            "headers": ctx.headers(),
            "workload_access_token": ctx.workload_access_token(),
            "oauth2_callback_url": ctx.oauth2_callback_url(),
            "deadline_ms": ctx.deadline_ms(),
        },
    }))
}

handler!(echo);
