//! [`router`]: every route, one file each.

mod debug;
mod invocations;
mod ping;
mod ws;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::{any, get, post};
use wasm_agent_contract::headers;
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

/// The context a handler sees, from the request headers as the SDK reads them; a request
/// without a request id gets a new one.
fn context(request_headers: &HeaderMap) -> Context {
    let context = headers::request_context(
        request_headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes())),
    );
    Context {
        request_id: context
            .request_id
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        session_id: context.session_id,
        headers: context.headers,
        workload_access_token: context.workload_access_token,
        oauth2_callback_url: context.oauth2_callback_url,
    }
}
