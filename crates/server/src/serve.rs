//! [`serve`]: accept connections until shutdown, then drain within a grace period.

use std::future::{Future, IntoFuture};
use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::state::AppState;

/// Serves `app` on `listener` (HTTP/1.1 and h2c) until `shutdown` completes; then stops
/// accepting, lets in-flight invocations finish within the configured grace, cancels what is
/// left (each guest gets the host's cancel grace to return) and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Each event is its own write: Nagle's algorithm would hold small SSE frames back.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let (signalled, on_signal) = oneshot::channel::<()>();
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = signalled.send(());
        })
        .into_future();
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => return result,
        Ok(()) = on_signal => {}
    }
    let grace = state.config().shutdown_grace;
    tracing::info!(
        grace_ms = grace.as_millis() as u64,
        "shutting down: draining in-flight invocations"
    );
    if let Ok(result) = tokio::time::timeout(grace, &mut server).await {
        return result;
    }
    tracing::warn!("shutdown grace is over: cancelling the invocations still running");
    state.host().cancel_all();
    // Cancelled guests get the cancel grace to return; their replies then end.
    let cancel_grace = state.host().config().cancel_grace + Duration::from_secs(1);
    match tokio::time::timeout(cancel_grace, &mut server).await {
        Ok(result) => result,
        Err(_) => Ok(()),
    }
}
