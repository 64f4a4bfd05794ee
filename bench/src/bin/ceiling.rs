//! The machine's ceiling for the echo benchmark: an axum server that answers
//! `POST /invocations` with its body, as JSON, with no wasm at all: the most this machine's HTTP
//! stack can do for the request, on one tokio worker per core (more than `wasm-agent serve` gives
//! its HTTP side, which leaves the cores to guest code). Prints `listening on http://ADDR` like it.
//!
//! Usage: ceiling [PORT]   (0 or nothing: a free port on 127.0.0.1)

#![forbid(unsafe_code)]

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::post;

async fn echo(body: Bytes) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], body)
}

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_all()
        .build()?
        .block_on(async {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
            eprintln!("listening on http://{}", listener.local_addr()?);
            axum::serve(listener, Router::new().route("/invocations", post(echo))).await
        })
}
