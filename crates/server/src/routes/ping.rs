//! `GET /ping`: the health the platform polls, answered from memory alone.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use wasm_agent_contract::ping;

use crate::state::AppState;

/// The status (forced, else a guest's, else whether async tasks are open) and the time of its
/// last change, as the SDK reports them. Never calls into a guest.
pub(super) async fn ping(State(state): State<AppState>) -> Response {
    let (status, time_of_last_update) = state.observe_ping();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        ping::body(status, time_of_last_update),
    )
        .into_response()
}
