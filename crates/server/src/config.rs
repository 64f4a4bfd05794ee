//! The server's limits.

use std::time::Duration;

/// The largest request body: AgentCore's payload limit.
pub const DEFAULT_MAX_PAYLOAD: usize = 100 * 1000 * 1000;
/// Time to the reply or the first event: AgentCore's request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Time for a whole streamed reply: AgentCore's streaming limit.
pub const DEFAULT_STREAM_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// Invocations holding an instance at once. A guest that waits holds no thread, so this is
/// sized by instances rather than cores.
pub const DEFAULT_MAX_CONCURRENCY: usize = 256;
/// Invocations waiting for a free instance before new ones are refused with 503.
pub const DEFAULT_MAX_QUEUE: usize = 256;
/// Time in-flight invocations get to finish after SIGTERM: AgentCore gives a stopping session
/// 15 s, so this leaves room to cancel the rest and exit.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Bodies up to this size are checked on the control runtime; larger ones on the worker pool,
/// so a client's 100 MB body costs the control runtime nothing.
pub const INLINE_CHECK_LIMIT: usize = 64 << 10;
/// What `Retry-After` tells a refused client, in seconds.
pub const RETRY_AFTER_SECS: u32 = 1;

/// The HTTP side's configuration, validated by the binary.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The largest request body, in bytes.
    pub max_payload: usize,
    /// Time to the reply or the first event.
    pub timeout: Duration,
    /// Time for a whole streamed reply.
    pub stream_timeout: Duration,
    /// Invocations holding an instance at once.
    pub max_concurrency: usize,
    /// Invocations that may wait for an instance.
    pub max_queue: usize,
    /// Time in-flight work gets after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Whether the SDK's debug actions (`_agent_core_app_action`) are answered.
    pub debug: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_payload: DEFAULT_MAX_PAYLOAD,
            timeout: DEFAULT_TIMEOUT,
            stream_timeout: DEFAULT_STREAM_TIMEOUT,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            max_queue: DEFAULT_MAX_QUEUE,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            debug: false,
        }
    }
}
