//! The one log line of a request that got past the rules, written when the request's life ends,
//! however it ends (the guest abandoning it mid-flight included), and counted with it.

use std::sync::Arc;
use std::time::Instant;

use super::Outbound;
use super::stats::Outcome;

/// What a log line says of a request: never its path, query or headers, which may carry
/// secrets or personal data.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The method.
    pub method: String,
    /// `http` or `https`.
    pub scheme: String,
    /// The host, lowercase.
    pub host: String,
    /// The port, the scheme's own if the URL named none.
    pub port: u16,
    /// The invocation that made it.
    pub request_id: String,
}

/// How a request ended.
#[derive(Debug)]
pub(crate) enum Ending {
    /// Nothing recorded an ending: the guest dropped the request, or its instance is gone.
    Abandoned,
    /// The response was relayed whole.
    Completed,
    /// The guest stopped reading the body before its end.
    DroppedByGuest,
    /// The host refused it after resolving its name, for this reason.
    Denied(String),
    /// It failed, for this reason.
    Failed(String),
}

/// A request's log line, written when this is dropped.
#[derive(Debug)]
pub(crate) struct RequestLog {
    outbound: Arc<Outbound>,
    pub target: Target,
    started: Instant,
    /// The response's status, once its head arrived.
    pub status: Option<u16>,
    /// Body bytes relayed to the guest.
    pub bytes: u64,
    /// How it ended; `Abandoned` until something says otherwise.
    pub ending: Ending,
}

impl RequestLog {
    /// The log of a request starting now.
    pub(crate) fn start(outbound: Arc<Outbound>, target: Target) -> Self {
        Self {
            outbound,
            target,
            started: Instant::now(),
            status: None,
            bytes: 0,
            ending: Ending::Abandoned,
        }
    }
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        let stats = &self.outbound.stats;
        stats.count_bytes(self.bytes);
        let target = &self.target;
        let duration_ms = self.started.elapsed().as_secs_f64() * 1e3;
        let status = self
            .status
            .map_or_else(|| "-".to_owned(), |s| s.to_string());
        let (ok, detail) = match &self.ending {
            Ending::Completed => (true, None),
            Ending::DroppedByGuest => (true, Some("the guest stopped reading the body")),
            Ending::Abandoned => (false, Some("the guest or its instance dropped the request")),
            Ending::Denied(why) | Ending::Failed(why) => (false, Some(why.as_str())),
        };
        let outcome = match &self.ending {
            Ending::Denied(_) => Outcome::Denied,
            _ if ok => Outcome::Completed,
            _ => Outcome::Failed,
        };
        // A refused host is the guest's choice, not the operator's: it gets no row (see stats).
        let host = (outcome != Outcome::Denied).then_some(target.host.as_str());
        stats.count(host, outcome);
        if ok {
            tracing::info!(
                request_id = %target.request_id,
                method = %target.method,
                scheme = %target.scheme,
                host = %target.host,
                port = target.port,
                status = %status,
                bytes = self.bytes,
                duration_ms,
                note = detail.unwrap_or(""),
                "outbound request"
            );
        } else {
            tracing::warn!(
                request_id = %target.request_id,
                method = %target.method,
                scheme = %target.scheme,
                host = %target.host,
                port = target.port,
                status = %status,
                bytes = self.bytes,
                duration_ms,
                error = detail.unwrap_or(""),
                "outbound request failed"
            );
        }
    }
}
