//! The open WebSocket connections, so that shutdown can close each one (1001) and wait until it
//! has: hyper drains HTTP requests, but an upgraded connection is no longer hyper's to drain.

use tokio::sync::watch;

/// Every open WebSocket connection, and whether the server is closing them. Each connection
/// holds a receiver, so the channel counts them; its value says the server is closing.
#[derive(Debug)]
pub(crate) struct WebSockets {
    closing: watch::Sender<bool>,
}

impl Default for WebSockets {
    fn default() -> Self {
        Self {
            closing: watch::Sender::new(false),
        }
    }
}

impl WebSockets {
    /// Counts a connection as open until the returned [`OpenWebSocket`] is dropped.
    pub(crate) fn open(&self) -> OpenWebSocket {
        OpenWebSocket {
            closing: self.closing.subscribe(),
        }
    }

    /// Connections open now.
    pub(crate) fn open_count(&self) -> usize {
        self.closing.receiver_count()
    }

    /// Tells every open connection, and any opened from now on, to close, and waits until
    /// none is open.
    pub(crate) async fn close_all(&self) {
        self.closing.send_replace(true);
        self.closing.closed().await;
    }
}

/// One open connection's view of the server: it learns here when to close.
#[derive(Debug)]
pub(crate) struct OpenWebSocket {
    closing: watch::Receiver<bool>,
}

impl OpenWebSocket {
    /// Completes once the server is closing its connections (at once if it already is).
    pub(crate) async fn closing(&mut self) {
        // An error means the server's state is gone, which closes the connection as well.
        let _ = self.closing.wait_for(|closing| *closing).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Far longer than any of these waits takes, however busy the machine.
    const LIMIT: Duration = Duration::from_secs(30);

    /// Closing tells every open connection, and one opened afterwards, and waits until the
    /// last one has gone.
    #[tokio::test]
    async fn close_all_tells_every_connection_and_waits() -> Result<(), Box<dyn std::error::Error>>
    {
        let websockets = WebSockets::default();
        let mut told = websockets.open();
        let held = websockets.open();
        let closing = websockets.close_all();
        tokio::pin!(closing);
        let waited = tokio::time::timeout(Duration::from_millis(100), &mut closing).await;
        assert!(waited.is_err(), "two connections are still open");
        tokio::time::timeout(LIMIT, told.closing()).await?;
        drop(told);
        let waited = tokio::time::timeout(Duration::from_millis(100), &mut closing).await;
        assert!(waited.is_err(), "one connection is still open");
        drop(held);
        tokio::time::timeout(LIMIT, &mut closing).await?;
        let mut late = websockets.open();
        tokio::time::timeout(LIMIT, late.closing()).await?;
        Ok(())
    }
}
