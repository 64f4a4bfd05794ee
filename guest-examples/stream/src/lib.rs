//! Emits `count` events `{"index": i}`, pausing `pause_ms` before each after the first, then
//! returns `{"events": count}`; or fails with a 500 after `fail_after` events, if given. With
//! `emit_raw`, first emits that text as it is, JSON or not; with `named`, each event carries the
//! SSE name `tick` and its index as id. With `stamp`, each event also carries `t_us`, the wall
//! clock in microseconds since the Unix epoch when it was emitted, so a client on the same machine
//! can measure how long the event took to reach it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{Value, json};
use wasm_agent_sdk::{Context, Failure, handler};

#[derive(Deserialize)]
struct Request {
    #[serde(default = "three")]
    count: u32,
    #[serde(default)]
    pause_ms: u64,
    fail_after: Option<u32>,
    emit_raw: Option<String>,
    #[serde(default)]
    named: bool,
    #[serde(default)]
    stamp: bool,
}

fn three() -> u32 {
    3
}

fn stream(request: Request, ctx: &Context) -> Result<Value, Failure> {
    if let Some(raw) = &request.emit_raw {
        ctx.emit_json(raw)?;
    }
    for index in 0..request.count {
        if request.fail_after == Some(index) {
            return Err(Failure::internal(format!("failed after {index} events"))
                .with_error_type("StreamError"));
        }
        if index > 0 && request.pause_ms > 0 {
            std::thread::sleep(Duration::from_millis(request.pause_ms));
        }
        let event = if request.stamp {
            json!({ "index": index, "t_us": now_us() })
        } else {
            json!({ "index": index })
        };
        if request.named {
            ctx.emit_with(&event, Some("tick"), Some(&index.to_string()))?;
        } else {
            ctx.emit(&event)?;
        }
    }
    Ok(json!({ "events": request.count }))
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_micros() as u64)
}

handler!(stream);
