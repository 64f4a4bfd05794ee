//! [`serve`]: accept connections until shutdown, then drain within a grace period.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

use crate::connections::Connections;
use crate::state::AppState;

/// Serves `app` on `listener` (HTTP/1.1 and h2c) until `shutdown` completes; then stops
/// accepting, lets in-flight invocations finish within the configured grace, cancels what is
/// left (each guest gets the host's cancel grace to return) and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let connections = Connections::new(app, state.config());
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
        state.host().cancel_all();
        // Cancelled guests get the cancel grace to return; their replies then end.
        let cancel_grace = state.host().config().cancel_grace + Duration::from_secs(1);
        let _ = tokio::time::timeout(cancel_grace, connections.drain()).await;
    }
    connections.log_counts();
}
