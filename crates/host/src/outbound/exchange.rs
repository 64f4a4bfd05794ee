//! One request's life on the outbound runtime: credentials attached, sent through the pool, the
//! response's head awaited and its body relayed to the guest, all bounded by the host's
//! timeouts, the invocation's deadline and its cancellation, and logged once at the end.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::header::{CONTENT_LENGTH, HOST, HeaderValue};
use http::request::Parts;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use opentelemetry::KeyValue;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use wasmtime_wasi_http::{Error, WasiBody};

use super::Outbound;
use super::auth::{Credential, attach_header};
use super::body::{Relay, relay};
use super::client::{ConnectError, until};
use super::config::DEFAULT_MAX_SIGNED_BODY;
use super::drain::DrainOnDrop;
use super::log::{Ending, RequestLog};
use super::rules::default_port;
use super::sigv4;
use crate::invocation::Deadline;
use crate::trace::ChildSpan;

/// Everything decided about a request before it leaves the instance.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Its log line, written when the plan is dropped.
    pub log: RequestLog,
    /// What the host attaches.
    pub credential: Option<Credential>,
    /// The wait for the response's first byte.
    pub first_byte: Duration,
    /// The longest silence within the response body.
    pub between_bytes: Duration,
    /// The invocation's deadline.
    pub deadline: Deadline,
    /// Cancelled with the invocation, or when its call ends.
    pub cancel: CancellationToken,
    /// The instance's in-flight slot, held until the body has been relayed (dropped with the
    /// plan).
    pub _slot: OwnedSemaphorePermit,
    /// Its span, if the invocation is traced: ended with the plan, as its log line is written.
    pub span: Option<ChildSpan>,
}

impl Drop for Plan {
    fn drop(&mut self) {
        let Some(span) = self.span.take() else {
            return;
        };
        if let Some(status) = self.log.status {
            span.set(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
        }
        let (outcome, error) = match &self.log.ending {
            Ending::Completed => ("completed", None),
            Ending::DroppedByGuest => ("dropped_by_guest", None),
            Ending::Abandoned => ("abandoned", Some("the guest or its instance dropped it")),
            Ending::Denied(why) => ("denied", Some(why.as_str())),
            Ending::Failed(why) => ("failed", Some(why.as_str())),
        };
        span.set(KeyValue::new("wasm_agent.outcome", outcome));
        match (error, self.log.status) {
            (Some(why), _) => span.fail(outcome, why.to_owned()),
            // An error status is the request's failure, for a client span, even when the
            // body was relayed whole.
            (None, Some(status)) if status >= 400 => span.fail(status.to_string(), String::new()),
            (None, _) => {}
        }
        span.end();
    }
}

/// Why a request failed: the code the guest gets, and what the log says.
struct Failure {
    code: Error,
    detail: String,
}

impl From<Error> for Failure {
    fn from(code: Error) -> Self {
        let detail = code.to_string();
        Self { code, detail }
    }
}

impl Outbound {
    /// Runs `request` on the outbound runtime. The returned future gives the response once its
    /// head has arrived; dropping it (the guest dropped the request, or its instance is gone)
    /// aborts the request and closes its connection.
    pub(crate) fn send(
        self: &Arc<Self>,
        request: Request<WasiBody>,
        plan: Plan,
    ) -> impl Future<Output = Result<Response<WasiBody>, Error>> + Send + 'static {
        let outbound = self.clone();
        let running = self
            .client
            .as_ref()
            .and_then(|client| client.spawn(async move { outbound.exchange(request, plan).await }));
        async move {
            match running {
                Some(handle) => handle.await,
                None => Err(Error::HttpRequestDenied),
            }
        }
    }

