//! [`serve`]: accept connections until shutdown, then drain within a grace period.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use wasm_agent_host::config::STOP_GRACE;

use crate::connections::Connections;
use crate::state::AppState;

/// How long the replies of stopped invocations get to be written once the shutdown grace is
/// over: the host's stop grace to cut their guests off, and a little to write the answers,
/// within the second after the grace by which the process must be gone.
const STOP_DRAIN: Duration = STOP_GRACE.saturating_add(Duration::from_millis(400));

/// Serves `app` on `listener` (HTTP/1.1 and h2c) until `shutdown` completes; then stops
/// accepting, lets in-flight invocations finish within the configured grace, cancels what is
/// left (each guest gets the host's stop grace to return, and its caller a 503 or a final
/// error event) and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let connections = Connections::new(app, &state);
    tokio::select! {
        never = connections.accept(listener) => match never {},
        () = shutdown => {}
    }
    // The accept loop, and with it the listener, is gone: new connections are refused.
    let grace = state.config().shutdown_grace;
    tracing::info!(
        grace_ms = grace.as_millis() as u64,
        "shutting down: draining in-flight invocations"
    );
    // hyper drains HTTP requests but not upgraded connections: WebSockets are told to close
    // (1001) and waited for alongside, so none is cut off without a close frame.
    let (drained, _) = tokio::join!(
        tokio::time::timeout(grace, connections.drain()),
        tokio::time::timeout(grace, state.websockets().close_all()),
    );
    if drained.is_err() {
        tracing::warn!("shutdown grace is over: cancelling the invocations still running");
        state.cancel_all();
        // Stopped guests get the host's stop grace to return; their callers are then answered.
        let _ = tokio::time::timeout(STOP_DRAIN, connections.drain()).await;
    }
    connections.log_counts();
}

/// Serves `/metrics` alone on `listener` (`--metrics-addr`) for as long as the process runs: a
/// scraper is answered during shutdown too, so the last counts can be read. Its connections
/// share the main port's limit, header and idle timeouts: a listener bound to every interface
/// must not be a way around them.
pub async fn serve_metrics(listener: TcpListener, state: AppState) {
    let connections = Connections::new(crate::routes::metrics_router(state.clone()), &state);
    match connections.accept(listener).await {}
}
