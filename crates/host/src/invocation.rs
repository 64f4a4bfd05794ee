//! What a caller submits to the host and what it gets back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::error::InvokeError;
use crate::events::Event;

/// The context of an invocation, as the caller built it from the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// The request id.
    pub request_id: String,
    /// The session id, if any.
    pub session_id: Option<String>,
    /// Forwardable headers, in the order received.
    pub headers: Vec<(String, String)>,
    /// The workload access token, if any.
    pub workload_access_token: Option<String>,
    /// The OAuth2 callback URL, if any.
    pub oauth2_callback_url: Option<String>,
    /// The span the caller made for the invocation, if it traces: the guest call's span and
    /// its outbound requests' hang from it, and the requests carry it onward. `None` (the
    /// default) makes no span.
    pub trace: Option<crate::trace::TraceParent>,
}

impl Context {
    /// A context with only a request id: what a caller without headers (a test, a benchmark)
    /// needs.
    pub fn new(request_id: impl Into<String>) -> Self {
        Self {
            request_id: request_id.into(),
            ..Self::default()
        }
    }

    /// This context in the session `session_id`.
    #[must_use]
    pub fn in_session(mut self, session_id: impl Into<String>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }

    /// The context of a request with these headers, read as the SDK reads them (its
    /// allowlist, lowercase names, the identity headers); a request without a request id gets
    /// a new one. `serve` and `invoke` both build their contexts here.
    pub fn from_headers<'a>(headers: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Self {
        let read = wasm_agent_contract::headers::request_context(headers);
        Self {
            request_id: read.request_id.unwrap_or_else(new_request_id),
            session_id: read.session_id,
            headers: read.headers,
            workload_access_token: read.workload_access_token,
            oauth2_callback_url: read.oauth2_callback_url,
            trace: None,
        }
    }
}

/// A new request id: a random UUID, as the SDK makes one.
fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The deadline of an invocation when the caller gives none: AgentCore's request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// One invocation to run.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The payload: one JSON document, already checked by the caller.
    pub payload: String,
    /// The context handed to the guest.
    pub context: Context,
    /// How long the guest has to return or emit its first event.
    pub timeout: Duration,
    /// How long a guest that has emitted may take in all; `None` keeps `timeout` throughout.
    pub stream_timeout: Option<Duration>,
}

impl Invocation {
    /// An invocation of `payload` (one JSON document) with `context`, under AgentCore's
    /// request timeout and no separate stream timeout.
    pub fn new(payload: impl Into<String>, context: Context) -> Self {
        Self {
            payload: payload.into(),
            context,
            timeout: DEFAULT_TIMEOUT,
            stream_timeout: None,
        }
    }

    /// This invocation with `timeout` to return or emit its first event.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// This invocation with `stream_timeout` for the whole stream once it has emitted.
    #[must_use]
    pub fn with_stream_timeout(mut self, stream_timeout: Duration) -> Self {
        self.stream_timeout = Some(stream_timeout);
        self
    }
}

/// A successful invocation's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// What the guest returned, as it wrote it, or none if it had nothing more to send: one JSON
    /// document unless its reply head names a content type that is not JSON.
    pub result: Option<String>,
    /// The reply's status, content type and headers, if the guest set them and emitted nothing.
    pub head: Option<ReplyHead>,
}

/// The status, content type and headers a guest chose for its reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyHead {
    /// 200 to 599.
    pub status: u16,
    /// The content type; `None` means `application/json`.
    pub content_type: Option<String>,
    /// Extra headers, checked to be valid and not framing headers.
    pub headers: Vec<(String, String)>,
}

impl ReplyHead {
    /// Whether the reply body is JSON (and so is checked to be one JSON document).
    pub fn is_json(&self) -> bool {
        self.content_type.as_deref().is_none_or(is_json_type)
    }
}

