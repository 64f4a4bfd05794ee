//! The server's limits.

use std::time::Duration;

/// The largest request body: AgentCore's payload limit.
pub const DEFAULT_MAX_PAYLOAD: usize = 100 * 1000 * 1000;
/// Time to the reply or the first event: AgentCore's request timeout, defined beside the
/// host's `Invocation`, whose builder uses it too.
pub use wasm_agent_host::config::DEFAULT_TIMEOUT;
/// Time for a whole streamed reply: AgentCore's streaming limit.
pub const DEFAULT_STREAM_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// Time in-flight invocations get to finish after SIGTERM: AgentCore gives a stopping session
/// 15 s, so this leaves room to cancel the rest and exit.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// What `Retry-After` tells a refused client, in seconds.
pub const RETRY_AFTER_SECS: u32 = 1;
/// Time a client has to send a request's head: from accepting the connection for its first
/// request, from the first byte for later ones. A client on any real network sends a head in
/// milliseconds; one that takes seconds is holding the connection, not using it (slow-loris).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a request body may stall without a byte, and the head start it gets over
/// [`DEFAULT_BODY_MIN_RATE`]. As long as the header timeout: a client that has sent its head
/// sends its body the same way.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// The slowest average rate, in bytes a second, a request body may arrive at once its head
/// start is spent. 512 kbit/s is slower than any link a service calls from, so no real client
/// comes near it, while a client trickling bytes to hold connections must send this much on
/// each: filling the default connection limit would take some 650 MB/s.
pub const DEFAULT_BODY_MIN_RATE: u64 = 64 << 10;
/// Time a connection may stay open with no request after its last reply (HTTP/2: with no
/// stream open). A proxy in front must give up on an idle connection before the server does,
/// or it may send a request just as the server closes it (a 502 at the proxy): AWS's load
/// balancers keep one 60 s, so this is longer, as nginx's 75 s is. Clients that went quiet
/// still give their connections back.
pub const DEFAULT_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(75);
/// Connections served at once; past it, new ones are closed as soon as they are accepted.
/// Far above what one replica's invocations need (256 running and 256 queued, each on a
/// connection, plus health checks), so only a flood or a leak reaches it; each connection
/// costs a file descriptor and some kilobytes, so 10,000 fit well within the open files limit
/// the server raises itself to and within its memory. A fixed number rather than one derived
/// from that limit, so a replica behaves the same on every machine (the binary warns when the
/// limit is lower). While it is reached, a health check on a new connection is refused like
/// any other: which is the truth, this replica takes no new clients; a checker that keeps its
/// connection open is answered throughout.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// The HTTP side's configuration, validated by the binary.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The largest request body, in bytes.
    pub max_payload: usize,
    /// Time to the reply or the first event.
    pub timeout: Duration,
    /// Time for a whole streamed reply.
    pub stream_timeout: Duration,
    /// Time in-flight work gets after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Whether the SDK's debug actions (`_agent_core_app_action`) are answered.
    pub debug: bool,
    /// Time a client has to send a request's head.
    pub header_timeout: Duration,
    /// Time a request body may stall, and its head start over `body_min_rate`.
    pub body_timeout: Duration,
    /// The slowest average rate a request body may arrive at, in bytes a second.
    pub body_min_rate: u64,
    /// Time a connection may stay open with no request.
    pub keep_alive_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// Where `/metrics` is served: `None` on the main port, or the address of a listener of its
    /// own (which the binary binds and serves with [`serve_metrics`](crate::serve_metrics)),
    /// in which case the main port answers it 404.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_payload: DEFAULT_MAX_PAYLOAD,
            timeout: DEFAULT_TIMEOUT,
            stream_timeout: DEFAULT_STREAM_TIMEOUT,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            debug: false,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            body_min_rate: DEFAULT_BODY_MIN_RATE,
            keep_alive_timeout: DEFAULT_KEEP_ALIVE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            metrics_addr: None,
        }
    }
}