    async fn exchange(
        self: Arc<Self>,
        request: Request<WasiBody>,
        mut plan: Plan,
    ) -> Result<Response<WasiBody>, Error> {
        let head = tokio::select! {
            biased;
            () = plan.cancel.cancelled() => Err(Failure {
                code: Error::ConnectionTerminated,
                detail: "the invocation ended before the response".into(),
            }),
            () = until(|| plan.deadline.at()) => Err(Failure {
                code: Error::HttpResponseTimeout,
                detail: "the invocation's deadline passed before the response".into(),
            }),
            head = self.request(request, &plan) => head,
        };
        let response = match head {
            Ok(response) => response,
            Err(failure) => {
                plan.log.ending = match failure.code {
                    Error::DestinationIpProhibited => Ending::Denied(failure.detail),
                    _ => Ending::Failed(failure.detail),
                };
                return Err(failure.code);
            }
        };
        let (parts, incoming) = response.into_parts();
        plan.log.status = Some(parts.status.as_u16());
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.config.max_response_bytes) {
            // The limit, as when a body without a declared length runs past it: the guest and
            // the log read one figure for one cause.
            let error = Error::HttpResponseBodySize(Some(self.config.max_response_bytes));
            plan.log.ending = Ending::Failed(error.to_string());
            return Err(error);
        }
        let (relay, body) = relay();
        tokio::spawn(self.clone().pump(incoming, relay, plan));
        Ok(Response::from_parts(parts, body.boxed_unsync()))
    }

    /// Attaches the credential and waits for the response's head.
    async fn request(
        &self,
        request: Request<WasiBody>,
        plan: &Plan,
    ) -> Result<Response<hyper::body::Incoming>, Failure> {
        let client = self.client.as_ref().ok_or(Error::HttpRequestDenied)?;
        let (mut parts, body) = request.into_parts();
        set_host(&mut parts);
        // Before signing, so that the signature covers the trace headers as they are sent.
        if let Some(span) = &plan.span {
            span.inject(&mut parts.headers);
        }
        let body = match &plan.credential {
            Some(Credential::SigV4 { service, region }) => {
                self.sign(&mut parts, body, service, region).await?
            }
            Some(credential) => {
                attach_header(&mut parts, credential);
                body
            }
            None => body,
        };
        // A connection that fails before the body is sent drops it unread; drained, the guest
        // still writing it sees the request's error instead of a broken pipe.
        let body = DrainOnDrop::new(body).boxed_unsync();
        let sent = client.client.request(Request::from_parts(parts, body));
        match tokio::time::timeout(plan.first_byte, sent).await {
            Err(_) => Err(Error::HttpResponseTimeout.into()),
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(classify(&error)),
        }
    }

    /// Signs the request with the host's AWS credentials; the body is buffered to be hashed.
    async fn sign(
        &self,
        parts: &mut Parts,
        body: WasiBody,
        service: &str,
        region: &str,
    ) -> Result<WasiBody, Failure> {
        let bytes = match Limited::new(body, DEFAULT_MAX_SIGNED_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) if error.is::<LengthLimitError>() => {
                return Err(
                    Error::HttpRequestBodySize(Some(DEFAULT_MAX_SIGNED_BODY as u64)).into(),
                );
            }
            Err(error) => {
                return Err(Failure {
                    code: Error::HttpRequestBodySize(None),
                    detail: format!("the guest's request body failed: {error}"),
                });
            }
        };
        let unsigned = |detail: String| Failure {
            code: Error::InternalError(Some("the host could not sign the request".into())),
            detail,
        };
        let provider = self
            .aws
            .as_ref()
            .ok_or_else(|| unsigned("no AWS credential source".into()))?;
        let credentials = provider
            .credentials()
            .await
            .map_err(|error| unsigned(format!("no AWS credentials: {error}")))?;
        sigv4::sign(
            parts,
            &bytes,
            &credentials,
            service,
            region,
            SystemTime::now(),
        )
        .map_err(|error| unsigned(format!("cannot sign: {error}")))?;
        Ok(Full::new(bytes)
            .map_err(|never| match never {})
            .boxed_unsync())
    }

    /// Relays the response body to the guest, within the size limit and the between-bytes
    /// timeout, until the guest stops reading, the invocation or its call ends, or its deadline
    /// passes; dropping the body then closes a connection left mid-response.
    async fn pump(
        self: Arc<Self>,
        mut incoming: hyper::body::Incoming,
        relay: Relay,
        mut plan: Plan,
    ) {
        let max = self.config.max_response_bytes;
        let mut bytes = 0u64;
        let sender = relay.pieces.clone();
        let relayed = async {
            loop {
                let frame = match tokio::time::timeout(plan.between_bytes, incoming.frame()).await {
                    Err(_) => return Err(Error::ConnectionReadTimeout),
                    Ok(None) => return Ok(Ending::Completed),
                    Ok(Some(Err(error))) if error.is_incomplete_message() => {
                        return Err(Error::HttpResponseIncomplete);
                    }
                    Ok(Some(Err(_))) => return Err(Error::ConnectionTerminated),
                    Ok(Some(Ok(frame))) => frame,
                };
                bytes += frame.data_ref().map_or(0, |d| d.len() as u64);
                if bytes > max {
                    return Err(Error::HttpResponseBodySize(Some(max)));
                }
                if sender.send(Ok(frame)).await.is_err() {
                    return Ok(Ending::DroppedByGuest);
                }
            }
        };
        // A guest that drops the body and returns closes the relay before its call ends; both
        // are ready by the time this runs, and the guest's choice came first.
        let ended = tokio::select! {
            biased;
            () = relay.pieces.closed() => Ok(Ending::DroppedByGuest),
            () = plan.cancel.cancelled() => Err(Error::ConnectionTerminated),
            () = until(|| plan.deadline.at()) => Err(Error::HttpResponseTimeout),
            ended = relayed => ended,
        };
        drop(incoming);
        plan.log.bytes = bytes;
        plan.log.ending = match ended {
            Ok(ending) => ending,
            Err(error) => {
                let detail = match error {
                    Error::ConnectionTerminated if plan.cancel.is_cancelled() => {
                        "the invocation ended before the body".to_owned()
                    }
                    ref other => other.to_string(),
                };
                relay.cut(error);
                Ending::Failed(detail)
            }
        };
    }
}

