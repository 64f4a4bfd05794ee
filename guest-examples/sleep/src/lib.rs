//! Sleeps `ms` milliseconds through the WASI monotonic clock (a guest that waits, not computes),
//! after emitting one event if the payload says `"emit_first": true`; it prints `sleeping N ms`
//! to stdout (the server's log) first.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wasm_agent_sdk::{Context, Failure, handler};

fn sleep(payload: Value, ctx: &Context) -> Result<Value, Failure> {
    let ms = payload["ms"].as_u64().unwrap_or(1000);
    if payload["emit_first"] == true {
        ctx.emit(&json!({ "sleeping_ms": ms }))?;
    }
    // In the server's log: tests wait for it to know the guest is running.
    println!("sleeping {ms} ms");
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(ms));
    Ok(json!({ "slept_ms": start.elapsed().as_millis() as u64 }))
}

handler!(sleep);
