//! [`InvocationSpan`]: an invocation's OpenTelemetry server span, continuing the caller's trace;
//! and [`enable_traces`], which turns these spans on for the process.
//!
//! The caller's trace is read from W3C `traceparent`, `tracestate` and `baggage`, through the
//! propagator the binary installed, or else from AgentCore's `X-Amzn-Trace-Id`. The span goes
//! to the host with the invocation ([`TraceParent`]), so that the guest call and its outbound
//! requests are its children, and ends with the invocation's log line, from the same record.
//! Until traces are on, starting a span is one load of a `OnceLock`: no header is read and
//! nothing is allocated.

use std::sync::OnceLock;

use axum::http::HeaderMap;
use opentelemetry::baggage::BaggageExt as _;
use opentelemetry::global::BoxedTracer;
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceId, TraceState,
    Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context as OtelContext, InstrumentationScope, KeyValue};
use wasm_agent_host::{Context, MAX_STATUS_MESSAGE, TraceParent};

use crate::ended::{Ended, Outcome};

/// The tracer of invocation spans, once traces are on.
static TRACER: OnceLock<BoxedTracer> = OnceLock::new();

/// The span's name, as the HTTP conventions name a server span: method and route.
const SPAN_NAME: &str = "POST /invocations";

/// AgentCore's trace header, in X-Ray's format; read when the request has no `traceparent`.
const AMZN_TRACE_ID: &str = "x-amzn-trace-id";

/// The baggage header, which may repeat.
const BAGGAGE: &str = "baggage";

/// The prefix of the baggage entries AgentCore means for spans (a gateway's routing
/// experiment, a configuration bundle): its SDK copies them onto its spans, and so does this.
const AGENTCORE_BAGGAGE: &str = "aws.agentcore.";

/// Makes a span for every invocation from now on, with the process's tracer provider and
/// propagator (`opentelemetry::global`), which the caller installs first. A second call changes
/// nothing.
pub fn enable_traces() {
    TRACER.get_or_init(|| {
        let scope = InstrumentationScope::builder(env!("CARGO_PKG_NAME"))
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        opentelemetry::global::tracer_provider().tracer_with_scope(scope)
    });
}

/// The span of one invocation, ended with the invocation's log line.
#[derive(Debug)]
pub(crate) struct InvocationSpan(OtelContext);

impl InvocationSpan {
    /// A span for an invocation with these request headers, or `None` when traces are off.
    pub(crate) fn start(headers: &HeaderMap) -> Option<Self> {
        let tracer = TRACER.get()?;
        let caller = caller_context(headers);
        let mut attributes = vec![
            KeyValue::new("http.request.method", "POST"),
            KeyValue::new("http.route", "/invocations"),
            KeyValue::new("url.path", "/invocations"),
        ];
        for (key, (value, _)) in caller.baggage().iter() {
            if key.as_str().starts_with(AGENTCORE_BAGGAGE) {
                attributes.push(KeyValue::new(key.clone(), value.clone()));
            }
        }
        let span = tracer
            .span_builder(SPAN_NAME)
            .with_kind(SpanKind::Server)
            .with_attributes(attributes)
            .start_with_context(tracer, &caller);
        Some(Self(caller.with_span(span)))
    }

    /// Hands the span's context to the host, so the guest call and its outbound requests are
    /// its children.
    pub(crate) fn attach(&self, context: &mut Context) {
        context.trace = Some(TraceParent::new(&self.0));
    }

    /// Ends the span with what became of the invocation.
    pub(crate) fn end(self, ended: &Ended<'_>) {
        let span = self.0.span();
        span.set_attributes(attributes(ended));
        if is_failure(ended) {
            let message = ended.error.unwrap_or(ended.outcome.as_str()).to_owned();
            let message = wasm_agent_contract::text::cut(message, MAX_STATUS_MESSAGE);
            span.set_status(Status::error(message));
        }
        span.end();
    }
}

