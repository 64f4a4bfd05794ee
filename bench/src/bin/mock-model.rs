//! A mock OpenAI-compatible model for the agent benchmark (`make bench-agents`):
//! `POST /v1/chat/completions` streams a completion as server-sent events on a fixed schedule,
//! the first token `--first-token-ms` after the request and the `--tokens` tokens spread evenly
//! over `--stream-ms`, then `data: [DONE]`. Whatever the request says, the schedule is the same,
//! so every system in the benchmark waits on exactly the same model. It runs on one thread: it
//! shares the cores with the system under test and the load generator, and sleeping streams
//! need no more. Prints `listening on http://ADDR` to stderr, like `wasm-agent serve`.

#![forbid(unsafe_code)]

use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use clap::Parser;
use futures_util::stream;
use tokio::time::{Instant, sleep_until};

#[derive(Parser, Clone, Copy, Debug)]
struct Pacing {
    /// Port on 127.0.0.1 (0: a free one)
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Time from the request to the first token
    #[arg(long, default_value_t = 1000)]
    first_token_ms: u64,
    /// Tokens in each completion
    #[arg(long, default_value_t = 50)]
    tokens: u32,
    /// Time from the first token to the last
    #[arg(long, default_value_t = 2000)]
    stream_ms: u64,
}

impl Pacing {
    /// When token `index` is due, counted from the request's arrival. Scheduled from the start
    /// rather than from the previous token, so a late wake-up does not push every later token.
    fn due(&self, start: Instant, index: u32) -> Instant {
        let gap = match self.tokens {
            0 | 1 => 0,
            n => self.stream_ms * u64::from(index) / u64::from(n - 1),
        };
        start + Duration::from_millis(self.first_token_ms + gap)
    }
}

fn chunk(index: u32) -> Bytes {
    let event = serde_json::json!({
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "model": "mock",
        "choices": [{ "index": 0, "delta": { "content": format!("t{index} ") } }],
    });
    Bytes::from(format!("data: {event}\n\n"))
}

async fn completion(State(pacing): State<Pacing>, _request: Bytes) -> Response {
    let start = Instant::now();
    let frames = stream::unfold(0u32, move |index| async move {
        match index {
            i if i < pacing.tokens => {
                sleep_until(pacing.due(start, i)).await;
                Some((Ok::<_, std::io::Error>(chunk(i)), i + 1))
            }
            i if i == pacing.tokens => Some((Ok(Bytes::from_static(b"data: [DONE]\n\n")), i + 1)),
            _ => None,
        }
    });
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(frames),
    )
        .into_response()
}

fn main() -> std::io::Result<()> {
    let pacing = Pacing::parse();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            // The server's listener: thousands of model calls may open connections at once.
            let listener = wasm_agent_server::listen(([127, 0, 0, 1], pacing.port).into())?;
            eprintln!("listening on http://{}", listener.local_addr()?);
            let app = Router::new()
                .route("/v1/chat/completions", post(completion))
                .route("/chat/completions", post(completion))
                .with_state(pacing);
            axum::serve(listener, app).await
        })
}
