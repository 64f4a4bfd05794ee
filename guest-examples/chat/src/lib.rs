//! A chat agent that remembers the conversation of its session in a global: with per-session
//! instances, each session's history survives between invocations and no session sees another's.
//!
//! Payload: `{"message": "..."}` adds a turn and returns the whole history; `"sleep_ms"` waits
//! first (to show how invocations of one session queue); `"panic": true` traps; `"open_task":
//! true` opens an async task it never completes; `"schedule": true` tries to schedule background
//! work, which this component cannot run.

use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use wasm_agent_sdk::{Context, Failure, handler};

static HISTORY: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn chat(payload: Value, ctx: &Context) -> Result<Value, Failure> {
    if let Some(ms) = payload["sleep_ms"].as_u64() {
        // In the server's log: tests wait for it to know the guest is running.
        println!("sleeping {ms} ms");
        std::thread::sleep(Duration::from_millis(ms));
    }
    if payload["panic"] == true {
        panic!("asked to panic");
    }
    if payload["open_task"] == true {
        ctx.add_async_task("left-open", None);
    }
    let scheduled = (payload["schedule"] == true).then(|| match ctx.schedule("job", &payload) {
        Ok(()) => "scheduled".to_owned(),
        Err(error) => error.to_string(),
    });
    let mut history = HISTORY
        .lock()
        .map_err(|_| Failure::internal("history lost"))?;
    if let Some(message) = payload["message"].as_str() {
        history.push(message.to_owned());
    }
    Ok(json!({
        "session_id": ctx.session_id(),
        "turns": history.len(),
        "history": *history,
        "scheduled": scheduled,
    }))
}

handler!(chat);
