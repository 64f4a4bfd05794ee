//! Emits events as fast as it can until the caller goes away; each event carries `size` bytes.

use serde_json::{Value, json};
use wasm_agent_sdk::{Context, Done, Failure, handler};

fn flood(payload: Value, ctx: &Context) -> Result<Done, Failure> {
    let size = payload["size"].as_u64().unwrap_or(1024) as usize;
    let filler = "x".repeat(size);
    let mut index = 0u64;
    while ctx
        .emit(&json!({ "index": index, "filler": filler }))
        .is_ok()
    {
        index += 1;
    }
    Ok(Done)
}

handler!(flood);
