//! [`router`]: every route, one file each.

mod invocations;
mod ping;

use axum::Router;
use axum::routing::{get, post};

use crate::error::ApiError;
use crate::state::AppState;

/// The AgentCore Runtime routes: `POST /invocations`, `GET /ping` (and HEAD); anything else is
/// a JSON 404, a wrong method a JSON 405 with `Allow`.
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
        .fallback(|| async { ApiError::NotFound })
        .with_state(state)
}