/// The wasi:http error for a request the client could not send, from its cause.
fn classify(error: &hyper_util::client::legacy::Error) -> Failure {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if let Some(connect) = current.downcast_ref::<ConnectError>() {
            let code = match connect {
                ConnectError::Denied { .. } => Error::DestinationIpProhibited,
                ConnectError::Dns { .. } => Error::DnsError {
                    rcode: None,
                    info_code: None,
                },
                ConnectError::DnsTimeout(_) => Error::DnsTimeout,
                ConnectError::Timeout(_) => Error::ConnectionTimeout,
                ConnectError::Io { source, .. }
                    if source.kind() == std::io::ErrorKind::ConnectionRefused =>
                {
                    Error::ConnectionRefused
                }
                ConnectError::Io { .. } => Error::DestinationUnavailable,
                ConnectError::NoHost => Error::HttpRequestUriInvalid,
            };
            return Failure {
                code,
                detail: connect.to_string(),
            };
        }
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            let code = match tls {
                rustls::Error::InvalidCertificate(_) => Error::TlsCertificateError,
                rustls::Error::AlertReceived(alert) => Error::TlsAlertReceived {
                    alert_id: Some(u8::from(*alert)),
                    alert_message: Some(format!("{alert:?}")),
                },
                _ => Error::TlsProtocolError,
            };
            return Failure {
                code,
                detail: format!("TLS: {tls}"),
            };
        }
        // hyper-rustls hands TLS failures up inside an io::Error, whose `source` skips what
        // it wraps.
        cause = match current.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as _),
            None => current.source(),
        };
    }
    let code = if error.is_connect() {
        Error::ConnectionRefused
    } else {
        Error::HttpProtocolError
    };
    Failure {
        code,
        detail: format!("{error:#}"),
    }
}

/// Sets `host` to the form the client writes on the wire (no default port), so that a signature
/// covers exactly what is sent; the guest cannot set it (wasi:http forbids the header).
fn set_host(parts: &mut Parts) {
    let Some(authority) = parts.uri.authority() else {
        return;
    };
    let default = default_port(parts.uri.scheme_str().unwrap_or(""));
    let host = match authority.port_u16() {
        Some(port) if Some(port) != default => format!("{}:{port}", authority.host()),
        _ => authority.host().to_owned(),
    };
    if let Ok(value) = HeaderValue::from_str(&host) {
        parts.headers.insert(HOST, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host header is the authority without the scheme's default port.
    #[test]
    fn host_header_drops_the_default_port() -> Result<(), http::Error> {
        for (uri, host) in [
            ("https://api.openai.com:443/v1", "api.openai.com"),
            ("https://api.openai.com/v1", "api.openai.com"),
            ("http://127.0.0.1:9000/v1", "127.0.0.1:9000"),
            ("http://[::1]:80/", "[::1]"),
        ] {
            let (mut parts, ()) = Request::builder().uri(uri).body(())?.into_parts();
            set_host(&mut parts);
            assert_eq!(parts.headers[HOST], host, "{uri}");
        }
        Ok(())
    }

    /// A TLS failure wrapped in an io::Error, as hyper-rustls hands it up, is found.
    #[test]
    fn tls_errors_inside_io_errors_are_found() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::other(tls);
        let wrapped: &(dyn std::error::Error + 'static) = &io;
        let found = match wrapped.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>()),
            None => None,
        };
        assert!(matches!(found, Some(rustls::Error::InvalidCertificate(_))));
    }
}
