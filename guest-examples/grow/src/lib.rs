//! Allocates and touches memory one MiB at a time until the allocator fails.

use serde_json::Value;
use wasm_agent_sdk::{Context, Failure, handler};

fn grow(_payload: Value, _ctx: &Context) -> Result<Value, Failure> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1u8; 1 << 20]);
        std::hint::black_box(&hoard);
    }
}

handler!(grow);
