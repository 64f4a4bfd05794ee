//! The soak's own upstream, on 127.0.0.1 and a thread of its own: a mock model for the
//! well-behaved model calls, and the slow, huge and endless responses that the server's
//! outbound limits must cut off. Every response closes its connection, so the server's
//! descriptors come back as soon as its calls end (the pool would keep them for 90 s).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::stream;

/// Tokens the mock model streams per completion; the soak checks each call relays them all.
pub(crate) const MODEL_TOKENS: u32 = 8;
/// The pause between two tokens.
const TOKEN_GAP: Duration = Duration::from_millis(5);
/// How long `/slow` waits before its head: past the server's first-byte timeout.
const SLOW_HEAD: Duration = Duration::from_secs(8);
/// Bytes `/huge` sends: past the server's limit on a response.
const HUGE_BYTES: usize = 4 << 20;
/// A piece of `/endless`.
const ENDLESS_CHUNK: usize = 16 << 10;
/// How long `/stall` and `/trickle` go on at most, so that a response nobody reads any more
/// cannot outlive the soak.
const LONGEST: Duration = Duration::from_secs(60);

/// The paths of the hostile upstreams, for the mix.
pub(crate) const HOSTILE_PATHS: [&str; 5] = ["/slow", "/huge", "/endless", "/trickle", "/stall"];

/// Starts the upstream on a free port of 127.0.0.1; returns its address.
pub(crate) fn start() -> std::io::Result<SocketAddr> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let listener = runtime
        .block_on(async { wasm_agent_server::listen(SocketAddr::from(([127, 0, 0, 1], 0))) })?;
    let address = listener.local_addr()?;
    let app = Router::new()
        .route("/v1/chat/completions", post(completion))
        .route("/slow", get(slow))
        .route("/huge", get(huge))
        .route("/endless", get(endless))
        .route("/trickle", get(trickle))
        .route("/stall", get(stall));
    std::thread::Builder::new()
        .name("upstream".into())
        .spawn(move || runtime.block_on(async { axum::serve(listener, app).await }))?;
    Ok(address)
}

fn closing(content_type: &'static str, body: Body) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONNECTION, "close"),
        ],
        body,
    )
        .into_response()
}

/// An OpenAI-compatible completion: [`MODEL_TOKENS`] tokens as SSE, then `[DONE]`.
async fn completion(_request: Bytes) -> Response {
    let frames = stream::unfold(0u32, |index| async move {
        match index {
            i if i < MODEL_TOKENS => {
                tokio::time::sleep(TOKEN_GAP).await;
                let chunk = serde_json::json!({
                    "object": "chat.completion.chunk",
                    "choices": [{ "index": 0, "delta": { "content": format!("t{i} ") } }],
                });
                Some((
                    Ok::<_, Infallible>(Bytes::from(format!("data: {chunk}\n\n"))),
                    i + 1,
                ))
            }
            i if i == MODEL_TOKENS => Some((Ok(Bytes::from_static(b"data: [DONE]\n\n")), i + 1)),
            _ => None,
        }
    });
    closing("text/event-stream", Body::from_stream(frames))
}

async fn slow() -> Response {
    tokio::time::sleep(SLOW_HEAD).await;
    closing("text/plain", Body::from("late"))
}

async fn huge() -> Response {
    closing(
        "application/octet-stream",
        Body::from(vec![b'h'; HUGE_BYTES]),
    )
}

async fn endless() -> Response {
    let piece = Bytes::from(vec![b'e'; ENDLESS_CHUNK]);
    let frames = stream::repeat_with(move || Ok::<_, Infallible>(piece.clone()));
    closing("application/octet-stream", Body::from_stream(frames))
}

/// A byte every 100 ms: never silent long enough for the between-bytes timeout.
async fn trickle() -> Response {
    let started = tokio::time::Instant::now();
    let frames = stream::unfold((), move |()| async move {
        if started.elapsed() > LONGEST {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        Some((Ok::<_, Infallible>(Bytes::from_static(b"t")), ()))
    });
    closing("text/plain", Body::from_stream(frames))
}

/// The head and one byte, then silence.
async fn stall() -> Response {
    let frames = stream::unfold(0u8, |step| async move {
        match step {
            0 => Some((Ok::<_, Infallible>(Bytes::from_static(b"s")), 1)),
            1 => {
                tokio::time::sleep(LONGEST).await;
                None
            }
            _ => None,
        }
    });
    closing("text/plain", Body::from_stream(frames))
}
