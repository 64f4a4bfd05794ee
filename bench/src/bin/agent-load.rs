//! The load generator of the agent benchmark (`make bench-agents`): `--concurrency` clients,
//! each on its own connection, each making `--rounds` streaming invocations one after another,
//! while a probe asks `/ping` on a fresh connection every `--ping-every-ms`. It prints one JSON
//! document: first-token and whole-stream latencies, tokens relayed, failures by kind, and the
//! probe's latencies. It is written in Rust so that what it measures is the server, not itself;
//! the probe has a thread of its own, so a busy load loop cannot make `/ping` look slow.
//!
//! A token is an SSE event whose data has a `"token"` member: what both the model agent guest and
//! the Python SDK agent send for each token they relay.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

#[derive(Parser, Debug)]
struct Args {
    /// The server under test, e.g. 127.0.0.1:8080
    #[arg(long)]
    server: SocketAddr,
    /// Clients, each with one invocation in flight at a time
    #[arg(long)]
    concurrency: usize,
    /// Invocations each client makes, one after another on its connection
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Rounds at the start whose latencies are not counted (their failures are): while clients
    /// ramp up fewer than `--concurrency` invocations are in flight, and sessions are new
    #[arg(long, default_value_t = 1)]
    warmup_rounds: usize,
    /// Give each client a session id of its own (the same for all its rounds)
    #[arg(long)]
    sessions: bool,
    /// Tokens a complete stream has; a stream with fewer is a failure
    #[arg(long)]
    tokens: usize,
    /// Longest an invocation may take before it counts as failed
    #[arg(long, default_value_t = 120)]
    timeout_s: u64,
    /// Spread the clients' first requests over this long (0: all at once)
    #[arg(long, default_value_t = 0)]
    ramp_ms: u64,
    /// Interval of the `/ping` probe
    #[arg(long, default_value_t = 20)]
    ping_every_ms: u64,
    /// The request body of every invocation
    #[arg(long, default_value = r#"{"prompt": "Write a haiku about latency."}"#)]
    payload: String,
}

/// What one invocation measured.
#[derive(Default)]
struct Outcome {
    warmup: bool,
    first_token: Option<Duration>,
    whole: Option<Duration>,
    tokens: usize,
    failure: Option<String>,
}

/// Longest wait for one `/ping` answer; a probe that gets none counts this long.
const PING_TIMEOUT: Duration = Duration::from_secs(10);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Arc::new(Args::parse());
    let done = Arc::new(AtomicBool::new(false));
    let probe = {
        let (server, every, done) = (
            args.server,
            Duration::from_millis(args.ping_every_ms),
            done.clone(),
        );
        std::thread::Builder::new()
            .name("ping-probe".into())
            .spawn(move || probe_ping(server, every, &done))?
    };
    let started = Instant::now();
    let outcomes = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run_clients(args.clone()));
    let wall = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let pings = probe.join().map_err(|_| "the ping probe panicked")?;
    println!("{}", report(&args, &outcomes, &pings, wall));
    Ok(())
}

async fn run_clients(args: Arc<Args>) -> Vec<Outcome> {
    let clients: Vec<_> = (0..args.concurrency)
        .map(|index| {
            let args = args.clone();
            tokio::spawn(async move {
                if args.ramp_ms > 0 {
                    let offset = args.ramp_ms * index as u64 / args.concurrency as u64;
                    tokio::time::sleep(Duration::from_millis(offset)).await;
                }
                client(&args, index).await
            })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(args.concurrency * args.rounds);
    for client in clients {
        match client.await {
            Ok(mut theirs) => outcomes.append(&mut theirs),
            Err(error) => outcomes.push(failed(format!("client task: {error}"))),
        }
    }
    outcomes
}

fn failed(why: String) -> Outcome {
    Outcome {
        failure: Some(why),
        ..Outcome::default()
    }
}

/// One client: a connection, kept alive across its rounds (opened again if the server closed it).
async fn client(args: &Args, index: usize) -> Vec<Outcome> {
    // 36 characters or more, as AgentCore asks of a session id.
    let session = format!("bench-agents-session-{index:08}-{:08x}", index * 7919);
    let mut sender = None;
    let mut outcomes = Vec::with_capacity(args.rounds);
    for round in 0..args.rounds {
        let timeout = Duration::from_secs(args.timeout_s);
        let started = Instant::now();
        let outcome = tokio::time::timeout(
            timeout,
            invoke(
                args,
                args.sessions.then_some(&session),
                &mut sender,
                started,
            ),
        )
        .await
        .unwrap_or_else(|_| failed("timeout".into()));
        if outcome.failure.is_some() {
            sender = None;
        }
        outcomes.push(Outcome {
            warmup: round < args.warmup_rounds,
            ..outcome
        });
    }
    outcomes
}

async fn invoke(
    args: &Args,
    session: Option<&String>,
    sender: &mut Option<http1::SendRequest<Full<Bytes>>>,
    started: Instant,
) -> Outcome {
    if let Some(open) = sender.as_mut()
        && open.ready().await.is_err()
    {
        *sender = None;
    }
    let ready = match sender {
        Some(open) => open,
        None => match connect(args.server).await {
            Ok(open) => sender.insert(open),
            Err(error) => return failed(format!("connect: {}", error.kind())),
        },
    };
    let mut request = Request::post("/invocations")
        .header("host", args.server.to_string())
        .header("content-type", "application/json")
        .header("accept", "text/event-stream");
    if let Some(session) = session {
        request = request.header("x-amzn-bedrock-agentcore-runtime-session-id", session);
    }
    let request = request
        .body(Full::new(Bytes::from(args.payload.clone())))
        .expect("a valid request");
    let response = match ready.send_request(request).await {
        Ok(response) => response,
        Err(error) => return failed(format!("request: {}", hyper_kind(&error))),
    };
    let status = response.status();
    let mut body = response.into_body();
    let mut outcome = Outcome::default();
    let mut pending = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(error) => return failed(format!("body: {}", hyper_kind(&error))),
        };
        let Some(data) = frame.data_ref() else {
            continue;
        };
        pending.extend_from_slice(data);
        let tokens = take_token_events(&mut pending);
        if tokens > 0 && outcome.first_token.is_none() {
            outcome.first_token = Some(started.elapsed());
        }
        outcome.tokens += tokens;
    }
    outcome.whole = Some(started.elapsed());
    if !status.is_success() {
        outcome.failure = Some(format!("status {}", status.as_u16()));
    } else if outcome.tokens < args.tokens {
        outcome.failure = Some("short stream".into());
    }
    outcome
}

