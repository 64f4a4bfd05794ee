//! Loops forever without calling the host; emits one event first if the payload says
//! `"emit_first": true`, and prints `spinning` to stdout (the server's log) as it starts.

use serde_json::{Value, json};
use wasm_agent_sdk::{Context, Failure, handler};

fn spin(payload: Value, ctx: &Context) -> Result<Value, Failure> {
    if payload["emit_first"] == true {
        ctx.emit(&json!({ "spinning": true }))?;
    }
    // In the server's log: tests wait for it to know the guest is running.
    println!("spinning");
    let mut counter = 0u64;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

handler!(spin);