/// What an ended invocation's span records.
fn attributes(ended: &Ended<'_>) -> Vec<KeyValue> {
    let mut attributes = vec![
        KeyValue::new("wasm_agent.request_id", ended.request_id.to_owned()),
        KeyValue::new("wasm_agent.outcome", ended.outcome.as_str()),
        KeyValue::new(
            "wasm_agent.events",
            i64::try_from(ended.events).unwrap_or(i64::MAX),
        ),
    ];
    if let Some(session_id) = ended.session_id {
        attributes.push(KeyValue::new("session.id", session_id.to_owned()));
    }
    if let Some(status) = ended.status {
        let status = i64::from(status.as_u16());
        attributes.push(KeyValue::new("http.response.status_code", status));
    }
    if let Some(kind) = ended.kind {
        attributes.push(KeyValue::new("error.type", kind));
    }
    if let Some(first_event) = ended.first_event {
        let ms = first_event.as_secs_f64() * 1e3;
        attributes.push(KeyValue::new("wasm_agent.first_event_ms", ms));
    }
    attributes
}

/// Whether the span is an error: the handler or the server failed it, as the log line's WARN
/// says, or its status is a server error (a refusal for want of capacity). A client that left,
/// or sent what cannot be served, is not the server's failure.
fn is_failure(ended: &Ended<'_>) -> bool {
    matches!(
        ended.outcome,
        Outcome::Failed | Outcome::TimedOut | Outcome::Cancelled
    ) || ended.status.is_some_and(|status| status.is_server_error())
}

/// The caller's context: its W3C trace and baggage, or the trace its `X-Amzn-Trace-Id` names.
fn caller_context(headers: &HeaderMap) -> OtelContext {
    let extractor = Headers::new(headers);
    let caller = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract_with_context(&OtelContext::new(), &extractor)
    });
    if caller.span().span_context().is_valid() {
        return caller;
    }
    let amzn = headers
        .get(AMZN_TRACE_ID)
        .and_then(|value| value.to_str().ok())
        .and_then(amzn_trace_id);
    match amzn {
        Some(span) => caller.with_remote_span_context(span),
        None => caller,
    }
}

/// The caller's span as `X-Amzn-Trace-Id` names it:
/// `Root=1-{8 hex digits}-{24 hex digits};Parent={16 hex digits};Sampled={0|1|?}`, fields in
/// any order, others ignored. Without a valid root and parent there is nothing to continue.
/// `Sampled=?` (X-Ray leaves the choice downstream, and this is downstream) and a header
/// without `Sampled` count as sampled, so a parent-based sampler records them: the choice is
/// made here, in the caller's favour.
fn amzn_trace_id(header: &str) -> Option<SpanContext> {
    let (mut root, mut parent, mut sampled) = (None, None, true);
    for field in header.split(';') {
        let Some((key, value)) = field.trim().split_once('=') else {
            continue;
        };
        match key.trim() {
            "Root" => root = Some(value.trim()),
            "Parent" => parent = Some(value.trim()),
            "Sampled" => sampled = value.trim() != "0",
            _ => {}
        }
    }
    let is_hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    let (epoch, random) = root?.strip_prefix("1-")?.split_once('-')?;
    let parent = parent?;
    if !is_hex(epoch, 8) || !is_hex(random, 24) || !is_hex(parent, 16) {
        return None;
    }
    let trace_id = TraceId::from_hex(&format!("{epoch}{random}")).ok()?;
    let span_id = SpanId::from_hex(parent).ok()?;
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::NOT_SAMPLED
    };
    let span = SpanContext::new(trace_id, span_id, flags, true, TraceState::NONE);
    span.is_valid().then_some(span)
}

/// Request headers as a propagator reads them. A repeated `baggage` header is read as one
/// list, as W3C Baggage says it is.
struct Headers<'a> {
    map: &'a HeaderMap,
    baggage: Option<String>,
}

