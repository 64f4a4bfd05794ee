//! The soak test's guest (`make soak`, bench/soak): the server serves one component, so this one
//! does everything the soak's mix needs, chosen by the payload's `mode`.
//!
//! Well-behaved:
//! - `echo`: returns `{"echo": data}`;
//! - `stream`: emits `count` events `{"index": i}` (`pause_ms` apart), then returns
//!   `{"events": count}`;
//! - `session`: counts its invocations in this instance; returns `{"count": n}` (1, 2, 3, ...
//!   in a session whose instance is kept);
//! - `ask`: the agent's model mode (guest-examples/agent): `prompt` to `endpoint`'s
//!   `/chat/completions`, each token relayed as `{"token": ...}`, then `{"reply", "tokens"}`;
//! - `sleep`: sleeps `ms`, emitting one event first if `emit_first`, and prints
//!   `soak: sleeping MS ms in REQUEST_ID` (the server's log); returns `{"slept_ms"}`.
//!
//! Hostile:
//! - `spin`, `grow`, `deep`, `trap`: loops, allocates until refused, recurses, panics;
//! - `flood`: emits events of `size` bytes until the caller goes away;
//! - `result` / `event`: a result or one event of `bytes` bytes (as the `excess` guest);
//! - `tasks`: registers `count` async tasks and leaves them open;
//! - `fetch`: GETs `url` and reads the body to its end; returns `{"status", "bytes"}` or
//!   `{"error": kind}` (a slow, huge or endless upstream fails within the host's limits).
//!
//! `/ws` echoes each message until the client closes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use wasm_agent_sdk::http::{self, HttpError};
use wasm_agent_sdk::{Context, Failure, Socket, handler};

/// Invocations this instance has served in `session` mode.
static SESSION_COUNT: AtomicU64 = AtomicU64::new(0);

#[derive(Deserialize)]
struct Payload {
    mode: String,
    #[serde(default)]
    data: Value,
    #[serde(default)]
    count: u64,
    #[serde(default)]
    pause_ms: u64,
    #[serde(default)]
    ms: u64,
    #[serde(default)]
    emit_first: bool,
    #[serde(default)]
    bytes: usize,
    #[serde(default = "default_size")]
    size: usize,
    url: Option<String>,
    endpoint: Option<String>,
    #[serde(default)]
    prompt: String,
}

fn default_size() -> usize {
    1024
}

fn soak(payload: Payload, ctx: &Context) -> Result<Value, Failure> {
    match payload.mode.as_str() {
        "echo" => Ok(json!({ "echo": payload.data })),
        "stream" => {
            for index in 0..payload.count {
                if index > 0 && payload.pause_ms > 0 {
                    std::thread::sleep(Duration::from_millis(payload.pause_ms));
                }
                ctx.emit(&json!({ "index": index }))?;
            }
            Ok(json!({ "events": payload.count }))
        }
        "session" => Ok(json!({ "count": SESSION_COUNT.fetch_add(1, Ordering::Relaxed) + 1 })),
        "ask" => ask(&payload, ctx),
        "sleep" => {
            if payload.emit_first {
                ctx.emit(&json!({ "sleeping_ms": payload.ms }))?;
            }
            // In the server's log: the soak waits for it to know the invocation is running.
            println!("soak: sleeping {} ms in {}", payload.ms, ctx.request_id());
            let start = Instant::now();
            std::thread::sleep(Duration::from_millis(payload.ms));
            Ok(json!({ "slept_ms": start.elapsed().as_millis() as u64 }))
        }
        "spin" => {
            let mut counter = 0u64;
            loop {
                counter = std::hint::black_box(counter.wrapping_add(1));
            }
        }
        "grow" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        "deep" => Ok(Value::from(recurse(0))),
        "trap" => panic!("the soak guest traps on purpose"),
        "flood" => {
            let filler = "x".repeat(payload.size);
            let mut index = 0u64;
            while ctx
                .emit(&json!({ "index": index, "filler": filler }))
                .is_ok()
            {
                index += 1;
            }
            Ok(json!({ "emitted": index }))
        }
        "result" => Ok(Value::String(filler(payload.bytes))),
        "event" => {
            ctx.emit_json(&format!("\"{}\"", filler(payload.bytes)))?;
            Ok(json!({ "emitted": 1 }))
        }
        "tasks" => {
            for _ in 0..payload.count {
                ctx.add_async_task("soak", None);
            }
            Ok(json!({ "tasks": payload.count }))
        }
        "fetch" => {
            let url = payload
                .url
                .as_deref()
                .ok_or(Failure::bad_request("no url"))?;
            Ok(match fetch(url) {
                Ok((status, bytes)) => json!({ "status": status, "bytes": bytes }),
                Err(error) => json!({ "error": format!("{:?}", error.kind()) }),
            })
        }
        other => Err(Failure::bad_request(format!("no mode {other:?}"))),
    }
}

#[inline(never)]
#[expect(unconditional_recursion, reason = "overflowing the stack is the point")]
fn recurse(n: u64) -> u64 {
    std::hint::black_box(recurse(std::hint::black_box(n.wrapping_add(1)))).wrapping_add(1)
}

/// A string whose JSON text (quotes included) is `bytes` long.
fn filler(bytes: usize) -> String {
    "x".repeat(bytes.saturating_sub(2))
}

/// GETs `url` and reads its body to the end: its status and length.
fn fetch(url: &str) -> Result<(u16, usize), HttpError> {
    let response = http::get(url).send()?;
    let status = response.status();
    let mut bytes = 0;
    for chunk in response.chunks() {
        bytes += chunk?.len();
    }
    Ok((status, bytes))
}

/// The model mode of the example agent, against the endpoint the payload names.
fn ask(payload: &Payload, ctx: &Context) -> Result<Value, Failure> {
    let endpoint = payload
        .endpoint
        .as_deref()
        .ok_or(Failure::bad_request("no endpoint"))?;
    let body = json!({
        "model": "mock",
        "messages": [{ "role": "user", "content": payload.prompt }],
        "stream": true,
    });
    let response = http::post(format!(
        "{}/chat/completions",
        endpoint.trim_end_matches('/')
    ))
    .header("accept", "text/event-stream")
    .json(&body)
    .send()?;
    let status = response.status();
    if !(200..300).contains(&status) {
        return Err(Failure::new(502, format!("the model answered {status}")));
    }
    let (mut reply, mut tokens) = (String::new(), 0u64);
    for event in response.events() {
        let event = event?;
        if event.data == "[DONE]" {
            break;
        }
        let chunk: Value = serde_json::from_str(&event.data)
            .map_err(|error| Failure::new(502, format!("the model sent bad JSON: {error}")))?;
        let token = chunk
            .pointer("/choices/0/delta/content")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !token.is_empty() {
            ctx.emit(&json!({ "token": token }))?;
            reply.push_str(token);
            tokens += 1;
        }
    }
    Ok(json!({ "reply": reply, "tokens": tokens }))
}

/// Echoes every message until the client closes.
fn echo_socket(socket: &Socket, _ctx: &Context) -> Result<(), Failure> {
    while let Some(message) = socket.receive() {
        socket.send(&message)?;
    }
    Ok(())
}

handler!(soak, websocket: echo_socket);
