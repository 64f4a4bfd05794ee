//! The last phase: SIGTERM while the load runs and probes of every kind are in flight. Each
//! probe is an invocation the server has certainly accepted (its guest is running, or its
//! stream or WebSocket has begun), so each must end with its complete reply or the retryable
//! answer, and the process must exit 0 within the grace and a second.

use std::io::BufReader;
use std::net::TcpStream;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http::{self, Events, Frame, REQUEST_HEADER, WebSocket};
use crate::process::Server;
use crate::well::Target;

/// Probes of each kind.
const EACH: usize = 3;
/// The longest the probes take to be under way.
const START_LIMIT: Duration = Duration::from_secs(30);

/// What one probe is, and what it must get.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// A JSON invocation that ends well within the grace: its complete reply.
    Quick,
    /// A JSON invocation that outlasts the grace: 503 with Retry-After (or its reply).
    Long,
    /// A stream that outlasts the grace: the `ShuttingDown` error event (or its end).
    Stream,
    /// An open WebSocket: closed with 1001.
    WebSocket,
}

/// How long the quick and long probes' guests sleep, given the grace.
fn sleep_ms(kind: Kind, grace: Duration) -> u64 {
    let grace = grace.as_millis() as u64;
    match kind {
        Kind::Quick => (grace / 3).max(200),
        // Past the grace, and short of the server's --timeout (5 s) to the reply.
        Kind::Long => grace + 1500,
        // A stream's deadline after its first event is --stream-timeout (20 s).
        Kind::Stream | Kind::WebSocket => grace + 10_000,
    }
}

/// The phase's result.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub probes: Vec<(String, Result<String, String>)>,
    pub exit: Option<(Duration, Option<i32>)>,
    pub limit: Duration,
}

impl Outcome {
    /// The misses: a probe without its due answer, an exit that was late, not 0, or never.
    pub(crate) fn misses(&self) -> Vec<String> {
        let mut misses: Vec<String> = self
            .probes
            .iter()
            .filter_map(|(name, result)| {
                result
                    .as_ref()
                    .err()
                    .map(|e| format!("shutdown probe {name}: {e}"))
            })
            .collect();
        match self.exit {
            None => misses.push(format!(
                "the server did not exit within {:?} of SIGTERM",
                self.limit
            )),
            Some((took, _)) if took > self.limit => misses.push(format!(
                "the server exited {took:?} after SIGTERM, past {:?}",
                self.limit
            )),
            Some((_, code)) if code != Some(0) => {
                misses.push(format!("the server exited with {code:?}"))
            }
            Some(_) => {}
        }
        misses
    }

    /// The result as JSON.
    pub(crate) fn to_json(&self) -> Value {
        let probes: serde_json::Map<String, Value> = self
            .probes
            .iter()
            .map(|(name, result)| {
                let value = match result {
                    Ok(ok) => json!({ "ok": ok }),
                    Err(error) => json!({ "missed": error }),
                };
                (name.clone(), value)
            })
            .collect();
        json!({
            "probes": probes,
            "exit_after_ms": self.exit.map(|(took, _)| took.as_millis() as u64),
            "exit_code": self.exit.and_then(|(_, code)| code),
            "limit_ms": self.limit.as_millis() as u64,
        })
    }
}

