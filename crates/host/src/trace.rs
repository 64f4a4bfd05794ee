//! The host's side of an invocation's trace. The caller puts a [`TraceParent`] in the
//! invocation's context: the span it made for the invocation. The host hangs the guest call's
//! span from it, and from that the span of each outbound request, whose context the request
//! carries onward (`traceparent`, `tracestate`; not the caller's `baggage`, which is the
//! caller's to share and would reach every third party a guest calls). An invocation without a
//! parent makes
//! no span and touches no header, so a host whose caller does not trace pays one branch.
//!
//! Spans go to the process's tracer provider and headers are written by its propagator
//! (`opentelemetry::global`), both installed by the binary: this crate knows the OpenTelemetry
//! API, never its SDK or exporter.

use std::borrow::Cow;
use std::sync::LazyLock;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::global::BoxedTracer;
use opentelemetry::propagation::Injector;
use opentelemetry::trace::{
    SpanContext, SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context as OtelContext, InstrumentationScope, KeyValue};

/// The span an invocation's work hangs from: its ids and the trace's baggage, without the span
/// itself, whose end stays with whoever made it.
#[derive(Clone)]
pub struct TraceParent(OtelContext);

impl TraceParent {
    /// The span active in `context` as a parent, with `context`'s baggage.
    pub fn new(context: &OtelContext) -> Self {
        Self(context.with_remote_span_context(context.span().span_context().clone()))
    }

    /// The parent span's ids.
    pub fn span_context(&self) -> SpanContext {
        self.0.span().span_context().clone()
    }
}

impl std::fmt::Debug for TraceParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TraceParent")
            .field(&self.span_context())
            .finish()
    }
}

/// Two parents are the same when they name the same span.
impl PartialEq for TraceParent {
    fn eq(&self, other: &Self) -> bool {
        self.span_context() == other.span_context()
    }
}

impl Eq for TraceParent {}

/// The host's tracer, made at the first span: a parent exists only once the binary has
/// installed the provider, so it is never taken from the no-op one.
static TRACER: LazyLock<BoxedTracer> = LazyLock::new(|| {
    let scope = InstrumentationScope::builder(env!("CARGO_PKG_NAME"))
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    opentelemetry::global::tracer_provider().tracer_with_scope(scope)
});

/// The most of a failure's message a span's status carries: enough to read the cause, while a
/// guest's megabyte-long message would make a collector refuse the whole batch it is in.
pub const MAX_STATUS_MESSAGE: usize = 1 << 10;

/// The headers that carry a trace: the guest's are dropped where the host writes its own, so the
/// next hop sees one trace, not a mix. Only the first two are written.
const TRACE_HEADERS: [&str; 3] = ["traceparent", "tracestate", "x-amzn-trace-id"];

/// A span the host started under a parent; it ends when [`end`](Self::end) is called or it is
/// dropped.
#[derive(Debug)]
pub(crate) struct ChildSpan(OtelContext);

impl ChildSpan {
    /// Starts a span of `kind` named `name` under `parent`.
    pub(crate) fn start(
        parent: &TraceParent,
        name: impl Into<Cow<'static, str>>,
        kind: SpanKind,
        attributes: Vec<KeyValue>,
    ) -> Self {
        let span = TRACER
            .span_builder(name)
            .with_kind(kind)
            .with_attributes(attributes)
            .start_with_context(&*TRACER, &parent.0);
        Self(parent.0.with_span(span))
    }

    /// The span of the guest call `name` under `parent`, if there is one; `parent` becomes that
    /// span, so that what the call does (its outbound requests, the work it schedules) hangs
    /// from it.
    pub(crate) fn enter(parent: &mut Option<TraceParent>, name: &'static str) -> Option<Self> {
        let span = Self::start(parent.as_ref()?, name, SpanKind::Internal, Vec::new());
        *parent = Some(span.as_parent());
        Some(span)
    }

    /// The span of an outbound `request` under `parent`: a client span named for its method
    /// (`HTTP` for one outside HTTP's own, which a guest may make up at any length), with its
    /// destination.
    pub(crate) fn outbound<B>(parent: &TraceParent, request: &http::Request<B>) -> Self {
        let name = known_method(request.method()).unwrap_or("HTTP");
        Self::start(parent, name, SpanKind::Client, request_attributes(request))
    }

    /// This span as the parent of others.
    pub(crate) fn as_parent(&self) -> TraceParent {
        TraceParent::new(&self.0)
    }

    /// Writes this span's context into `headers`, replacing any the guest wrote.
    pub(crate) fn inject(&self, headers: &mut HeaderMap) {
        for name in TRACE_HEADERS {
            headers.remove(name);
        }
        opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.inject_context(&self.0, &mut HeaderInjector(headers));
        });
    }

    /// Records an attribute.
    pub(crate) fn set(&self, attribute: KeyValue) {
        self.0.span().set_attribute(attribute);
    }

    /// Marks the span failed: `kind` is its `error.type`, `message` its status, cut to
    /// [`MAX_STATUS_MESSAGE`] (a guest's own failure message is as long as it likes).
    pub(crate) fn fail(&self, kind: impl Into<opentelemetry::Value>, message: String) {
        let span = self.0.span();
        span.set_attribute(KeyValue::new("error.type", kind));
        let message = wasm_agent_contract::text::cut(message, MAX_STATUS_MESSAGE);
        span.set_status(Status::error(message));
    }

    /// Ends the span now.
    pub(crate) fn end(self) {
        self.0.span().end();
    }
}

