//! The well-behaved requests of the mix, each checked for exactly the reply it should get:
//! JSON, kept-alive JSON, streams, sessions, WebSockets and model calls to the mock model.

use std::io::{self, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http::{self, Events, Frame, Head, SESSION_HEADER, WebSocket};
use crate::upstream::MODEL_TOKENS;

/// What the soak talks to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    pub server: SocketAddr,
    pub upstream: SocketAddr,
    /// A client's patience for any one read or write.
    pub timeout: Duration,
}

/// How a well-behaved request ended.
#[derive(Debug)]
pub(crate) enum Ending {
    /// The reply it should have had.
    Ok,
    /// The answer of a server that is shutting down and gave up on it: 503 with Retry-After,
    /// a stream's `ShuttingDown` error event, a WebSocket's 1001.
    Retryable(&'static str),
    /// No byte of a reply: the connection was refused, reset or closed first. `sent` is when
    /// the request was written.
    NoReply { sent: Instant, error: String },
    /// Anything else.
    Failed(String),
}

/// The well-behaved kinds of request, in the order the mix takes them.
pub(crate) const KINDS: [&str; 8] = [
    "json",
    "stream",
    "session",
    "json",
    "ask",
    "keep-alive",
    "websocket",
    "session",
];

/// One client's state between its requests: its session and the count it expects next.
#[derive(Debug)]
pub(crate) struct Client {
    pub index: usize,
    session: String,
    session_count: u64,
    serial: u64,
}

impl Client {
    /// Client `index`, with a session of its own.
    pub(crate) fn new(index: usize) -> Self {
        Self {
            index,
            session: format!("soak-session-{index}"),
            session_count: 0,
            serial: 0,
        }
    }

    /// Makes one request of `kind` and checks its reply.
    pub(crate) fn run(&mut self, kind: &str, target: &Target) -> Ending {
        self.serial += 1;
        let result = match kind {
            "json" => self.json(target),
            "keep-alive" => self.keep_alive(target),
            "stream" => stream(target),
            "session" => self.session(target),
            "ask" => ask(target),
            "websocket" => websocket(target),
            other => Err(Ending::Failed(format!("no kind {other}"))),
        };
        result.err().unwrap_or(Ending::Ok)
    }

    fn json(&self, target: &Target) -> Result<(), Ending> {
        let payload = json!({ "mode": "echo", "data": { "client": self.index, "n": self.serial } });
        let (head, mut reader) = exchange(target, &[], &payload)?;
        let body = json_body(&mut reader, &head)?;
        expect(body["echo"] == payload["data"], || format!("echoed {body}"))
    }

    fn keep_alive(&self, target: &Target) -> Result<(), Ending> {
        let mut stream = open(target)?;
        let mut reader = BufReader::new(stream.try_clone().map_err(failed)?);
        for round in 0..3u64 {
            let payload = json!({ "mode": "echo", "data": { "round": round, "n": self.serial } });
            let sent = Instant::now();
            let body = serde_json::to_vec(&payload).map_err(failed)?;
            http::send(&mut stream, "POST", "/invocations", &[], &body, round < 2)
                .map_err(|e| no_reply(sent, e))?;
            let head = http::read_head(&mut reader).map_err(|e| no_reply(sent, e))?;
            let body = json_body(&mut reader, &head)?;
            expect(body["echo"] == payload["data"], || format!("echoed {body}"))?;
        }
        Ok(())
    }