/// Starts the probes, waits until each is under way, sends SIGTERM (calling `signalled` with
/// the moment just before), and collects the probes' answers and the exit.
pub(crate) fn run(
    server: &mut Server,
    target: &Target,
    grace: Duration,
    signalled: impl FnOnce(Instant),
) -> std::io::Result<Outcome> {
    let deadline = Instant::now() + START_LIMIT;
    // The streams and WebSockets first: each says itself when it is under way.
    let (ready, under_way) = std::sync::mpsc::channel::<()>();
    let mut probes = Vec::new();
    for kind in [Kind::Stream, Kind::WebSocket] {
        start_probes(kind, grace, target, &ready, &mut probes)?;
    }
    let mut started = 0;
    while started < probes.len() && Instant::now() < deadline {
        if under_way.recv_timeout(Duration::from_millis(10)).is_ok() {
            started += 1;
        }
    }
    // The JSON ones last, so the long ones are still running when the grace ends: they are
    // under way once their guest says so in the log.
    let first_json = probes.len();
    for kind in [Kind::Quick, Kind::Long] {
        start_probes(kind, grace, target, &ready, &mut probes)?;
    }
    let markers: Vec<String> = probes[first_json..]
        .iter()
        .map(|(name, _)| format!("in {name} "))
        .collect();
    while !markers.iter().all(|m| server.has_logged(m)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let at = Instant::now();
    signalled(at);
    server.signal("TERM")?;
    let limit = grace + Duration::from_secs(1);
    let exit = server
        .wait(limit + Duration::from_secs(30))?
        .map(|status| (at.elapsed(), status.code()));
    let probes = probes
        .into_iter()
        .map(|(name, handle)| {
            let result = handle
                .join()
                .unwrap_or_else(|_| Err("the probe panicked".into()));
            (name, result)
        })
        .collect();
    Ok(Outcome {
        probes,
        exit,
        limit,
    })
}

type Probes = Vec<(String, JoinHandle<Result<String, String>>)>;

/// Starts [`EACH`] probes of `kind`, each telling `ready` once it is under way (if it can).
fn start_probes(
    kind: Kind,
    grace: Duration,
    target: &Target,
    ready: &std::sync::mpsc::Sender<()>,
    probes: &mut Probes,
) -> std::io::Result<()> {
    for index in 0..EACH {
        let name = format!("soak-shutdown-{kind:?}-{index}").to_lowercase();
        let (target, ready, id) = (*target, ready.clone(), name.clone());
        let ms = sleep_ms(kind, grace);
        let handle = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                probe(kind, &id, ms, &target, || {
                    let _ = ready.send(());
                })
            })?;
        probes.push((name, handle));
    }
    Ok(())
}

fn probe(
    kind: Kind,
    id: &str,
    ms: u64,
    target: &Target,
    under_way: impl FnOnce(),
) -> Result<String, String> {
    let mut stream = http::connect(target.server, target.timeout).map_err(|e| e.to_string())?;
    let headers = [(REQUEST_HEADER, id)];
    if let Kind::WebSocket = kind {
        let mut socket = WebSocket::open(stream, &headers).map_err(|e| e.to_string())?;
        socket.send_text("before").map_err(|e| e.to_string())?;
        socket.receive().map_err(|e| e.to_string())?;
        under_way();
        return match socket.receive().map_err(|e| e.to_string())? {
            Frame::Close(1001) => Ok("closed with 1001".into()),
            other => Err(format!("expected a close with 1001, got {other:?}")),
        };
    }
    let emit_first = matches!(kind, Kind::Stream);
    let payload = json!({ "mode": "sleep", "ms": ms, "emit_first": emit_first });
    http::send(
        &mut stream,
        "POST",
        "/invocations",
        &headers,
        payload.to_string().as_bytes(),
        false,
    )
    .map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    let head = http::read_head(&mut reader).map_err(|e| format!("no reply: {e}"))?;
    if emit_first {
        return stream_end(head, reader, under_way);
    }
    let body = http::read_body(&mut reader, &head).map_err(|e| e.to_string())?;
    let body = String::from_utf8_lossy(&body);
    match head.status {
        200 if body.contains("slept_ms") => Ok("complete reply".into()),
        503 if head.header("retry-after").is_some() => Ok("503 with Retry-After".into()),
        status => Err(format!("status {status}: {body}")),
    }
}

fn stream_end(
    head: http::Head,
    reader: BufReader<TcpStream>,
    under_way: impl FnOnce(),
) -> Result<String, String> {
    if !head.is_event_stream() {
        return Err(format!("status {} without a stream", head.status));
    }
    let mut events = Events::new(reader);
    events
        .next_data()
        .map_err(|e| e.to_string())?
        .ok_or("no first event")?;
    under_way();
    let mut last = None;
    while let Some(data) = events
        .next_data()
        .map_err(|e| format!("the stream broke: {e}"))?
    {
        last = Some(data);
    }
    let last: Value =
        serde_json::from_str(&last.ok_or("no final event")?).map_err(|e| e.to_string())?;
    if last["error_type"] == "ShuttingDown" {
        Ok("ShuttingDown error event".into())
    } else if last["slept_ms"].is_u64() {
        Ok("complete stream".into())
    } else {
        Err(format!("final event {last}"))
    }
}