impl<'a> Headers<'a> {
    fn new(map: &'a HeaderMap) -> Self {
        let mut values = map.get_all(BAGGAGE).iter().filter_map(|v| v.to_str().ok());
        let first = values.next();
        let rest: Vec<&str> = values.collect();
        let baggage = first.filter(|_| !rest.is_empty()).map(|first| {
            std::iter::once(first)
                .chain(rest)
                .collect::<Vec<_>>()
                .join(",")
        });
        Self { map, baggage }
    }
}

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        if key == BAGGAGE
            && let Some(joined) = &self.baggage
        {
            return Some(joined);
        }
        self.map.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.map.keys().map(|name| name.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AgentCore's header names the trace (its root's two parts joined) and the parent span.
    #[test]
    fn an_amzn_trace_id_names_the_callers_span() {
        let span = amzn_trace_id(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        );
        let span = span.expect("a span");
        assert_eq!(
            span.trace_id().to_string(),
            "5759e988bd862e3fe1be46a994272793"
        );
        assert_eq!(span.span_id().to_string(), "53995c3f42cd8ad8");
        assert!(span.is_sampled());
        assert!(span.is_remote());
    }

    /// Fields come in any order, with spaces and fields this does not know; `Sampled=0` is kept,
    /// `?` or no `Sampled` leaves the choice to the sampler.
    #[test]
    fn amzn_trace_id_fields_in_any_order() {
        let span = amzn_trace_id(
            " Self=1-67891234-abcdef012345678912345678; Sampled=0 ;Parent=53995c3f42cd8ad8;\
             Root=1-5759e988-bd862e3fe1be46a994272793;Lineage=a87bd80c:1",
        );
        let span = span.expect("a span");
        assert_eq!(span.span_id().to_string(), "53995c3f42cd8ad8");
        assert!(!span.is_sampled());
        for sampled in ["Sampled=?;", ""] {
            let header = format!(
                "{sampled}Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8"
            );
            assert!(
                amzn_trace_id(&header).is_some_and(|s| s.is_sampled()),
                "{header}"
            );
        }
    }

    /// A header without a parent, with a malformed root, or with ids of the wrong length or of
    /// zeros continues nothing.
    #[test]
    fn a_malformed_amzn_trace_id_is_ignored() {
        for header in [
            "Root=1-5759e988-bd862e3fe1be46a994272793",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=",
            "Root=2-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8",
            "Root=1-5759e98-bd862e3fe1be46a9942727930;Parent=53995c3f42cd8ad8",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad",
            "Root=1-5759e988-bd862e3fe1be46a99427279g;Parent=53995c3f42cd8ad8",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=+3995c3f42cd8ad8",
            "Root=1-00000000-000000000000000000000000;Parent=53995c3f42cd8ad8",
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0000000000000000",
            "",
            "garbage",
        ] {
            assert!(amzn_trace_id(header).is_none(), "{header}");
        }
    }

    /// Repeated baggage headers are read as one list; a single one as it is.
    #[test]
    fn repeated_baggage_headers_are_one_list() {
        let mut headers = HeaderMap::new();
        headers.append(BAGGAGE, "a=1".parse().expect("a value"));
        assert_eq!(Headers::new(&headers).get(BAGGAGE), Some("a=1"));
        headers.append(BAGGAGE, "b=2;p".parse().expect("a value"));
        assert_eq!(Headers::new(&headers).get(BAGGAGE), Some("a=1,b=2;p"));
        assert_eq!(Headers::new(&HeaderMap::new()).get(BAGGAGE), None);
    }

    /// Until traces are enabled (no test here enables them: the tracer is the process's),
    /// no span is started.
    #[test]
    fn no_span_until_traces_are_enabled() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
                .parse()
                .expect("a value"),
        );
        assert!(InvocationSpan::start(&headers).is_none());
    }
}
