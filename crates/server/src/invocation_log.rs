//! [`InvocationLog`]: the one log line of an invocation, written when the request's life ends,
//! however it ends: its reply sent, its stream ended, its stream dropped because the client left,
//! a refusal or a failure. The same record ([`Ended`]) feeds the invocation's metrics and ends its
//! span, so the three never disagree.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use tracing::field::display;
use wasm_agent_host::UsageReport;

use crate::ended::{Ended, Outcome};
use crate::state::AppState;
use crate::trace::InvocationSpan;

/// An invocation's log line, written when this is dropped, and with it the invocation's
/// metrics and the end of its span. Until something records an ending, the invocation is taken
/// to have lost its client: the one way its request can end without the server saying so is
/// hyper dropping the handler or the stream when the client leaves.
#[derive(Debug)]
pub(crate) struct InvocationLog {
    state: AppState,
    request_id: String,
    session_id: Option<String>,
    started: Instant,
    first_event: Option<Duration>,
    status: Option<StatusCode>,
    events: u64,
    usage: Option<UsageReport>,
    span: Option<InvocationSpan>,
    ending: Option<Ending>,
}

#[derive(Debug)]
struct Ending {
    outcome: Outcome,
    kind: Option<&'static str>,
    error: Option<String>,
}

impl InvocationLog {
    /// The log of an invocation accepted now, with its span if traces are exported.
    pub(crate) fn start(
        state: &AppState,
        request_id: &str,
        session_id: Option<&str>,
        span: Option<InvocationSpan>,
    ) -> Self {
        state.metrics().invocation_started();
        Self {
            state: state.clone(),
            request_id: request_id.to_owned(),
            session_id: session_id.map(str::to_owned),
            started: Instant::now(),
            first_event: None,
            status: None,
            events: 0,
            usage: None,
            span,
            ending: None,
        }
    }

    /// The status of the reply's head, once it is decided.
    pub(crate) fn set_status(&mut self, status: StatusCode) {
        self.status = Some(status);
    }

    /// Where the guest call's usage will be reported.
    pub(crate) fn set_usage(&mut self, usage: UsageReport) {
        self.usage = Some(usage);
    }

    /// One more event the guest emitted was handed to the client.
    pub(crate) fn count_event(&mut self) {
        if self.events == 0 {
            self.first_event = Some(self.started.elapsed());
        }
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
        self.ending = Some(Ending {
            outcome,
            kind,
            error,
        });
    }
}

/// A duration in milliseconds with three decimals, formatted only if a log line is written.
struct Millis(Duration);

impl std::fmt::Display for Millis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.3}", self.0.as_secs_f64() * 1e3)
    }
}

impl Drop for InvocationLog {
    fn drop(&mut self) {
        let ending = self.ending.take().unwrap_or(Ending {
            outcome: Outcome::ClientGone,
            kind: None,
            error: None,
        });
        let ended = Ended {
            request_id: &self.request_id,
            session_id: self.session_id.as_deref(),
            outcome: ending.outcome,
            kind: ending.kind,
            error: ending.error.as_deref(),
            status: self.status,
            duration: self.started.elapsed(),
            first_event: self.first_event,
            events: self.events,
            usage: self.usage.as_ref().and_then(UsageReport::get),
        };
        write_line(&ended);
        self.state.metrics().invocation_ended(&ended);
        if let Some(span) = self.span.take() {
            span.end(&ended);
        }
    }
}

/// Writes the invocation's one log line: INFO when it completed or the client is the cause,
/// WARN when the handler or the server failed it.
fn write_line(ended: &Ended<'_>) {
    let outcome = display(ended.outcome.as_str());
    let kind = ended.kind.map(display);
    let error = ended.error.map(display);
    let status = ended.status.map(|status| status.as_u16());
    let session_id = ended.session_id.map(display);
    // Microseconds are enough, and spare the reader a float's last digits. Formatted only
    // when the line is written: at `warn` a completed invocation writes none.
    let duration_ms = display(Millis(ended.duration));
    let first_event_ms = ended.first_event.map(|d| display(Millis(d)));
    let usage = ended.usage.unwrap_or_default();
    let ran = ended.usage.is_some();
    let fuel_used = ended.usage.and_then(|usage| usage.fuel_used);
    let peak_memory_bytes = ran.then_some(usage.peak_memory);
    let outbound_requests = ran.then_some(usage.outbound_requests);
    // tracing fixes a line's level where it is written, so the line is written once per
    // level from one template.
    macro_rules! line {
        ($level:expr) => {
            tracing::event!(
                $level,
                outcome,
                kind,
                status,
                request_id = %ended.request_id,
                session_id,
                duration_ms,
                first_event_ms,
                events = ended.events,
                fuel_used,
                peak_memory_bytes,
                outbound_requests,
                error,
                "invocation ended"
            )
        };
    }
    match ended.outcome {
        Outcome::Completed | Outcome::ClientGone | Outcome::Refused => {
            line!(tracing::Level::INFO)
        }
        Outcome::Failed | Outcome::TimedOut | Outcome::Cancelled => {
            line!(tracing::Level::WARN)
        }
    }
}
