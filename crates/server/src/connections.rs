//! [`Connections`]: the accept loop, the limit on connections served at once, and the drain at
//! shutdown. Each accepted connection is served on a task of its own (`connection`).

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::connection::{self, Shared};
use crate::state::AppState;
use crate::watchdog::Timeouts;

/// How long the accept loop waits after an error that is not one connection's (out of file
/// descriptors, most likely): connections that end meanwhile give some back, and the loop does
/// not spin on the error. hyper's old server waited as long.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);
/// How often an HTTP/2 connection is pinged. A peer that vanished without closing (a dropped
/// NAT mapping, a killed VM) is found within this and hyper's 20 s wait for the answer, and its
/// streams cancelled, rather than when TCP gives up on it a quarter of an hour later. HTTP/1
/// has no ping: its idle connections end at the keep-alive timeout.
const H2_PING_INTERVAL: Duration = Duration::from_secs(30);

/// The server's connections: accepted up to the limit, each watched and served on its own task,
/// and drained together at shutdown.
#[derive(Debug)]
pub(crate) struct Connections {
    shared: Arc<Shared>,
    // Each connection task holds a receiver, so the channel counts them; true means drain.
    draining: watch::Sender<bool>,
}

impl Connections {
    /// Connections served by `router` under the limits in `state`'s config, counted in the
    /// state's connection counts.
    pub(crate) fn new(router: Router, state: &AppState) -> Self {
        let config = state.config();
        let mut http = auto::Builder::new(TokioExecutor::new());
        // hyper's header timeout is replaced by the connection's watchdog (see there why); it
        // is on by default once a timer is set, so it is turned off by name.
        http.http1()
            .timer(TokioTimer::new())
            .header_read_timeout(None);
        http.http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(H2_PING_INTERVAL)
            // WebSockets over HTTP/2 (RFC 8441), as axum's own server allows them.
            .enable_connect_protocol();
        let shared = Shared {
            router,
            http,
            timeouts: Timeouts {
                header: config.header_timeout,
                keep_alive: config.keep_alive_timeout,
            },
            counts: state.connection_counts().clone(),
        };
        Self {
            shared: Arc::new(shared),
            draining: watch::Sender::new(false),
        }
    }

    /// Accepts connections on `listener` and serves each on a task of its own, until this
    /// future is dropped (which closes the listener). Past the limit a connection is closed as
    /// soon as it is accepted, unread: the client sees the connection end (or reset) before
    /// any reply, and can try another replica at once, instead of waiting in the kernel's
    /// queue with the server's state unknown.
    pub(crate) async fn accept(&self, listener: TcpListener) -> Infallible {
        let mut burst = Burst::default();
        let counts = &self.shared.counts;
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(error) if is_connection_error(&error) => continue,
                Err(error) => {
                    tracing::error!(%error, "cannot accept connections; trying again shortly");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            let Ok(slot) = counts.slots.clone().try_acquire_owned() else {
                counts.refused.fetch_add(1, Ordering::Relaxed);
                if burst.refuse() {
                    tracing::warn!(
                        max_connections = counts.max,
                        "connection limit reached: new connections are closed until some end"
                    );
                }
                drop(stream);
                continue;
            };
            if let Some((refused, lasted)) = burst.clear() {
                tracing::info!(
                    refused,
                    lasted_ms = lasted.as_millis() as u64,
                    "connection limit cleared: accepting connections again"
                );
            }
            counts.accepted.fetch_add(1, Ordering::Relaxed);
            // Each event is its own write: Nagle's algorithm would hold small SSE frames back.
            let _ = stream.set_nodelay(true);
            tokio::spawn(connection::serve(
                stream,
                slot,
                self.shared.clone(),
                self.draining.subscribe(),
            ));
        }
    }

    /// Tells every connection to finish its requests in progress and close (closing at once
    /// those with none), and waits until all have. Upgraded connections are no longer here.
    pub(crate) async fn drain(&self) {
        self.draining.send_replace(true);
        self.draining.closed().await;
    }

    /// Logs what became of the connections.
    pub(crate) fn log_counts(&self) {
        let counts = &self.shared.counts;
        tracing::info!(
            accepted = counts.accepted.load(Ordering::Relaxed),
            refused_at_limit = counts.refused.load(Ordering::Relaxed),
            closed_slow_head = counts.slow_heads.load(Ordering::Relaxed),
            closed_idle = counts.idle.load(Ordering::Relaxed),
            "connections"
        );
    }
}

/// Errors of one connection that ended before it was accepted; the next may be fine.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Connections refused since the limit was reached: a flood is logged once as it starts and
/// once as it ends, not once a connection.
#[derive(Debug, Default)]
struct Burst {
    started: Option<Instant>,
    refused: u64,
}

impl Burst {
    /// Counts a refusal; true if it starts a burst.
    fn refuse(&mut self) -> bool {
        self.refused += 1;
        let starts = self.started.is_none();
        self.started.get_or_insert_with(Instant::now);
        starts
    }

    /// A connection was accepted: the burst, if there was one, is over. How many it refused
    /// and how long it lasted.
    fn clear(&mut self) -> Option<(u64, Duration)> {
        let started = self.started.take()?;
        Some((std::mem::take(&mut self.refused), started.elapsed()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A burst is reported as it starts and once as it ends, with its count; the next starts
    /// afresh.
    #[test]
    fn a_burst_is_reported_once() {
        let mut burst = Burst::default();
        assert_eq!(burst.clear(), None);
        assert!(burst.refuse());
        assert!(!burst.refuse());
        assert!(!burst.refuse());
        assert_eq!(burst.clear().map(|(refused, _)| refused), Some(3));
        assert_eq!(burst.clear(), None);
        assert!(burst.refuse());
        assert_eq!(burst.clear().map(|(refused, _)| refused), Some(1));
    }
}
