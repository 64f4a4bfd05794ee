//! `GET /ping`: the health the platform polls, answered from memory alone.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use wasm_agent_contract::{PingStatus, ping};

use crate::state::AppState;

/// `HealthyBusy` while any async task a guest registered is open, else `Healthy`; the time of
/// the last change, as the SDK reports it.
pub async fn ping(State(state): State<AppState>) -> Response {
    let status = if state.host().tasks().is_busy() {
        PingStatus::HealthyBusy
    } else {
        PingStatus::Healthy
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let time_of_last_update = state.ping().observe(status, now);
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        ping::body(status, time_of_last_update),
    )
        .into_response()
}
