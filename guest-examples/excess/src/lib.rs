//! Hands the host more than it should take, one kind of excess per payload field:
//! - `"result": N`: returns a JSON string of N bytes (quotes included);
//! - `"event": N`: emits one event of N bytes (after `before` small events `{"before": i}`, if
//!   given), then returns `{"emitted": 1}`;
//! - `"tasks": N`: registers N async tasks without completing them (each with `metadata` bytes
//!   of metadata, if given), then returns `{"tasks": N}`;
//! - `"abort": true`: aborts, a trap with no panic message to explain it.
//!
//! Sizes are exact so a test can sit one byte either side of a limit.

use serde::Deserialize;
use serde_json::{Value, json};
use wasm_agent_sdk::{Context, Failure, handler};

#[derive(Deserialize)]
struct Payload {
    result: Option<usize>,
    event: Option<usize>,
    #[serde(default)]
    before: u32,
    tasks: Option<u64>,
    metadata: Option<usize>,
    #[serde(default)]
    abort: bool,
}

fn excess(payload: Payload, ctx: &Context) -> Result<Value, Failure> {
    if payload.abort {
        std::process::abort();
    }
    if let Some(bytes) = payload.result {
        return Ok(Value::String(filler(bytes)));
    }
    if let Some(bytes) = payload.event {
        for index in 0..payload.before {
            ctx.emit(&json!({ "before": index }))?;
        }
        ctx.emit_json(&format!("\"{}\"", filler(bytes)))?;
        return Ok(json!({ "emitted": 1 }));
    }
    if let Some(count) = payload.tasks {
        let metadata = payload.metadata.map(|bytes| Value::String(filler(bytes)));
        for _ in 0..count {
            ctx.add_async_task("excess", metadata.as_ref());
        }
        return Ok(json!({ "tasks": count }));
    }
    Err(Failure::bad_request("give one of result, event or tasks"))
}

/// A string whose JSON text (quotes included) is `bytes` long.
fn filler(bytes: usize) -> String {
    "x".repeat(bytes.saturating_sub(2))
}

handler!(excess);
