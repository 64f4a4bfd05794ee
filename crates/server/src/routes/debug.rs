//! The SDK's debug actions, answered by the server itself when `--debug` is on: a payload
//! object holding `_agent_core_app_action` never reaches the handler.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use wasm_agent_contract::debug::{self, DebugAction};
use wasm_agent_contract::{PingStatus, ping};

use crate::error::ApiError;
use crate::state::AppState;

/// The reply to `payload` if it is a debug action and debug actions are on; `None` otherwise.
pub(super) fn answer(state: &AppState, payload: &str) -> Option<Response> {
    // Parsing again only when the key is there at all keeps ordinary invocations free of it.
    if !state.config().debug || !payload.contains(debug::ACTION_KEY) {
        return None;
    }
    let value: Value = serde_json::from_str(payload).ok()?;
    let body = match debug::action(&value)? {
        Err(unknown) => return Some(ApiError::UnknownAction(unknown).into_response()),
        Ok(DebugAction::PingStatus) => {
            let (status, time_of_last_update) = state.observe_ping();
            ping::body(status, time_of_last_update)
        }
        Ok(DebugAction::JobStatus) => {
            let jobs = state.host().tasks().snapshot();
            debug::job_status_body(
                jobs.iter()
                    .map(|job| (job.name.as_str(), job.running_for.as_secs_f64())),
            )
        }
        Ok(DebugAction::ForceHealthy) => force(state, Some(PingStatus::Healthy)),
        Ok(DebugAction::ForceBusy) => force(state, Some(PingStatus::HealthyBusy)),
        Ok(DebugAction::ClearForcedStatus) => force(state, None),
    };
    Some(
        (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
    )
}

fn force(state: &AppState, status: Option<PingStatus>) -> String {
    tracing::info!(?status, "debug action: forced ping status");
    state.force_status(status);
    debug::forced_status_body(status)
}
