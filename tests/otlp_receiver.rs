//! A small OTLP/HTTP trace receiver on 127.0.0.1, standing in for a collector: it takes
//! `POST /v1/traces` in protobuf or JSON, decodes it with the exporter's own message types, and
//! keeps every span, so tests can check what the server exported. Served by hyper on its own
//! thread and runtime, like the mock model; stopped when dropped.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::CONTENT_TYPE;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message as _;
use tokio::sync::oneshot;

/// One span as the receiver got it: ids in lowercase hex, as `traceparent` writes them.
#[derive(Debug, Clone)]
pub(crate) struct ReceivedSpan {
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    /// OTLP's `SpanKind`: 2 server, 3 client, 1 internal.
    pub kind: i32,
    /// OTLP's status code: 0 unset, 1 ok, 2 error.
    pub status: i32,
    pub attributes: Vec<(String, String)>,
    /// The `service.name` of the resource it came with.
    pub service: String,
}

/// OTLP's `SPAN_KIND_SERVER`.
pub(crate) const SERVER: i32 = 2;
/// OTLP's `SPAN_KIND_CLIENT`.
pub(crate) const CLIENT: i32 = 3;
/// OTLP's `SPAN_KIND_INTERNAL`.
pub(crate) const INTERNAL: i32 = 1;
/// OTLP's `STATUS_CODE_ERROR`.
pub(crate) const ERROR: i32 = 2;

impl ReceivedSpan {
    /// The attribute `key`, as text.
    pub(crate) fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// What the receiver has been sent.
#[derive(Debug, Default)]
struct Received {
    spans: Vec<ReceivedSpan>,
    /// Export requests, decodable or not, with their content types.
    requests: Vec<String>,
}

/// A running receiver.
#[derive(Debug)]
pub(crate) struct OtlpReceiver {
    address: SocketAddr,
    received: Arc<Mutex<Received>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl OtlpReceiver {
    /// Binds 127.0.0.1 on a free port and serves on a thread of its own.
    pub(crate) fn start() -> Result<Self, Box<dyn std::error::Error>> {
        let (runtime, listener, address) = crate::support::loopback_listener()?;
        let received = Arc::new(Mutex::new(Received::default()));
        let (stop, stopped) = oneshot::channel();
        let sink = received.clone();
        let thread = std::thread::Builder::new()
            .name("otlp-receiver".into())
            .spawn(move || runtime.block_on(serve(listener, sink, stopped)))?;
        Ok(Self {
            address,
            received,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Its base URL, for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every span received so far.
    pub(crate) fn spans(&self) -> Vec<ReceivedSpan> {
        self.received
            .lock()
            .map(|received| received.spans.clone())
            .unwrap_or_default()
    }

    /// The spans of the trace `trace_id`.
    pub(crate) fn trace(&self, trace_id: &str) -> Vec<ReceivedSpan> {
        let mut spans = self.spans();
        spans.retain(|span| span.trace_id == trace_id);
        spans
    }

    /// The content type of every export request received so far.
    pub(crate) fn requests(&self) -> Vec<String> {
        self.received
            .lock()
            .map(|received| received.requests.clone())
            .unwrap_or_default()
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: tokio::net::TcpListener,
    received: Arc<Mutex<Received>>,
    mut stopped: oneshot::Receiver<()>,
) {
    loop {
        let accepted = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, _)) = accepted else { continue };
        let received = received.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| export(request, received.clone()));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Takes one export request: its spans are kept, and the reply is OTLP's empty success.
async fn export(
    request: Request<Incoming>,
    received: Arc<Mutex<Received>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let path = request.uri().path().to_owned();
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return Ok(reply(StatusCode::BAD_REQUEST, "")),
    };
    let decoded = match content_type.as_str() {
        "application/x-protobuf" => ExportTraceServiceRequest::decode(body).ok(),
        "application/json" => serde_json::from_slice(&body).ok(),
        _ => None,
    };
    if let Ok(mut received) = received.lock() {
        received.requests.push(content_type.clone());
        if let Some(decoded) = decoded.as_ref().filter(|_| path == "/v1/traces") {
            received.spans.extend(spans(decoded));
        }
    }
    Ok(match decoded {
        Some(_) if path == "/v1/traces" => reply(StatusCode::OK, &content_type),
        _ => reply(StatusCode::BAD_REQUEST, ""),
    })
}

/// An empty `ExportTraceServiceResponse` in the request's encoding (both encode it as nothing
/// much: no bytes, or `{}`).
fn reply(status: StatusCode, content_type: &str) -> Response<Full<Bytes>> {
    let body = if content_type == "application/json" {
        "{}"
    } else {
        ""
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if !content_type.is_empty()
        && let Ok(value) = content_type.parse()
    {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}

/// The spans of an export request, flattened.
fn spans(request: &ExportTraceServiceRequest) -> Vec<ReceivedSpan> {
    let mut spans = Vec::new();
    for resource_spans in &request.resource_spans {
        let service = resource_spans
            .resource
            .as_ref()
            .and_then(|resource| {
                resource
                    .attributes
                    .iter()
                    .find(|kv| kv.key == "service.name")
            })
            .map(text)
            .unwrap_or_default();
        for scope_spans in &resource_spans.scope_spans {
            for span in &scope_spans.spans {
                spans.push(ReceivedSpan {
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    name: span.name.clone(),
                    kind: span.kind,
                    status: span.status.as_ref().map_or(0, |status| status.code),
                    attributes: span
                        .attributes
                        .iter()
                        .map(|kv| (kv.key.clone(), text(kv)))
                        .collect(),
                    service: service.clone(),
                });
            }
        }
    }
    spans
}

/// An attribute's value as text.
fn text(kv: &KeyValue) -> String {
    match kv.value.as_ref().and_then(|value| value.value.as_ref()) {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
