//! The hostile requests of the mix: guests that spin, grow, recurse, trap, flood, sleep past
//! the deadline, return or emit too much, or open tasks without end; upstreams that are slow,
//! huge or endless; and clients that leave, never read, send slowly, or only hold connections.
//! Whatever each gets is counted by what it got; what matters is that the well-behaved
//! requests beside them keep their replies and the server gives back what they held.

use std::io::{self, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http::{self, Events, SESSION_HEADER, WebSocket};
use crate::upstream::HOSTILE_PATHS;
use crate::well::Target;

/// Bytes of the huge result: past the `--max-result-size` the soak gives the server (4 MiB).
/// Past the default (16 MiB), the guest would run out of its 64 MiB serializing it first.
const HUGE_RESULT: usize = 8 << 20;
/// Bytes of the huge event: past the server's default `--max-event-size` (4 MiB).
const HUGE_EVENT: usize = 8 << 20;
/// Async tasks one task flood opens: past the server's default `--max-async-tasks` (1,000).
const TASK_FLOOD: u64 = 1500;
/// Connections one idle flood opens.
const IDLE_FLOOD: usize = 100;
/// How long a client that never reads holds its connection.
const UNREAD_HOLD: Duration = Duration::from_secs(2);
/// The longest a hostile client waits for the server to close a connection it holds.
const CLOSE_WAIT: Duration = Duration::from_secs(15);

/// The hostile kinds, in the order the mix takes them.
pub(crate) const KINDS: [&str; 24] = [
    "spin",
    "grow",
    "deep",
    "trap",
    "flood-leave",
    "flood-unread",
    "sleep-past-deadline",
    "huge-result",
    "huge-event",
    "task-flood",
    "fetch/slow",
    "fetch/huge",
    "fetch/endless",
    "fetch/trickle",
    "fetch/stall",
    "leave-at-once",
    "slow-body",
    "slow-head",
    "idle-flood",
    "oversize",
    "websocket-abandon",
    "session-trap",
    "websocket-unread",
    "emit-then-leave",
];

/// Makes one hostile request of `kind`; what came of it, as a short label.
pub(crate) fn run(kind: &str, target: &Target) -> String {
    let result = match kind {
        "spin" | "grow" | "deep" | "trap" => invoke(target, &[], &json!({ "mode": kind })),
        "flood-leave" => flood_leave(target),
        "flood-unread" => flood_unread(target),
        "sleep-past-deadline" => invoke(target, &[], &json!({ "mode": "sleep", "ms": 60_000 })),
        "huge-result" => invoke(
            target,
            &[],
            &json!({ "mode": "result", "bytes": HUGE_RESULT }),
        ),
        "huge-event" => invoke(
            target,
            &[],
            &json!({ "mode": "event", "bytes": HUGE_EVENT }),
        ),
        "task-flood" => invoke(
            target,
            &[],
            &json!({ "mode": "tasks", "count": TASK_FLOOD }),
        ),
        "leave-at-once" => leave_at_once(target),
        "slow-body" => slow_body(target),
        "slow-head" => slow_head(target),
        "idle-flood" => idle_flood(target),
        "oversize" => oversize(target),
        "websocket-abandon" => websocket_abandon(target),
        "websocket-unread" => websocket_unread(target),
        "session-trap" => {
            let headers = [(SESSION_HEADER, "soak-hostile")];
            invoke(target, &headers, &json!({ "mode": "trap" }))
        }
        "emit-then-leave" => emit_then_leave(target),
        fetch if fetch.starts_with("fetch/") => {
            let path = &fetch["fetch".len()..];
            debug_assert!(HOSTILE_PATHS.contains(&path));
            let url = format!("http://{}{path}", target.upstream);
            invoke(target, &[], &json!({ "mode": "fetch", "url": url }))
        }
        other => Ok(format!("no kind {other}")),
    };
    result.unwrap_or_else(|error| format!("io: {:?}", error.kind()))
}

/// Posts `payload` and reads the reply whole: its status, and for a JSON reply with an
/// `error` member (a fetch that failed) that error.
fn invoke(target: &Target, headers: &[(&str, &str)], payload: &Value) -> io::Result<String> {
    let mut reader = BufReader::new(post(target, headers, payload)?);
    let head = http::read_head(&mut reader)?;
    let body = http::read_body(&mut reader, &head)?;
    let mut label = head.status.to_string();
    if head.is_event_stream() {
        label.push_str(" stream");
    } else if let Ok(body) = serde_json::from_slice::<Value>(&body)
        && let Some(error) = body.get("error").and_then(Value::as_str)
    {
        // The guest's own report (fetch) or the server's error: its first words say which.
        let words: Vec<&str> = error.split_whitespace().take(4).collect();
        label.push(' ');
        label.push_str(&words.join(" "));
    }
    Ok(label)
}

/// Opens a connection and posts `payload` with `headers` (`Connection: close`).
fn post(target: &Target, headers: &[(&str, &str)], payload: &Value) -> io::Result<TcpStream> {
    let mut stream = http::connect(target.server, target.timeout)?;
    let body = payload.to_string();
    http::send(
        &mut stream,
        "POST",
        "/invocations",
        headers,
        body.as_bytes(),
        false,
    )?;
    Ok(stream)
}

/// A flood of events read for a while, then the connection dropped.
fn flood_leave(target: &Target) -> io::Result<String> {
    let stream = post(target, &[], &json!({ "mode": "flood", "size": 4096 }))?;
    let mut reader = BufReader::new(stream);
    let head = http::read_head(&mut reader)?;
    let mut events = Events::new(reader);
    for _ in 0..200 {
        if events.next_data()?.is_none() {
            return Ok(format!("{} ended", head.status));
        }
    }
    Ok(format!("{} left after 200 events", head.status))
}

/// A flood of events never read: the server's writes stall on the full connection.
fn flood_unread(target: &Target) -> io::Result<String> {
    let _held = post(target, &[], &json!({ "mode": "flood", "size": 65536 }))?;
    std::thread::sleep(UNREAD_HOLD);
    Ok("left unread".into())
}

/// A stream that emits, then its client goes while the guest sleeps.
fn emit_then_leave(target: &Target) -> io::Result<String> {
    let stream = post(
        target,
        &[],
        &json!({ "mode": "sleep", "ms": 3000, "emit_first": true }),
    )?;
    let mut reader = BufReader::new(stream);
    let head = http::read_head(&mut reader)?;
    Ok(format!("{} left after the head", head.status))
}

/// A request sent, and the connection dropped before any reply.
fn leave_at_once(target: &Target) -> io::Result<String> {
    let _sent = post(target, &[], &json!({ "mode": "spin" }))?;
    Ok("left".into())
}

/// A body declared at 100 KiB and sent a few bytes a second.
fn slow_body(target: &Target) -> io::Result<String> {
    let mut stream = http::connect(target.server, target.timeout)?;
    stream.write_all(
        b"POST /invocations HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\
          Content-Type: application/json\r\nContent-Length: 102400\r\n\r\n{\"mode\":",
    )?;
    let started = Instant::now();
    while started.elapsed() < CLOSE_WAIT {
        std::thread::sleep(Duration::from_millis(250));
        if stream.write_all(b" ").is_err() {
            break;
        }
    }
    let mut reader = BufReader::new(stream);
    Ok(match http::read_head(&mut reader) {
        Ok(head) => head.status.to_string(),
        Err(error) => format!("closed ({:?})", error.kind()),
    })
}

/// Half a request head, and then nothing: the server closes it.
fn slow_head(target: &Target) -> io::Result<String> {
    let mut stream = http::connect(target.server, CLOSE_WAIT)?;
    stream.write_all(b"POST /invocations HTTP/1.1\r\nHost: so")?;
    closed_by_server(stream)
}

/// Connections opened and left without a request: the server closes them.
fn idle_flood(target: &Target) -> io::Result<String> {
    let streams: Vec<TcpStream> = (0..IDLE_FLOOD)
        .map(|_| http::connect(target.server, CLOSE_WAIT))
        .collect::<io::Result<_>>()?;
    let deadline = Instant::now() + CLOSE_WAIT;
    let mut open = 0;
    for stream in streams {
        // One wait for them all, not one each.
        let left = deadline.saturating_duration_since(Instant::now());
        stream.set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
        if closed_by_server(stream)? != "closed by the server" {
            open += 1;
        }
    }
    Ok(if open == 0 {
        format!("all {IDLE_FLOOD} closed by the server")
    } else {
        format!("{open} of {IDLE_FLOOD} left open")
    })
}

fn closed_by_server(mut stream: TcpStream) -> io::Result<String> {
    let mut byte = [0u8; 1];
    Ok(match stream.read(&mut byte) {
        Ok(0) => "closed by the server".into(),
        Ok(_) => "answered".into(),
        Err(error) if error.kind() == io::ErrorKind::ConnectionReset => {
            "closed by the server".into()
        }
        Err(error) if error.kind() == io::ErrorKind::WouldBlock => "still open".into(),
        Err(error) => format!("io: {:?}", error.kind()),
    })
}

/// A body declared far past the payload limit.
fn oversize(target: &Target) -> io::Result<String> {
    let mut stream = http::connect(target.server, target.timeout)?;
    stream.write_all(
        b"POST /invocations HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\
          Content-Type: application/json\r\nContent-Length: 200000000\r\n\r\n",
    )?;
    let mut reader = BufReader::new(stream);
    Ok(http::read_head(&mut reader)?.status.to_string())
}

/// A WebSocket opened, one message sent, and the TCP connection dropped without a close.
fn websocket_abandon(target: &Target) -> io::Result<String> {
    let stream = http::connect(target.server, target.timeout)?;
    let mut socket = WebSocket::open(stream, &[])?;
    socket.send_text("hello")?;
    socket.receive()?;
    Ok("dropped".into())
}

/// A WebSocket whose client sends a message and never reads again, until the server ends it.
fn websocket_unread(target: &Target) -> io::Result<String> {
    let stream = http::connect(target.server, target.timeout)?;
    let mut socket = WebSocket::open(stream, &[])?;
    for _ in 0..64 {
        socket.send_text(&"x".repeat(16 << 10))?;
    }
    Ok("left unread".into())
}
