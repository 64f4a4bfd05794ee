//! [`Ended`]: an invocation as it ended, the one record its log line, its metrics and its span
//! are written from, and its [`Outcome`]. A leaf, so that each of those can read it without
//! reaching the others.

use std::time::Duration;

use axum::http::StatusCode;
use wasm_agent_host::Usage;

/// How an invocation ended, as its log line says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The handler's reply, or its whole stream, was handed to the client.
    Completed,
    /// The handler failed (its own failure, a trap, a limit), or the host did.
    Failed,
    /// The client went away before the end: whatever the handler did next reached no one.
    ClientGone,
    /// The handler ran past its deadline.
    TimedOut,
    /// The server refused the request before the handler ran: busy, or a body it cannot take.
    Refused,
    /// The server gave up on it: it was still running when shutdown's grace ran out.
    Cancelled,
}

impl Outcome {
    /// The name in the log line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::ClientGone => "client_gone",
            Self::TimedOut => "timed_out",
            Self::Refused => "refused",
            Self::Cancelled => "cancelled",
        }
    }
}

/// An invocation as it ended: what its log line, its metrics and its span record.
#[derive(Debug)]
pub(crate) struct Ended<'a> {
    pub(crate) request_id: &'a str,
    pub(crate) session_id: Option<&'a str>,
    pub(crate) outcome: Outcome,
    /// The kind of failure or refusal ([`ApiError::kind`](crate::ApiError::kind)).
    pub(crate) kind: Option<&'static str>,
    pub(crate) error: Option<&'a str>,
    /// The reply's status, once its head was decided.
    pub(crate) status: Option<StatusCode>,
    pub(crate) duration: Duration,
    /// Time from the request to its first event, for a streamed reply.
    pub(crate) first_event: Option<Duration>,
    /// Events handed to the client.
    pub(crate) events: u64,
    /// What the guest call used, if it ran and has ended.
    pub(crate) usage: Option<Usage>,
}
