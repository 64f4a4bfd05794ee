//! One client connection's life: served by hyper (HTTP/1.1 or h2c, with upgrades for `/ws`),
//! closed by its [`Watchdog`] when the client does not use it, and drained at shutdown.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper::{Request, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, watch};
use tower::ServiceExt;

use crate::counts::Counts;
use crate::watchdog::{Expiry, InFlight, Timeouts, Watchdog};

/// How long an idle connection's close may take: HTTP/2 sends GOAWAY and waits for the
/// client's answer to a ping, so a client that sent a request just then knows it was not
/// served. An HTTP/1 connection closes at once.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// What a connection task needs from the server; shared by all of them.
#[derive(Debug)]
pub(crate) struct Shared {
    pub router: Router,
    pub http: auto::Builder<TokioExecutor>,
    pub timeouts: Timeouts,
    pub counts: Arc<Counts>,
}

/// Serves `stream` until the client closes it, its watchdog expires, or the server drains
/// (`draining` turns true). `slot` is the connection's place under the limit: it goes with the
/// socket, so an upgraded WebSocket connection keeps it until it closes.
pub(crate) async fn serve(
    stream: TcpStream,
    slot: OwnedSemaphorePermit,
    shared: Arc<Shared>,
    mut draining: watch::Receiver<bool>,
) {
    let watchdog = Arc::new(Watchdog::new(shared.timeouts));
    let io = TokioIo::new(ClientIo {
        stream,
        watchdog: watchdog.clone(),
        _slot: slot,
    });
    let requests = {
        let watchdog = watchdog.clone();
        let router = shared.router.clone();
        hyper::service::service_fn(move |request: Request<Incoming>| {
            let in_flight = watchdog.request(request.version() == Version::HTTP_2);
            let router = router.clone();
            async move {
                let response = router.oneshot(request).await?;
                Ok::<_, Infallible>(response.map(|body| {
                    Body::new(Tracked {
                        body,
                        _in_flight: in_flight,
                    })
                }))
            }
        })
    };
    let connection = shared.http.serve_connection_with_upgrades(io, requests);
    tokio::pin!(connection);
    let expired = watchdog.expired();
    tokio::pin!(expired);
    let mut drained = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended");
                }
                return;
            }
            expiry = &mut expired => {
                shared.counts.expired(expiry);
                match expiry {
                    Expiry::SlowHead => {
                        tracing::debug!("closing a connection: its request head took too long");
                    }
                    Expiry::Idle => {
                        tracing::debug!("closing an idle connection");
                        connection.as_mut().graceful_shutdown();
                        let _ = tokio::time::timeout(CLOSE_WAIT, connection).await;
                    }
                }
                return;
            }
            true = async { draining.wait_for(|draining| *draining).await.is_ok() }, if !drained => {
                drained = true;
                // In-flight requests finish; HTTP/1 then closes, HTTP/2 says GOAWAY.
                connection.as_mut().graceful_shutdown();
                // hyper closes an HTTP/1 connection between requests, but not one still
                // waiting for its first: nothing is lost by closing either now.
                if watchdog.is_quiet_http1() {
                    return;
                }
            }
        }
    }
}

/// The client's socket, telling the watchdog when bytes arrive, and holding the connection's
/// slot under the limit for as long as the socket lives.
#[derive(Debug)]
struct ClientIo {
    stream: TcpStream,
    watchdog: Arc<Watchdog>,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for ClientIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.watchdog.on_read();
        }
        polled
    }
}

impl AsyncWrite for ClientIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// A response body that keeps its request in progress until hyper has sent it (or dropped it
/// because the client left): a streamed reply is not an idle connection.
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    // hyper writes `Content-Length` from an exact hint: a JSON reply must not become chunked.
    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
