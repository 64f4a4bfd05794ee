//! [`router`]: every route, one file each.

mod debug;
mod invocations;
mod ping;
mod ws;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::{any, get, post};
use wasm_agent_host::Context;

use crate::error::ApiError;
use crate::state::AppState;

/// The AgentCore Runtime routes: `POST /invocations`, `GET /ping` (and HEAD), `/ws`; anything
/// else is a JSON 404, a wrong method a JSON 405 with `Allow`.
pub fn router(state: AppState) -> Router {
    Router::new()
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

/// The context a handler sees, from the request headers.
fn context(request_headers: &HeaderMap) -> Context {
    Context::from_headers(
        request_headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes())),
    )
}
