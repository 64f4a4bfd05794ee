//! What the operator grants guests on the network, and the limits on it, with their defaults.

use std::time::Duration;

use super::auth::AuthRule;
use super::aws::AwsCredentialSource;
use super::rules::Rule;

/// Time to open a connection (TCP, and TLS for https): a model endpoint that takes longer is
/// down, and a guest waiting on it holds an instance.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time from sending a request to the first byte of its response: long, because a model may
/// think for minutes before its first token; the invocation's deadline bounds it anyway.
pub const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Time between two pieces of a response body: a stream silent this long has stalled.
pub const DEFAULT_BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(2 * 60);
/// Bytes of one response body a guest may receive: far above any model reply or tool result,
/// far below what would exhaust the host relaying it.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 << 20;
/// Requests one invocation may make: an agent loop calls a model and its tools a few dozen
/// times; a guest looping on requests is stopped long before it floods anything.
pub const DEFAULT_MAX_REQUESTS: u32 = 1000;
/// Requests one instance may have in flight at once: parallel tool calls, not a flood.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 32;
/// Threads that run outbound connections: 0, one per four cores (at least one), since TLS and
/// relaying bodies cost little beside the guests that wait on them.
pub const DEFAULT_THREADS: usize = 0;
/// Bytes of a request body the host buffers to sign it (SigV4 signs a hash of the body).
pub const DEFAULT_MAX_SIGNED_BODY: usize = 32 << 20;

/// Outbound HTTP as the operator configured it: nothing is reachable without a rule.
#[derive(Debug, Clone)]
pub struct OutboundConfig {
    /// Destinations guests may reach.
    pub allow: Vec<Rule>,
    /// Credentials the host attaches to requests, the first matching rule's.
    pub auth: Vec<AuthRule>,
    /// Where the host's AWS credentials come from, for `sigv4` rules, in order.
    pub aws: Vec<AwsCredentialSource>,
    /// Time to open a connection.
    pub connect_timeout: Duration,
    /// The longest wait for a response's first byte a guest may ask for.
    pub first_byte_timeout: Duration,
    /// The longest silence between pieces of a response a guest may ask for.
    pub between_bytes_timeout: Duration,
    /// Bytes of one response body.
    pub max_response_bytes: u64,
    /// Requests one invocation may make.
    pub max_requests: u32,
    /// Requests one instance may have in flight.
    pub max_in_flight: u32,
    /// Threads that run outbound connections; 0 means one per four cores (at least one).
    pub threads: usize,
    /// Certificates (DER) trusted as roots besides the Mozilla store: a private CA, or a
    /// proxy's.
    pub extra_roots: Vec<Vec<u8>>,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            auth: Vec::new(),
            aws: Vec::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            first_byte_timeout: DEFAULT_FIRST_BYTE_TIMEOUT,
            between_bytes_timeout: DEFAULT_BETWEEN_BYTES_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_requests: DEFAULT_MAX_REQUESTS,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            threads: DEFAULT_THREADS,
            extra_roots: Vec::new(),
        }
    }
}
