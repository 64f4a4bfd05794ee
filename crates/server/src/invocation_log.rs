//! [`InvocationLog`]: the one log line of an invocation, written when the request's life ends,
//! however it ends: its reply sent, its stream ended, its stream dropped because the client left,
//! a refusal or a failure.

use std::time::Instant;

use axum::http::StatusCode;
use tracing::field::display;

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

/// An invocation's log line, written when this is dropped. Until something records an ending,
/// the invocation is taken to have lost its client: the one way its request can end without
/// the server saying so is hyper dropping the handler or the stream when the client leaves.
#[derive(Debug)]
pub(crate) struct InvocationLog {
    request_id: String,
    session_id: Option<String>,
    started: Instant,
    status: Option<StatusCode>,
    events: u64,
    ended: Option<Ended>,
}

#[derive(Debug)]
struct Ended {
    outcome: Outcome,
    kind: Option<&'static str>,
    error: Option<String>,
}

impl InvocationLog {
    /// The log of an invocation accepted now.
    pub(crate) fn start(request_id: &str, session_id: Option<&str>) -> Self {
        Self {
            request_id: request_id.to_owned(),
            session_id: session_id.map(str::to_owned),
            started: Instant::now(),
            status: None,
            events: 0,
            ended: None,
        }
    }

    /// The status of the reply's head, once it is decided.
    pub(crate) fn set_status(&mut self, status: StatusCode) {
        self.status = Some(status);
    }

    /// One more event the guest emitted was handed to the client.
    pub(crate) fn count_event(&mut self) {
        self.events += 1;
    }

    /// The invocation completed.
    pub(crate) fn completed(&mut self) {
        self.end(Outcome::Completed, None, None);
    }

    /// The invocation ended as `outcome`, of this `kind`, for this reason.
    pub(crate) fn end(
        &mut self,
        outcome: Outcome,
        kind: Option<&'static str>,
        error: Option<String>,
    ) {
        self.ended = Some(Ended {
            outcome,
            kind,
            error,
        });
    }
}

/// A duration in milliseconds with three decimals, formatted only if a log line is written.
struct Millis(std::time::Duration);

impl std::fmt::Display for Millis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.3}", self.0.as_secs_f64() * 1e3)
    }
}

impl Drop for InvocationLog {
    fn drop(&mut self) {
        let ended = self.ended.take().unwrap_or(Ended {
            outcome: Outcome::ClientGone,
            kind: None,
            error: None,
        });
        let outcome = display(ended.outcome.as_str());
        let kind = ended.kind.map(display);
        let error = ended.error.as_deref().map(display);
        let status = self.status.map(|status| status.as_u16());
        let session_id = self.session_id.as_deref().map(display);
        // Microseconds are enough, and spare the reader a float's last digits. Formatted only
        // when the line is written: at `warn` a completed invocation writes none.
        let duration_ms = display(Millis(self.started.elapsed()));
        // tracing fixes a line's level where it is written, so the line is written once per
        // level from one template.
        macro_rules! ended {
            ($level:expr) => {
                tracing::event!(
                    $level,
                    outcome,
                    kind,
                    status,
                    request_id = %self.request_id,
                    session_id,
                    duration_ms,
                    events = self.events,
                    error,
                    "invocation ended"
                )
            };
        }
        match ended.outcome {
            Outcome::Completed | Outcome::ClientGone | Outcome::Refused => {
                ended!(tracing::Level::INFO)
            }
            Outcome::Failed | Outcome::TimedOut | Outcome::Cancelled => {
                ended!(tracing::Level::WARN)
            }
        }
    }
}
