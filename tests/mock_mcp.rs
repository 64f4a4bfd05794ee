//! A mock MCP server on 127.0.0.1 for tool agents to call through the host: the streamable HTTP
//! transport (revision 2025-06-18) at `/mcp`, with sessions, three tools (`add`, `count`,
//! `fail`) listed two to a page, and `count` replying with server-sent progress notifications.
//!
//! It records every request and counts sessions opened and closed, so tests can check what a
//! client sent. Plain HTTP/1.1, served by hyper on its own thread and tokio runtime, so it works
//! from synchronous tests and stops when dropped.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{ACCEPT, ALLOW, CONTENT_TYPE, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};

use crate::mock_model::{ChannelBody, Recorded, Reply, json_reply};

/// The revision the mock speaks; a request after `initialize` naming another is refused.
pub(crate) const PROTOCOL_VERSION: &str = "2025-06-18";
/// Tools per `tools/list` page: fewer than there are, so a client must follow `nextCursor`.
const PAGE_SIZE: usize = 2;
/// The pause between two of `count`'s messages: enough that they leave as separate writes.
const STEP_PAUSE: Duration = Duration::from_millis(20);
/// The most `count` counts to, so a request cannot hold the mock for long.
const MAX_COUNT: u64 = 100;

/// A running mock MCP server; stopped when dropped.
#[derive(Debug)]
pub(crate) struct MockMcp {
    address: SocketAddr,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// What the server knows, shared between its connections and the test.
#[derive(Debug)]
struct State {
    requests: Mutex<Vec<Recorded>>,
    /// Every session id given, in order.
    issued: Mutex<Vec<String>>,
    /// The sessions not yet ended.
    live: Mutex<HashSet<String>>,
    sessions_closed: AtomicUsize,
    event_streams: AtomicUsize,
    progress_sent: AtomicUsize,
    /// Open: `count` runs freely. Closed: each `count` holds after its first progress
    /// notification until the test opens it, so a test can see that notification arrive
    /// while the call is still running.
    gate: watch::Sender<bool>,
}

impl MockMcp {
    /// Binds 127.0.0.1 on a free port and serves on a thread of its own.
    pub(crate) fn start() -> Result<Self, Box<dyn std::error::Error>> {
        Self::launch(true)
    }

    /// Like [`start`](Self::start), but `count` holds after its first progress notification
    /// until [`open_gate`](Self::open_gate).
    pub(crate) fn start_gated() -> Result<Self, Box<dyn std::error::Error>> {
        Self::launch(false)
    }

