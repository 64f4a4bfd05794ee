//! A test driver for outbound HTTP: sends the requests its payload describes and reports what
//! came back, or the error's kind and message, as its JSON result (status 200 either way, so a
//! test can assert the kind).
//!
//! Payload: `url`, `method` (`"GET"`), `headers` (`[[name, value], ...]`), `body` (text) or
//! `json` (sent as a JSON body), `timeout_ms` (first byte), `connect_timeout_ms`,
//! `between_bytes_ms`, and one of:
//! - nothing else: one request; returns `{"status", "headers", "body"}`;
//! - `"stream": true`: emits `{"chunk": text}` per piece as it arrives; returns
//!   `{"status", "bytes"}`;
//! - `"sse": true`: emits `{"event"?: name, "data": data}` per server-sent event; returns
//!   `{"status", "events"}`;
//! - `"count": N`: N requests one after another, each read whole; returns `{"statuses"}`, or at
//!   the first error `{"error", "completed"}`;
//! - `"concurrent": N`: N requests whose responses are all kept open, unread, then read; returns
//!   `{"statuses"}`, or at the first error `{"error", "started"}`.
//!
//! Every result carries `"request": {"method", "url", "headers"}`, what the guest built (the
//! host adds `host` and may replace `authorization`), and an error as `"error": {"kind",
//! "message"}` (a stream that fails part way keeps its `status` and count so far). `"env": true`
//! adds `"env": [[name, value], ...]`, the environment the host granted; with no `url` that is
//! all it does.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use wasm_agent_sdk::http::{HttpError, Request, Response};
use wasm_agent_sdk::{Closed, Context, Failure, handler};

#[derive(Deserialize)]
struct Payload {
    url: Option<String>,
    #[serde(default = "get")]
    method: String,
    #[serde(default)]
    headers: Vec<(String, String)>,
    body: Option<String>,
    json: Option<Value>,
    timeout_ms: Option<u64>,
    connect_timeout_ms: Option<u64>,
    between_bytes_ms: Option<u64>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    sse: bool,
    count: Option<u32>,
    concurrent: Option<u32>,
    #[serde(default)]
    env: bool,
}

fn get() -> String {
    "GET".to_owned()
}

fn fetch(payload: Payload, ctx: &Context) -> Result<Value, Failure> {
    let mut result = Map::new();
    if payload.env {
        let env: Vec<(String, String)> = std::env::vars().collect();
        result.insert("env".to_owned(), json!(env));
    }
    let Some(url) = &payload.url else {
        if payload.env {
            return Ok(Value::Object(result));
        }
        return Err(Failure::bad_request("no url"));
    };
    let request = build(&payload, url);
    result.insert(
        "request".to_owned(),
        json!({ "method": request.method(), "url": request.url(), "headers": request.headers() }),
    );
    let outcome = if let Some(count) = payload.count {
        sequential(&request, count, &mut result)
    } else if let Some(count) = payload.concurrent {
        concurrent(&request, count, &mut result)
    } else {
        single(request, &payload, ctx, &mut result)
    };
    match outcome {
        Ok(()) => {}
        Err(Stop::Http(error)) => {
            let kind = format!("{:?}", error.kind());
            let error = json!({ "kind": kind, "message": error.to_string() });
            result.insert("error".to_owned(), error);
        }
        Err(Stop::Failed(failure)) => return Err(failure),
    }
    Ok(Value::Object(result))
}

fn build(payload: &Payload, url: &str) -> Request {
    let mut request = Request::new(&payload.method, url);
    for (name, value) in &payload.headers {
        request = request.header(name, value);
    }
    if let Some(json) = &payload.json {
        request = request.json(json);
    } else if let Some(body) = &payload.body {
        request = request.body(body.as_str());
    }
    if let Some(ms) = payload.timeout_ms {
        request = request.timeout(Duration::from_millis(ms));
    }
    if let Some(ms) = payload.connect_timeout_ms {
        request = request.connect_timeout(Duration::from_millis(ms));
    }
    if let Some(ms) = payload.between_bytes_ms {
        request = request.between_bytes_timeout(Duration::from_millis(ms));
    }
    request
}

/// Why a mode stopped early: a request error, reported in the result, or a failure (the caller
/// went away while events were emitted), which ends the invocation.
enum Stop {
    Http(HttpError),
    Failed(Failure),
}

impl From<HttpError> for Stop {
    fn from(error: HttpError) -> Self {
        Self::Http(error)
    }
}

impl From<Closed> for Stop {
    fn from(closed: Closed) -> Self {
        Self::Failed(closed.into())
    }
}

type Outcome = Result<(), Stop>;

fn single(
    request: Request,
    payload: &Payload,
    ctx: &Context,
    result: &mut Map<String, Value>,
) -> Outcome {
    let response = request.send()?;
    result.insert("status".to_owned(), json!(response.status()));
    if payload.stream {
        stream(response, ctx, result)
    } else if payload.sse {
        events(response, ctx, result)
    } else {
        result.insert("headers".to_owned(), json!(response.headers()));
        result.insert("body".to_owned(), json!(response.text()?));
        Ok(())
    }
}

fn stream(response: Response, ctx: &Context, result: &mut Map<String, Value>) -> Outcome {
    let mut bytes = 0;
    result.insert("bytes".to_owned(), json!(0));
    for chunk in response.chunks() {
        let chunk = chunk?;
        bytes += chunk.len();
        result.insert("bytes".to_owned(), json!(bytes));
        ctx.emit(&json!({ "chunk": String::from_utf8_lossy(&chunk) }))?;
    }
    Ok(())
}

fn events(response: Response, ctx: &Context, result: &mut Map<String, Value>) -> Outcome {
    let mut count = 0;
    result.insert("events".to_owned(), json!(0));
    for event in response.events() {
        let event = event?;
        count += 1;
        result.insert("events".to_owned(), json!(count));
        let mut emitted = json!({ "data": event.data });
        if let Some(name) = event.event {
            emitted["event"] = json!(name);
        }
        ctx.emit(&emitted)?;
    }
    Ok(())
}

fn sequential(request: &Request, count: u32, result: &mut Map<String, Value>) -> Outcome {
    let mut statuses = Vec::new();
    result.insert("completed".to_owned(), json!(0));
    for _ in 0..count {
        let response = request.clone().send()?;
        statuses.push(response.status());
        response.bytes()?;
        result.insert("completed".to_owned(), json!(statuses.len()));
    }
    result.remove("completed");
    result.insert("statuses".to_owned(), json!(statuses));
    Ok(())
}

fn concurrent(request: &Request, count: u32, result: &mut Map<String, Value>) -> Outcome {
    let mut open = Vec::new();
    result.insert("started".to_owned(), json!(0));
    for _ in 0..count {
        open.push(request.clone().send()?);
        result.insert("started".to_owned(), json!(open.len()));
    }
    let mut statuses = Vec::new();
    for response in open {
        statuses.push(response.status());
        response.bytes()?;
    }
    result.remove("started");
    result.insert("statuses".to_owned(), json!(statuses));
    Ok(())
}

handler!(fetch);
