//! Sets the status `/ping` reports: `{"status": "HealthyBusy"}`, `{"status": "Healthy"}`, or
//! `{"status": null}` to go back to automatic; `{"panic": true}` traps, which drops the instance
//! and the status it set.

use serde_json::{Value, json};
use wasm_agent_sdk::{Context, Failure, PingStatus, handler};

fn status(payload: Value, ctx: &Context) -> Result<Value, Failure> {
    if payload["panic"] == true {
        panic!("asked to panic");
    }
    let status = match payload["status"].as_str() {
        Some("Healthy") => Some(PingStatus::Healthy),
        Some("HealthyBusy") => Some(PingStatus::HealthyBusy),
        None => None,
        Some(other) => return Err(Failure::bad_request(format!("unknown status {other}"))),
    };
    ctx.set_ping_status(status);
    Ok(json!({ "status": payload["status"] }))
}

handler!(status);
