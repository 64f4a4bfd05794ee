//! The host's HTTP client for guests: one pool of connections shared by every instance (an agent
//! calls the same model again and again; a TLS handshake per call would cost more than the
//! call's own work), HTTP/2 where the server offers it, rustls with ring, and a connector that
//! opens connections only to addresses the rules allow.
//!
//! Its I/O runs on a runtime of its own, at normal priority: the worker pool's threads are
//! niced and may be saturated by CPU-bound guests, and a model's tokens must not wait behind
//! them. A guest only takes the pieces of a body that have already arrived.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::Uri;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::runtime::{Builder, Runtime};
use wasmtime_wasi_http::WasiBody;

use super::address::may_reach;
use super::rules::{Destination, Rule, default_port};

/// How long an idle pooled connection is kept: long enough to span the pauses of an agent
/// loop, shorter than the idle timeouts of common load balancers (60-350 s) is not needed
/// because a connection they close is simply opened again.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle connections kept per destination: what a burst of parallel tool calls opens.
const POOL_IDLE_PER_HOST: usize = 64;

/// The pooled client guests' requests go through.
pub(super) type PooledClient = Client<Bounded<HttpsConnector<GuardedConnector>>, WasiBody>;

/// A boxed error, as connectors hand them up.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The outbound runtime and the pooled client whose connections live on it.
#[derive(Debug)]
pub(super) struct OutboundClient {
    runtime: Option<Runtime>,
    pub client: PooledClient,
}

impl OutboundClient {
    /// Starts `threads` threads and a client that connects only where `rules` allow.
    pub(super) fn new(
        rules: Arc<[Rule]>,
        connect_timeout: Duration,
        threads: usize,
        extra_roots: &[Vec<u8>],
    ) -> std::io::Result<Self> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("wasm-agent-outbound")
            .enable_all()
            .build()?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for der in extra_roots {
            roots
                .add(der.clone().into())
                .map_err(std::io::Error::other)?;
        }
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(std::io::Error::other)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(GuardedConnector {
                rules,
                connect_timeout,
            });
        let connector = Bounded {
            inner: connector,
            timeout: connect_timeout,
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(POOL_IDLE_PER_HOST)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        Ok(Self {
            runtime: Some(runtime),
            client,
        })
    }

    /// Runs `future` on the outbound runtime; dropping the handle aborts it.
    pub(super) fn spawn<F>(
        &self,
        future: F,
    ) -> Option<wasmtime_wasi::runtime::AbortOnDropJoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let runtime = self.runtime.as_ref()?;
        Some(runtime.spawn(future).into())
    }
}

impl Drop for OutboundClient {
    fn drop(&mut self) {
        // As for the worker pool: the host is usually dropped from inside a runtime.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Why the connector opened no connection.
#[derive(Debug, thiserror::Error)]
pub(super) enum ConnectError {
    /// Every address the host resolves to is one no rule lets a guest reach.
    #[error("{host} resolves only to addresses no rule names ({addresses})")]
    Denied { host: String, addresses: String },
    /// The name did not resolve.
    #[error("cannot resolve {host}: {source}")]
    Dns {
        host: String,
        source: std::io::Error,
    },
    /// Resolving the name took longer than the connect timeout.
    #[error("resolving {0} timed out")]
    DnsTimeout(String),
    /// Connecting (TCP and TLS) took longer than the connect timeout.
    #[error("connecting to {0} timed out")]
    Timeout(String),
    /// Every allowed address refused or failed.
    #[error("cannot connect to {host}: {source}")]
    Io {
        host: String,
        source: std::io::Error,
    },
    /// The URI has no host.
    #[error("the request has no host")]
    NoHost,
}

/// Resolves the request's host and connects to an address the rules allow, checking the
/// address the connection is actually opened to, so that DNS cannot point a permitted name at
/// the metadata service or a private network.
#[derive(Debug, Clone)]
pub(super) struct GuardedConnector {
    rules: Arc<[Rule]>,
    connect_timeout: Duration,
}

impl tower::Service<Uri> for GuardedConnector {
    type Response = TokioIo<TcpStream>;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connector = self.clone();
        Box::pin(async move { connector.connect(uri).await })
    }
}

impl GuardedConnector {
    async fn connect(&self, uri: Uri) -> Result<TokioIo<TcpStream>, ConnectError> {
        let scheme = uri.scheme_str().unwrap_or("http");
        let host = uri.host().ok_or(ConnectError::NoHost)?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().or(default_port(scheme)).unwrap_or(80);
        let to = Destination { scheme, host, port };
        // The whole connection is bounded by `Bounded`; the lookup is timed here too so that a
        // slow resolver is told apart from a slow server.
        let found: Vec<SocketAddr> =
            tokio::time::timeout(self.connect_timeout, tokio::net::lookup_host((host, port)))
                .await
                .map_err(|_| ConnectError::DnsTimeout(host.to_owned()))?
                .map_err(|source| ConnectError::Dns {
                    host: host.to_owned(),
                    source,
                })?
                .collect();
        let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) = found
            .into_iter()
            .partition(|address| may_reach(&self.rules, &to, address.ip()));
        if allowed.is_empty() {
            let addresses = refused
                .iter()
                .map(|a| a.ip().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ConnectError::Denied {
                host: host.to_owned(),
                addresses,
            });
        }
        let mut last = None;
        for address in allowed {
            match TcpStream::connect(address).await {
                Err(error) => last = Some(error),
                Ok(stream) => {
                    // Tokens are small writes: send each at once.
                    let _ = stream.set_nodelay(true);
                    return Ok(TokioIo::new(stream));
                }
            }
        }
        Err(ConnectError::Io {
            host: format!("{host}:{port}"),
            source: last.unwrap_or_else(|| std::io::Error::other("no address")),
        })
    }
}

/// A connector whose whole connection (resolving, TCP and the TLS handshake) must be made
/// within the connect timeout: a server that accepts and then stalls the handshake would
/// otherwise hold the request until its first-byte timeout.
#[derive(Debug, Clone)]
pub(super) struct Bounded<S> {
    inner: S,
    timeout: Duration,
}

impl<S> tower::Service<Uri> for Bounded<S>
where
    S: tower::Service<Uri> + Send,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let authority = uri.authority().map(ToString::to_string).unwrap_or_default();
        let connecting = self.inner.call(uri);
        let timeout = self.timeout;
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(connected) => connected.map_err(Into::into),
                Err(_) => Err(ConnectError::Timeout(authority).into()),
            }
        })
    }
}

/// Waits until `at`, a moving target: an invocation's deadline changes when it starts
/// streaming.
pub(super) async fn until(at: impl Fn() -> Instant) {
    loop {
        let now = at();
        tokio::time::sleep_until(now.into()).await;
        if Instant::now() >= at() {
            return;
        }
    }
}
