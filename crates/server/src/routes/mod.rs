//! [`router`]: every route, one file each.

mod debug;
mod invocations;
mod metrics;
mod ping;
mod ws;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::{MethodRouter, any, get, post};
use wasm_agent_host::Context;

use crate::error::ApiError;
use crate::state::AppState;

/// The AgentCore Runtime routes: `POST /invocations`, `GET /ping` (and HEAD), `/ws`, and
/// `GET /metrics` unless it has a listener of its own; anything else is a JSON 404, a wrong
/// method a JSON 405 with `Allow`.
pub fn router(state: AppState) -> Router {
    let router = if state.config().metrics_addr.is_none() {
        Router::new().route("/metrics", metrics_route())
    } else {
        Router::new()
    };
    router
        .route(
            "/invocations",
            post(invocations::invoke).fallback(|| async { ApiError::MethodNotAllowed("POST") }),
        )
        .route(
            "/ping",
            get(ping::ping).fallback(|| async { ApiError::MethodNotAllowed("GET, HEAD") }),
        )
        .route("/ws", any(ws::upgrade))
        .fallback(|| async { ApiError::NotFound })
        .with_state(state)
}

/// Only `/metrics`, for a listener of its own (`--metrics-addr`).
pub(crate) fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", metrics_route())
        .fallback(|| async { ApiError::NotFound })
        .with_state(state)
}

/// `GET /metrics` (and HEAD), wherever it is served.
fn metrics_route() -> MethodRouter<AppState> {
    get(metrics::metrics).fallback(|| async { ApiError::MethodNotAllowed("GET, HEAD") })
}

/// The context a handler sees, from the request headers.
fn context(request_headers: &HeaderMap) -> Context {
    Context::from_headers(
        request_headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes())),
    )
}
