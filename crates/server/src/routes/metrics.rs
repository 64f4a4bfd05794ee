//! `GET /metrics`: the metrics in Prometheus's text format, for a scraper.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// The metrics as they stand now, read from atomics and short locks no guest holds: it answers
/// while every worker is busy.
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
        )],
        crate::metrics::render(&state),
    )
        .into_response()
}
