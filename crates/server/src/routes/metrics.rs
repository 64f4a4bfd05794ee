//! `GET /metrics`: the metrics in Prometheus's text format, for a scraper.

use std::sync::atomic::Ordering::Relaxed;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::metrics::{self, Connections, Levels};
use crate::state::AppState;

/// The metrics as they stand now, read from atomics and short locks no guest holds: it answers
/// while every worker is busy.
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(metrics::CONTENT_TYPE),
        )],
        metrics::encode(state.metrics(), levels(&state)),
    )
        .into_response()
}

/// What the server and the host hold now; nothing here waits on a guest.
fn levels(state: &AppState) -> Levels {
    let host = state.host();
    let counts = state.connection_counts();
    Levels {
        stats: state.stats(),
        admission: host.admission_refusals(),
        connections: Connections {
            open: counts.open(),
            accepted: counts.accepted.load(Relaxed),
            refused: counts.refused.load(Relaxed),
            slow_heads: counts.slow_heads.load(Relaxed),
            idle: counts.idle.load(Relaxed),
        },
        evictions: host.session_evictions(),
        background: host.tasks().background_runs(),
        instance_slots: host.instance_slots(),
        memory_budget: host.config().max_total_memory,
        outbound: host.outbound_destinations(),
        outbound_bytes: host.outbound_stats().bytes,
        compile_cache: host.compile_cache(),
    }
}
