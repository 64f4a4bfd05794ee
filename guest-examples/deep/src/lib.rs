//! Recurses without end. `"mode": "wasm"` (the default) keeps each frame on the wasm stack, which
//! the host bounds; `"mode": "shadow"` puts a buffer in each frame, so the frames live on the
//! shadow stack that Rust keeps in linear memory, and it is that stack that overflows.

use std::hint::black_box;

use serde_json::Value;
use wasm_agent_sdk::{Context, Failure, handler};

#[inline(never)]
#[expect(unconditional_recursion, reason = "overflowing the stack is the point")]
fn on_wasm_stack(n: u64) -> u64 {
    black_box(on_wasm_stack(black_box(n.wrapping_add(1)))).wrapping_add(1)
}

#[inline(never)]
#[expect(unconditional_recursion, reason = "overflowing the stack is the point")]
fn on_shadow_stack(n: u64) -> u64 {
    let mut frame = [0u8; 4096];
    frame[(n % 4096) as usize] = n as u8;
    black_box(&mut frame);
    black_box(on_shadow_stack(black_box(n.wrapping_add(1)))).wrapping_add(frame[0] as u64)
}

fn deep(payload: Value, _ctx: &Context) -> Result<Value, Failure> {
    let depth = match payload["mode"].as_str() {
        Some("shadow") => on_shadow_stack(0),
        _ => on_wasm_stack(0),
    };
    Ok(Value::from(depth))
}

handler!(deep);