/// HTTP's own methods, the only ones a span is named for.
fn known_method(method: &http::Method) -> Option<&'static str> {
    use http::Method;
    [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
        Method::TRACE,
        Method::CONNECT,
    ]
    .into_iter()
    .find(|known| known == method)
    .map(|known| match known {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        _ => "CONNECT",
    })
}

/// What an outbound request's span says of it: method and destination. The URL is the origin
/// only, as the outbound log writes it: a path or a query may carry keys or personal data.
fn request_attributes<B>(request: &http::Request<B>) -> Vec<KeyValue> {
    let uri = request.uri();
    let scheme = uri.scheme_str().unwrap_or("");
    let host = uri.host().unwrap_or("");
    let port = uri.port_u16();
    let url = match port {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    };
    let mut attributes = vec![
        KeyValue::new(
            "http.request.method",
            known_method(request.method()).unwrap_or("_OTHER"),
        ),
        KeyValue::new("server.address", host.to_owned()),
        KeyValue::new("url.scheme", scheme.to_owned()),
        KeyValue::new("url.full", url),
    ];
    if let Some(port) = port {
        attributes.push(KeyValue::new("server.port", i64::from(port)));
    }
    attributes
}

/// A header map as the propagator writes into it.
struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // The process's propagator also writes `baggage`, which stays with the caller.
        if !TRACE_HEADERS[..2].contains(&key) {
            return;
        }
        // A value a header cannot carry is left out rather than sent mangled.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};

    fn parent(span: u64) -> TraceParent {
        let ids = SpanContext::new(
            TraceId::from(0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c),
            SpanId::from(span),
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        );
        TraceParent::new(&OtelContext::new().with_remote_span_context(ids))
    }

    /// A parent keeps the ids of the span it was made from, and parents compare by them.
    #[test]
    fn a_parent_is_the_span_it_names() {
        let one = parent(0xb7ad_6b71_6920_3331);
        assert_eq!(
            one.span_context().span_id(),
            SpanId::from(0xb7ad_6b71_6920_3331)
        );
        assert_eq!(one, parent(0xb7ad_6b71_6920_3331));
        assert_ne!(one, parent(1));
    }

    /// With no parent, entering a call makes no span and leaves the context as it was.
    #[test]
    fn no_parent_no_span() {
        let mut none = None;
        assert!(ChildSpan::enter(&mut none, "invoke").is_none());
        assert!(none.is_none());
    }

    /// The guest's trace headers are dropped even when the propagator writes nothing (none is
    /// installed here), so a guest cannot pose as the host's span; its baggage is its own.
    #[test]
    fn the_guests_trace_headers_are_replaced() -> Result<(), http::Error> {
        let request = http::Request::builder()
            .uri("https://api.example.com:8443/v1/chat?api_key=secret")
            .header(
                "traceparent",
                "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01",
            )
            .header("tracestate", "guest=1")
            .header(
                "x-amzn-trace-id",
                "Root=1-5759e988-bd862e3fe1be46a994272793",
            )
            .header("baggage", "guest=1")
            .body(())?;
        let span = ChildSpan::outbound(&parent(7), &request);
        let mut headers = request.headers().clone();
        span.inject(&mut headers);
        assert!(headers.get("traceparent").is_none());
        assert!(headers.get("tracestate").is_none());
        assert!(headers.get("x-amzn-trace-id").is_none());
        assert_eq!(headers["baggage"], "guest=1");
        span.end();
        Ok(())
    }

    /// A request's span names its origin, never its path, query or userinfo; a method outside
    /// HTTP's own is not a span name.
    #[test]
    fn the_url_is_recorded_as_its_origin() -> Result<(), http::Error> {
        let request = http::Request::builder()
            .method("POST")
            .uri("https://user:pw@api.example.com:8443/v1/chat?api_key=secret#frag")
            .body(())?;
        let attributes = request_attributes(&request);
        let value = |key: &str| {
            attributes
                .iter()
                .find(|kv| kv.key.as_str() == key)
                .map(|kv| kv.value.to_string())
        };
        assert_eq!(
            value("url.full").as_deref(),
            Some("https://api.example.com:8443")
        );
        assert_eq!(value("http.request.method").as_deref(), Some("POST"));
        assert_eq!(value("server.address").as_deref(), Some("api.example.com"));
        assert_eq!(value("server.port").as_deref(), Some("8443"));
        assert!(
            attributes
                .iter()
                .all(|kv| !kv.value.to_string().contains("secret"))
        );
        let made_up = http::Request::builder()
            .method("FROBNICATE")
            .uri("https://api.example.com/")
            .body(())?;
        assert_eq!(known_method(made_up.method()), None);
        assert_eq!(known_method(request.method()), Some("POST"));
        Ok(())
    }
}