/// Whether a content type is JSON: `application/json` or a `+json` type, parameters aside.
pub(crate) fn is_json_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// An invocation in progress: its events, its outcome, and the means to cancel it.
///
/// Events come first: [`next_event`](Self::next_event) returns `None` once the guest can emit no
/// more, and only then is the outcome ready. Dropping this cancels the invocation.
#[derive(Debug)]
pub struct RunningInvocation {
    pub(crate) events: mpsc::Receiver<Event>,
    pub(crate) outcome: oneshot::Receiver<Result<Completion, InvokeError>>,
    pub(crate) cancel: CancellationToken,
    pub(crate) usage: UsageReport,
}

impl RunningInvocation {
    /// The next event the guest emitted, or `None` when it has finished emitting.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// Waits for the invocation to end. Events not yet taken are taken and discarded, so a
    /// guest that emits still runs to its end.
    pub async fn outcome(mut self) -> Result<Completion, InvokeError> {
        while self.events.recv().await.is_some() {}
        (&mut self.outcome)
            .await
            .unwrap_or_else(|_| Err(InvokeError::Internal("the invocation task ended".into())))
    }

    /// Where the invocation's use of resources is reported once its guest call ends, even if
    /// this is dropped first: for the log line and the metrics, which outlive it.
    pub fn usage(&self) -> UsageReport {
        self.usage.clone()
    }

    /// Cancels the invocation: `emit` fails from now on, and the guest is cut off if it does
    /// not return within the host's cancel grace.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }
}

impl Drop for RunningInvocation {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// The deadline of a running invocation: the request timeout until the first event, then the
/// stream timeout. Shared between the store (epoch callback, `emit`) and the task awaiting it.
#[derive(Debug, Clone)]
pub(crate) struct Deadline {
    inner: Arc<DeadlineInner>,
}

#[derive(Debug)]
struct DeadlineInner {
    start: Instant,
    timeout: Duration,
    stream_timeout: Duration,
    streaming: AtomicBool,
}

impl Deadline {
    pub(crate) fn new(start: Instant, timeout: Duration, stream_timeout: Option<Duration>) -> Self {
        Self {
            inner: Arc::new(DeadlineInner {
                start,
                timeout,
                stream_timeout: stream_timeout.unwrap_or(timeout),
                streaming: AtomicBool::new(false),
            }),
        }
    }

    /// A deadline that passed at `now`.
    pub(crate) fn passed(now: Instant) -> Self {
        Self::new(now, Duration::ZERO, None)
    }

    /// Switches to the stream timeout: the guest has produced its first event.
    pub(crate) fn start_streaming(&self) {
        self.inner.streaming.store(true, Ordering::Release);
    }

    /// The limit in force.
    pub(crate) fn limit(&self) -> Duration {
        if self.inner.streaming.load(Ordering::Acquire) {
            self.inner.stream_timeout
        } else {
            self.inner.timeout
        }
    }

    /// The instant the invocation must end by.
    pub(crate) fn at(&self) -> Instant {
        self.inner.start + self.limit()
    }

    /// Whether the deadline has passed.
    pub(crate) fn has_passed(&self) -> bool {
        Instant::now() >= self.at()
    }
}

/// What one invocation used, measured on the worker when its guest call ends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Fuel the call burned, when the host meters fuel.
    pub fuel_used: Option<u64>,
    /// The most linear memory the instance held during the call, in bytes.
    pub peak_memory: u64,
    /// Outbound HTTP requests the call made (allowed or denied).
    pub outbound_requests: u32,
}

/// An invocation's [`Usage`], written once by the worker that ran it and read by whoever
/// outlives the call (the server's log line): a shared cell, since the reader may have let go
/// of the invocation before the guest returned.
#[derive(Debug, Clone, Default)]
pub struct UsageReport(Arc<std::sync::OnceLock<Usage>>);

impl UsageReport {
    /// The usage, once the guest call has ended.
    pub fn get(&self) -> Option<Usage> {
        self.0.get().copied()
    }

    /// Records the usage; a second report is ignored.
    pub(crate) fn set(&self, usage: Usage) {
        let _ = self.0.set(usage);
    }
}