    fn session(&mut self, target: &Target) -> Result<(), Ending> {
        let headers = [(SESSION_HEADER, self.session.as_str())];
        let payload = json!({ "mode": "session" });
        let (head, mut reader) = exchange(target, &headers, &payload)?;
        let body = json_body(&mut reader, &head)?;
        let count = body["count"].as_u64().unwrap_or(0);
        let expected = self.session_count + 1;
        // The next check starts from what the instance says, so one lost session is one failure.
        self.session_count = count;
        expect(count == expected, || {
            format!(
                "session {}: count {count}, expected {expected}",
                self.session
            )
        })
    }
}

fn stream(target: &Target) -> Result<(), Ending> {
    let count = 6;
    let payload = json!({ "mode": "stream", "count": count, "pause_ms": 2 });
    let (head, reader) = exchange(target, &[], &payload)?;
    let data = events(reader, &head)?;
    let (last, events) = data
        .split_last()
        .ok_or(Ending::Failed("no events".into()))?;
    for (index, event) in events.iter().enumerate() {
        expect(event["index"] == index, || {
            format!("event {index} was {event}")
        })?;
    }
    expect(events.len() == count && last["events"] == count, || {
        format!("{} events, then {last}", events.len())
    })
}

fn ask(target: &Target) -> Result<(), Ending> {
    let payload = json!({
        "mode": "ask",
        "endpoint": format!("http://{}/v1", target.upstream),
        "prompt": "soak",
    });
    let (head, reader) = exchange(target, &[], &payload)?;
    let data = events(reader, &head)?;
    let (last, tokens) = data
        .split_last()
        .ok_or(Ending::Failed("no events".into()))?;
    let relayed = tokens.iter().filter(|e| e["token"].is_string()).count();
    expect(
        relayed == MODEL_TOKENS as usize && last["tokens"] == MODEL_TOKENS,
        || format!("{relayed} tokens, then {last}"),
    )
}

fn websocket(target: &Target) -> Result<(), Ending> {
    let stream = open(target)?;
    let sent = Instant::now();
    let mut socket = WebSocket::open(stream, &[]).map_err(|e| no_reply(sent, e))?;
    for index in 0..3 {
        let message = format!("soak {index}");
        socket.send_text(&message).map_err(failed)?;
        match socket.receive().map_err(failed)? {
            Frame::Text(echo) if echo == message => {}
            Frame::Close(1001) => return Err(Ending::Retryable("websocket 1001")),
            other => return Err(Ending::Failed(format!("sent {message:?}, got {other:?}"))),
        }
    }
    socket.send_close(1000).map_err(failed)?;
    match socket.receive().map_err(failed)? {
        Frame::Close(1000) => Ok(()),
        Frame::Close(1001) => Err(Ending::Retryable("websocket 1001")),
        other => Err(Ending::Failed(format!("closed with 1000, got {other:?}"))),
    }
}

fn open(target: &Target) -> Result<TcpStream, Ending> {
    let sent = Instant::now();
    http::connect(target.server, target.timeout).map_err(|e| no_reply(sent, e))
}

/// Posts `payload` to `/invocations` on a new connection and reads the head. A 503 with
/// Retry-After is the retryable answer.
fn exchange(
    target: &Target,
    headers: &[(&str, &str)],
    payload: &Value,
) -> Result<(Head, BufReader<TcpStream>), Ending> {
    let mut stream = open(target)?;
    let sent = Instant::now();
    let body = serde_json::to_vec(payload).map_err(failed)?;
    http::send(&mut stream, "POST", "/invocations", headers, &body, false)
        .map_err(|e| no_reply(sent, e))?;
    let mut reader = BufReader::new(stream);
    let head = http::read_head(&mut reader).map_err(|e| no_reply(sent, e))?;
    if head.status == 503 && head.header("retry-after").is_some() {
        return Err(Ending::Retryable("503 Retry-After"));
    }
    if head.status != 200 {
        let body = http::read_body(&mut reader, &head).unwrap_or_default();
        return Err(Ending::Failed(format!(
            "status {}: {}",
            head.status,
            String::from_utf8_lossy(&body)
        )));
    }
    Ok((head, reader))
}

fn json_body(reader: &mut BufReader<TcpStream>, head: &Head) -> Result<Value, Ending> {
    let body = http::read_body(reader, head).map_err(failed)?;
    serde_json::from_slice(&body)
        .map_err(|e| Ending::Failed(format!("{e}: {}", String::from_utf8_lossy(&body))))
}

/// Every event of a stream, as JSON. A `ShuttingDown` error event is the retryable answer.
fn events(reader: BufReader<TcpStream>, head: &Head) -> Result<Vec<Value>, Ending> {
    if !head.is_event_stream() {
        return Err(Ending::Failed(format!(
            "content type {:?}",
            head.header("content-type")
        )));
    }
    let mut events = Events::new(reader);
    let mut all = Vec::new();
    while let Some(data) = events.next_data().map_err(failed)? {
        let event: Value = serde_json::from_str(&data).map_err(failed)?;
        if event["error_type"] == "ShuttingDown" {
            return Err(Ending::Retryable("ShuttingDown event"));
        }
        if event.get("error_type").is_some() {
            return Err(Ending::Failed(format!("error event {event}")));
        }
        all.push(event);
    }
    Ok(all)
}

fn expect(holds: bool, what: impl FnOnce() -> String) -> Result<(), Ending> {
    if holds {
        Ok(())
    } else {
        Err(Ending::Failed(what()))
    }
}

fn failed(error: impl std::fmt::Display) -> Ending {
    Ending::Failed(error.to_string())
}

fn no_reply(sent: Instant, error: io::Error) -> Ending {
    Ending::NoReply {
        sent,
        error: error.to_string(),
    }
}