async fn connect(server: SocketAddr) -> std::io::Result<http1::SendRequest<Full<Bytes>>> {
    let tcp = TcpStream::connect(server).await?;
    tcp.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(connection);
    Ok(sender)
}

/// hyper's errors carry no kind to match on; their text is short and says which.
fn hyper_kind(error: &hyper::Error) -> String {
    let text = error.to_string();
    text.split(':').next().unwrap_or(&text).to_owned()
}

/// Removes the complete SSE events from the front of `pending` and counts those that carry a
/// token. An event ends at a blank line; SSE allows `\r\n` too, which neither server sends.
fn take_token_events(pending: &mut Vec<u8>) -> usize {
    let mut tokens = 0;
    let mut consumed = 0;
    while let Some(end) = find(&pending[consumed..], b"\n\n") {
        let event = &pending[consumed..consumed + end];
        if event.starts_with(b"data:") && find(event, b"\"token\"").is_some() {
            tokens += 1;
        }
        consumed += end + 2;
    }
    pending.drain(..consumed);
    tokens
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Asks `/ping` on a fresh connection every `every` until `done`, as a health checker does, and
/// returns each answer's latency (`PING_TIMEOUT` for one that failed or never came).
fn probe_ping(server: SocketAddr, every: Duration, done: &AtomicBool) -> Vec<(Duration, bool)> {
    let mut latencies = Vec::new();
    let mut next = Instant::now();
    while !done.load(Ordering::Relaxed) {
        let started = Instant::now();
        let healthy = ping_once(server).unwrap_or(false);
        let took = if healthy {
            started.elapsed()
        } else {
            PING_TIMEOUT.max(started.elapsed())
        };
        latencies.push((took, healthy));
        next += every;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
    }
    latencies
}

fn ping_once(server: SocketAddr) -> std::io::Result<bool> {
    let mut tcp = StdTcpStream::connect_timeout(&server, PING_TIMEOUT)?;
    tcp.set_read_timeout(Some(PING_TIMEOUT))?;
    tcp.set_nodelay(true)?;
    tcp.write_all(b"GET /ping HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n")?;
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer)?;
    Ok(answer.starts_with(b"HTTP/1.1 200") && find(&answer, b"Healthy").is_some())
}

fn percentiles(mut values: Vec<f64>) -> Value {
    if values.is_empty() {
        return Value::Null;
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    json!({ "p50": at(0.50), "p99": at(0.99), "max": at(1.0), "count": values.len() })
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn report(args: &Args, outcomes: &[Outcome], pings: &[(Duration, bool)], wall: Duration) -> Value {
    let mut failures: BTreeMap<&str, usize> = BTreeMap::new();
    for failure in outcomes.iter().filter_map(|o| o.failure.as_deref()) {
        *failures.entry(failure).or_default() += 1;
    }
    let good = || outcomes.iter().filter(|o| o.failure.is_none() && !o.warmup);
    json!({
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "warmup_rounds": args.warmup_rounds,
        "sessions": args.sessions,
        "invocations": outcomes.len(),
        "failed": outcomes.iter().filter(|o| o.failure.is_some()).count(),
        "failures": failures,
        "tokens": outcomes.iter().map(|o| o.tokens).sum::<usize>(),
        "first_token_ms": percentiles(good().filter_map(|o| o.first_token.map(millis)).collect()),
        "whole_ms": percentiles(good().filter_map(|o| o.whole.map(millis)).collect()),
        "ping_ms": percentiles(pings.iter().map(|(took, _)| millis(*took)).collect()),
        "ping_failed": pings.iter().filter(|(_, healthy)| !healthy).count(),
        "wall_s": wall.as_secs_f64(),
    })
}