    fn launch(open: bool) -> Result<Self, Box<dyn std::error::Error>> {
        let (runtime, listener, address) = crate::support::loopback_listener()?;
        let state = Arc::new(State {
            requests: Mutex::default(),
            issued: Mutex::default(),
            live: Mutex::default(),
            sessions_closed: AtomicUsize::new(0),
            event_streams: AtomicUsize::new(0),
            progress_sent: AtomicUsize::new(0),
            gate: watch::Sender::new(open),
        });
        let (stop, stopped) = oneshot::channel();
        let served = state.clone();
        let thread = std::thread::Builder::new()
            .name("mock-mcp".into())
            .spawn(move || runtime.block_on(serve(listener, served, stopped)))?;
        Ok(Self {
            address,
            state,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    /// Its base URL, `http://127.0.0.1:PORT`: what an outbound rule names.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The URL of its MCP endpoint, `http://127.0.0.1:PORT/mcp`.
    pub(crate) fn endpoint(&self) -> String {
        format!("{}/mcp", self.url())
    }

    /// Every request received so far, in order.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        lock(&self.state.requests).clone()
    }

    /// Every session id it gave, in order.
    pub(crate) fn session_ids(&self) -> Vec<String> {
        lock(&self.state.issued).clone()
    }

    /// How many sessions `initialize` opened.
    pub(crate) fn sessions_opened(&self) -> usize {
        lock(&self.state.issued).len()
    }

    /// How many sessions a DELETE ended.
    pub(crate) fn sessions_closed(&self) -> usize {
        self.state.sessions_closed.load(Ordering::SeqCst)
    }

    /// How many replies were event streams rather than one JSON message.
    pub(crate) fn event_streams(&self) -> usize {
        self.state.event_streams.load(Ordering::SeqCst)
    }

    /// How many progress notifications it has sent.
    pub(crate) fn progress_sent(&self) -> usize {
        self.state.progress_sent.load(Ordering::SeqCst)
    }

    /// Lets held and later `count` calls run to the end.
    pub(crate) fn open_gate(&self) {
        self.state.gate.send_replace(true);
    }
}

impl Drop for MockMcp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Accepts connections until `stopped`, each served by a task of its own.
async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<State>,
    mut stopped: oneshot::Receiver<()>,
) {
    loop {
        let stream = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| respond(request, state.clone()));
            // Keep-alive on, and the server never closes first, as wasi:http clients expect.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Records the request, then answers it as the transport says.
async fn respond(request: Request<Incoming>, state: Arc<State>) -> Result<Reply, hyper::Error> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let recorded = Recorded::new(&parts, &body);
    lock(&state.requests).push(recorded);

    if parts.uri.path() != "/mcp" {
        return Ok(status(StatusCode::NOT_FOUND));
    }
    let reply = match parts.method {
        Method::POST => post(&parts.headers, &body, &state),
        Method::DELETE => match session(&parts.headers, &state) {
            Ok(id) => {
                lock(&state.live).remove(&id);
                state.sessions_closed.fetch_add(1, Ordering::SeqCst);
                status(StatusCode::OK)
            }
            Err(refusal) => status(refusal),
        },
        // No stream for server-initiated messages: the spec's answer to a GET is then 405.
        _ => {
            let mut reply = status(StatusCode::METHOD_NOT_ALLOWED);
            reply
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST, DELETE"));
            reply
        }
    };
    Ok(reply)
}

/// `POST /mcp`: one JSON-RPC message from the client.
fn post(headers: &HeaderMap, body: &[u8], state: &Arc<State>) -> Reply {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    };
    let accept = header(ACCEPT.as_str());
    if !(accept.contains("application/json") && accept.contains("text/event-stream")) {
        return status(StatusCode::NOT_ACCEPTABLE);
    }
    if !header(CONTENT_TYPE.as_str()).starts_with("application/json") {
        return status(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let message: Value = match serde_json::from_slice(body) {
        Ok(message @ Value::Object(_)) => message,
        _ => {
            let error = rpc_error(&Value::Null, -32700, "Parse error");
            return json_reply(StatusCode::BAD_REQUEST, &error);
        }
    };
    let method = message["method"].as_str().unwrap_or_default();
    if method == "initialize" {
        return initialize(&message, state);
    }
    if let Err(refusal) = session(headers, state) {
        return status(refusal);
    }
    let version = header("mcp-protocol-version");
    if !version.is_empty() && version != PROTOCOL_VERSION {
        let error = rpc_error(&Value::Null, -32600, "Unsupported protocol version");
        return json_reply(StatusCode::BAD_REQUEST, &error);
    }
    let Some(id) = message.get("id").cloned() else {
        // A notification (or a response to the mock, which sends no requests it waits on).
        return status(StatusCode::ACCEPTED);
    };
    let params = &message["params"];
    let answer = match method {
        "ping" => rpc_result(&id, json!({})),
        "tools/list" => list_tools(&id, params),
        "tools/call" => return call_tool(&id, params, state),
        _ => rpc_error(&id, -32601, "Method not found"),
    };
    json_reply(StatusCode::OK, &answer)
}

/// `initialize`: a fresh session, given in `Mcp-Session-Id`.
fn initialize(message: &Value, state: &Arc<State>) -> Reply {
    let id = {
        let mut issued = lock(&state.issued);
        let id = format!("mock-session-{}", issued.len() + 1);
        issued.push(id.clone());
        id
    };
    lock(&state.live).insert(id.clone());
    let result = json!({
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": { "tools": { "listChanged": false } },
        "serverInfo": { "name": "mock-mcp", "version": "1.0.0" },
    });
    let mut reply = json_reply(StatusCode::OK, &rpc_result(&message["id"], result));
    if let Ok(value) = HeaderValue::from_str(&id) {
        reply.headers_mut().insert("mcp-session-id", value);
    }
    reply
}

/// The session a request names: 400 if it names none, 404 if the mock does not know it (never
/// given, or ended).
fn session(headers: &HeaderMap, state: &State) -> Result<String, StatusCode> {
    let Some(id) = headers.get("mcp-session-id").and_then(|v| v.to_str().ok()) else {
        return Err(StatusCode::BAD_REQUEST);
    };
    if lock(&state.live).contains(id) {
        Ok(id.to_owned())
    } else {
        Err(StatusCode::NOT_FOUND)
    }
}

fn tools() -> [Value; 3] {
    let number = json!({ "type": "number" });
    [
        json!({
            "name": "add",
            "description": "Adds two numbers",
            "inputSchema": {
                "type": "object",
                "properties": { "a": number, "b": number },
                "required": ["a", "b"],
            },
        }),
        json!({
            "name": "count",
            "description": "Counts to a number, reporting progress at each step",
            "inputSchema": {
                "type": "object",
                "properties": { "to": { "type": "integer", "minimum": 0 } },
                "required": ["to"],
            },
        }),
        json!({
            "name": "fail",
            "description": "Always fails, as a tool error",
            "inputSchema": { "type": "object" },
        }),
    ]
}

/// `tools/list`: a page from the cursor (the index of its first tool), with `nextCursor` while
/// more remain.
fn list_tools(id: &Value, params: &Value) -> Value {
    let tools = tools();
    let start = match params.get("cursor") {
        None => 0,
        Some(cursor) => match cursor.as_str().and_then(|c| c.parse().ok()) {
            Some(start) if start < tools.len() => start,
            _ => return rpc_error(id, -32602, "Invalid cursor"),
        },
    };
    let end = (start + PAGE_SIZE).min(tools.len());
    let mut result = json!({ "tools": tools[start..end] });
    if end < tools.len() {
        result["nextCursor"] = json!(end.to_string());
    }
    rpc_result(id, result)
}

/// `tools/call`: `add` and `fail` answer with one JSON message, `count` with an event stream.
fn call_tool(id: &Value, params: &Value, state: &Arc<State>) -> Reply {
    let arguments = &params["arguments"];
    let answer = match params["name"].as_str().unwrap_or_default() {
        "add" => match sum(&arguments["a"], &arguments["b"]) {
            Some(sum) => rpc_result(
                id,
                json!({
                    "content": [{ "type": "text", "text": sum.to_string() }],
                    "structuredContent": { "sum": sum },
                }),
            ),
            None => rpc_error(id, -32602, "add needs numbers a and b"),
        },
        "count" => match arguments["to"].as_u64() {
            Some(to) if to <= MAX_COUNT => {
                let token = params["_meta"].get("progressToken").cloned();
                return count(id.clone(), to, token, state.clone());
            }
            _ => rpc_error(id, -32602, "count needs an integer to, 0 to 100"),
        },
        "fail" => rpc_result(
            id,
            json!({ "content": [{ "type": "text", "text": "it failed" }], "isError": true }),
        ),
        name => rpc_error(id, -32602, &format!("Unknown tool: {name}")),
    };
    json_reply(StatusCode::OK, &answer)
}

/// `a + b`, if both are numbers; integers stay integers, so 2 + 3 reads "5", not "5.0".
fn sum(a: &Value, b: &Value) -> Option<Value> {
    if let (Some(a), Some(b)) = (a.as_i64(), b.as_i64()) {
        return a.checked_add(b).map(Value::from);
    }
    Some(json!(a.as_f64()? + b.as_f64()?))
}

/// `count`: an event stream of a log notification and a ping request (unrelated to the call,
/// for the client to skip), a progress notification per step if the call gave a progress
/// token, then the result. Each message is its own write; those after the first progress
/// notification come a pause apart, each once the gate is open.
fn count(id: Value, to: u64, token: Option<Value>, state: Arc<State>) -> Reply {
    state.event_streams.fetch_add(1, Ordering::SeqCst);
    let (events, body) = ChannelBody::plain();
    let mut gate = state.gate.subscribe();
    tokio::spawn(async move {
        let send = |message: Value, sequence: usize| {
            let event = format!("event: message\nid: {sequence}\ndata: {message}\n\n");
            events.send(Bytes::from(event))
        };
        let mut messages = vec![
            json!({ "jsonrpc": "2.0", "method": "notifications/message",
                    "params": { "level": "info", "data": format!("counting to {to}") } }),
            json!({ "jsonrpc": "2.0", "id": "mock-ping", "method": "ping" }),
        ];
        if let Some(token) = &token {
            messages.extend((1..=to).map(|step| {
                json!({ "jsonrpc": "2.0", "method": "notifications/progress", "params": {
                    "progressToken": token, "progress": step, "total": to,
                    "message": format!("step {step}"),
                } })
            }));
        }
        messages.push(rpc_result(
            &id,
            json!({ "content": [{ "type": "text", "text": format!("counted to {to}") }] }),
        ));
        let mut progressed = false;
        for (sequence, message) in messages.into_iter().enumerate() {
            let is_progress = message["method"] == "notifications/progress";
            if progressed {
                tokio::time::sleep(STEP_PAUSE).await;
                if gate.wait_for(|open| *open).await.is_err() {
                    return;
                }
            }
            if send(message, sequence + 1).await.is_err() {
                return;
            }
            if is_progress {
                progressed = true;
                state.progress_sent.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    let mut reply = Response::new(body.boxed());
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    reply
}

fn rpc_result(id: &Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

fn rpc_error(id: &Value, code: i64, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
}

/// A reply with this status and no body.
fn status(status: StatusCode) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::new()).boxed());
    *reply.status_mut() = status;
    reply
}

#[cfg(test)]
mod tests {
    use std::io::BufReader;
    use std::net::TcpStream;

    use super::*;
    use crate::server::{self, read_body, read_chunk, read_head, send};
    use crate::support::TestResult;

    const ACCEPT_BOTH: (&str, &str) = ("Accept", "application/json, text/event-stream");
    const JSON: (&str, &str) = ("Content-Type", "application/json");

    /// Sends one request with `Connection: close` and reads the whole reply.
    fn request(
        mock: &MockMcp,
        method: &str,
        headers: &[(&str, &str)],
        body: &Value,
    ) -> Result<server::Response, Box<dyn std::error::Error>> {
        let mut stream = TcpStream::connect(mock.address())?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        send(&mut stream, method, "/mcp", headers, body.as_bytes())?;
        let mut reader = BufReader::new(stream);
        let mut reply = read_head(&mut reader)?;
        reply.body = read_body(&mut reader, &reply)?;
        Ok(reply)
    }

    fn rpc(id: u64, method: &str, params: Value) -> Value {
        json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
    }

    /// Opens a session and returns its id.
    fn initialize(mock: &MockMcp) -> Result<String, Box<dyn std::error::Error>> {
        let reply = request(
            mock,
            "POST",
            &[ACCEPT_BOTH, JSON],
            &rpc(
                1,
                "initialize",
                json!({ "protocolVersion": PROTOCOL_VERSION }),
            ),
        )?;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.json()?["result"]["protocolVersion"], PROTOCOL_VERSION);
        Ok(reply
            .header("mcp-session-id")
            .ok_or("no session id")?
            .to_owned())
    }

    /// The transport's refusals: a POST that does not accept both reply forms (406), a request
    /// without a session (400) or with an unknown one (404), a GET (405); a notification is
    /// accepted with 202 and no body.
    #[test]
    fn transport_rules() -> TestResult {
        let mock = MockMcp::start()?;
        let list = rpc(2, "tools/list", json!({}));
        let only_json = [("Accept", "application/json"), JSON];
        assert_eq!(request(&mock, "POST", &only_json, &list)?.status, 406);
        let session = initialize(&mock)?;
        assert_eq!(
            request(&mock, "POST", &[ACCEPT_BOTH, JSON], &list)?.status,
            400
        );
        let unknown = [ACCEPT_BOTH, JSON, ("Mcp-Session-Id", "nobody")];
        assert_eq!(request(&mock, "POST", &unknown, &list)?.status, 404);
        let known = [ACCEPT_BOTH, JSON, ("Mcp-Session-Id", session.as_str())];
        let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
        let accepted = request(&mock, "POST", &known, &initialized)?;
        assert_eq!((accepted.status, accepted.body.len()), (202, 0));
        assert_eq!(request(&mock, "GET", &known, &Value::Null)?.status, 405);
        let wrong_version = [
            known[0],
            known[1],
            known[2],
            ("MCP-Protocol-Version", "1999-01-01"),
        ];
        assert_eq!(request(&mock, "POST", &wrong_version, &list)?.status, 400);
        assert_eq!(mock.requests().len(), 7);
        Ok(())
    }

    /// Tools come two to a page, the second page by the first's cursor; a DELETE ends the
    /// session, which is then unknown.
    #[test]
    fn pages_and_session_end() -> TestResult {
        let mock = MockMcp::start()?;
        let session = initialize(&mock)?;
        let headers = [ACCEPT_BOTH, JSON, ("Mcp-Session-Id", session.as_str())];
        let first = request(&mock, "POST", &headers, &rpc(2, "tools/list", json!({})))?.json()?;
        let names = |page: &Value| {
            page["result"]["tools"].as_array().map(|tools| {
                tools
                    .iter()
                    .map(|tool| tool["name"].clone())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(names(&first), Some(vec![json!("add"), json!("count")]));
        let cursor = first["result"]["nextCursor"].clone();
        let params = json!({ "cursor": cursor });
        let second = request(&mock, "POST", &headers, &rpc(3, "tools/list", params))?.json()?;
        assert_eq!(names(&second), Some(vec![json!("fail")]));
        assert!(second["result"].get("nextCursor").is_none(), "{second}");

        let ended = request(&mock, "DELETE", &headers[2..], &Value::Null)?;
        assert_eq!(ended.status, 200);
        assert_eq!((mock.sessions_opened(), mock.sessions_closed()), (1, 1));
        let after = request(&mock, "POST", &headers, &rpc(4, "tools/list", json!({})))?;
        assert_eq!(after.status, 404);
        Ok(())
    }

    /// `count` streams its progress (with the call's token) as events, a message to a write,
    /// holding after the first while the gate is shut; `add` answers in JSON and an unknown
    /// tool is a JSON-RPC error.
    #[test]
    fn calls() -> TestResult {
        let mock = MockMcp::start_gated()?;
        let session = initialize(&mock)?;
        let headers = [ACCEPT_BOTH, JSON, ("Mcp-Session-Id", session.as_str())];
        let add = json!({ "name": "add", "arguments": { "a": 2, "b": 3 } });
        let sum = request(&mock, "POST", &headers, &rpc(2, "tools/call", add))?;
        assert_eq!(sum.header("content-type"), Some("application/json"));
        let sum = sum.json()?;
        assert_eq!(sum["result"]["content"][0]["text"], "5");
        assert_eq!(sum["result"]["structuredContent"], json!({ "sum": 5 }));
        let unknown = json!({ "name": "nope", "arguments": {} });
        let unknown = request(&mock, "POST", &headers, &rpc(3, "tools/call", unknown))?.json()?;
        assert_eq!(unknown["error"]["code"], -32602);

        let mut stream = TcpStream::connect(mock.address())?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let count = json!({ "name": "count", "arguments": { "to": 2 },
                            "_meta": { "progressToken": "t" } });
        let body = rpc(4, "tools/call", count).to_string();
        send(&mut stream, "POST", "/mcp", &headers, body.as_bytes())?;
        let mut reader = BufReader::new(stream);
        let head = read_head(&mut reader)?;
        assert_eq!(head.header("content-type"), Some("text/event-stream"));
        let mut data = Vec::new();
        for _ in 0..3 {
            let chunk = String::from_utf8(read_chunk(&mut reader)?.ok_or("ended early")?)?;
            let line = chunk.lines().find_map(|line| line.strip_prefix("data: "));
            data.push(serde_json::from_str::<Value>(line.ok_or("no data")?)?);
        }
        assert_eq!(data[0]["method"], "notifications/message");
        assert_eq!(data[1]["method"], "ping");
        assert_eq!(data[2]["params"]["progressToken"], "t");
        assert_eq!(data[2]["params"]["message"], "step 1");
        assert_eq!(mock.progress_sent(), 1);
        mock.open_gate();
        let mut rest = Vec::new();
        while let Some(chunk) = read_chunk(&mut reader)? {
            rest.push(String::from_utf8(chunk)?);
        }
        assert_eq!(rest.len(), 2, "{rest:?}");
        assert!(rest[0].contains(r#""progress":2"#), "{rest:?}");
        assert!(rest[1].contains(r#""text":"counted to 2""#), "{rest:?}");
        assert!(rest[1].contains(r#""id":4"#), "{rest:?}");
        assert_eq!((mock.progress_sent(), mock.event_streams()), (2, 1));
        Ok(())
    }
}
