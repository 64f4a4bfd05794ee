//! One request's life on the outbound runtime: credentials attached, sent through the pool, the
//! response's head awaited and its body relayed to the guest, all bounded by the host's
//! timeouts, the invocation's deadline and its cancellation, and logged once at the end.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use http::header::{CONTENT_LENGTH, HOST, HeaderValue};
use http::request::Parts;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio_util::sync::CancellationToken;
use wasmtime_wasi_http::{Error, WasiBody};

use super::Outbound;
use super::auth::{Credential, attach_header};
use super::body::{Piece, relay};
use super::client::{ConnectError, until};
use super::config::DEFAULT_MAX_SIGNED_BODY;
use super::sigv4;
use crate::invocation::Deadline;

/// Everything decided about a request before it leaves the instance.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Where it goes, for the log.
    pub target: Target,
    /// What the host attaches.
    pub credential: Option<Credential>,
    /// The wait for the response's first byte.
    pub first_byte: Duration,
    /// The longest silence within the response body.
    pub between_bytes: Duration,
    /// The invocation's deadline.
    pub deadline: Deadline,
    /// The invocation's cancellation.
    pub cancel: CancellationToken,
    /// The instance's in-flight slot, held until the body has been relayed (dropped with the
    /// plan).
    pub _slot: OwnedSemaphorePermit,
}

/// What a log line says of a request: never its path, query or headers, which may carry
/// secrets or personal data.
#[derive(Debug, Clone)]
pub struct Target {
    pub method: String,
    pub scheme: String,
    pub host: String,
    pub port: u16,
    pub request_id: String,
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
        plan: Plan,
    ) -> Result<Response<WasiBody>, Error> {
        let started = Instant::now();
        let head = tokio::select! {
            biased;
            () = plan.cancel.cancelled() => Err(Error::ConnectionTerminated),
            () = until(|| plan.deadline.at()) => Err(Error::HttpResponseTimeout),
            head = self.request(request, &plan) => head,
        };
        let response = match head {
            Ok(response) => response,
            Err(error) => {
                self.stats.count_failure();
                log_end(&plan.target, None, 0, started, Some(&error));
                return Err(error);
            }
        };
        let (parts, incoming) = response.into_parts();
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(length) = declared.filter(|&n| n > self.config.max_response_bytes) {
            let error = Error::HttpResponseBodySize(Some(length));
            self.stats.count_failure();
            log_end(
                &plan.target,
                Some(parts.status.as_u16()),
                0,
                started,
                Some(&error),
            );
            return Err(error);
        }
        let (sender, body) = relay();
        let status = parts.status.as_u16();
        tokio::spawn(self.clone().pump(incoming, sender, plan, status, started));
        Ok(Response::from_parts(parts, body.boxed_unsync()))
    }

    /// Attaches the credential and waits for the response's head.
    async fn request(
        &self,
        request: Request<WasiBody>,
        plan: &Plan,
    ) -> Result<Response<hyper::body::Incoming>, Error> {
        let client = self.client.as_ref().ok_or(Error::HttpRequestDenied)?;
        let (mut parts, body) = request.into_parts();
        set_host(&mut parts);
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
        let sent = client.client.request(Request::from_parts(parts, body));
        match tokio::time::timeout(plan.first_byte, sent).await {
            Err(_) => Err(Error::HttpResponseTimeout),
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(self.classify(&error, &plan.target)),
        }
    }

    /// Signs the request with the host's AWS credentials; the body is buffered to be hashed.
    async fn sign(
        &self,
        parts: &mut Parts,
        body: WasiBody,
        service: &str,
        region: &str,
    ) -> Result<WasiBody, Error> {
        let bytes = Limited::new(body, DEFAULT_MAX_SIGNED_BODY)
            .collect()
            .await
            .map_err(|_| Error::HttpRequestBodySize(Some(DEFAULT_MAX_SIGNED_BODY as u64)))?
            .to_bytes();
        let provider = self.aws.as_ref().ok_or_else(no_credentials)?;
        let credentials = provider.credentials().await.map_err(|error| {
            tracing::warn!(%error, "cannot sign an outbound request: no AWS credentials");
            no_credentials()
        })?;
        sigv4::sign(
            parts,
            &bytes,
            &credentials,
            service,
            region,
            SystemTime::now(),
        )
        .map_err(|error| {
            tracing::warn!(%error, "cannot sign an outbound request");
            Error::InternalError(Some("the host could not sign the request".into()))
        })?;
        Ok(Full::new(bytes)
            .map_err(|never| match never {})
            .boxed_unsync())
    }

    /// Relays the response body to the guest, within the size limit and the between-bytes
    /// timeout, until the guest stops reading, the invocation is cancelled or its deadline
    /// passes; dropping the body then closes a connection left mid-response.
    async fn pump(
        self: Arc<Self>,
        mut incoming: hyper::body::Incoming,
        sender: mpsc::Sender<Piece>,
        plan: Plan,
        status: u16,
        started: Instant,
    ) {
        let max = self.config.max_response_bytes;
        let mut bytes = 0u64;
        let relayed = async {
            loop {
                let piece = match tokio::time::timeout(plan.between_bytes, incoming.frame()).await {
                    Err(_) => Err(Error::ConnectionReadTimeout),
                    Ok(None) => return Ok(()),
                    Ok(Some(Err(error))) => Err(self.classify_body(&error)),
                    Ok(Some(Ok(frame))) => {
                        bytes += frame.data_ref().map_or(0, |d| d.len() as u64);
                        if bytes > max {
                            Err(Error::HttpResponseBodySize(Some(max)))
                        } else {
                            Ok(frame)
                        }
                    }
                };
                let failed = piece.as_ref().err().map(describe);
                if sender.send(piece).await.is_err() {
                    // The guest dropped the body: not a failure of the request.
                    return Ok(());
                }
                if let Some(error) = failed {
                    return Err(error);
                }
            }
        };
        let ended: Result<(), String> = tokio::select! {
            biased;
            () = plan.cancel.cancelled() => Err("the invocation was cancelled".into()),
            () = until(|| plan.deadline.at()) => {
                let _ = sender.try_send(Err(Error::HttpResponseTimeout));
                Err("the invocation's deadline passed".into())
            }
            () = sender.closed() => Ok(()),
            ended = relayed => ended,
        };
        drop(incoming);
        self.stats.count_bytes(bytes);
        match &ended {
            Ok(()) => self.stats.count_success(),
            Err(_) => self.stats.count_failure(),
        }
        log_end_text(
            &plan.target,
            Some(status),
            bytes,
            started,
            ended.err().as_deref(),
        );
    }

    /// The wasi:http error for a failed request, from its cause.
    fn classify(&self, error: &hyper_util::client::legacy::Error, target: &Target) -> Error {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(current) = cause {
            if let Some(connect) = current.downcast_ref::<ConnectError>() {
                return match connect {
                    ConnectError::Denied { addresses, .. } => {
                        self.stats.count_denied();
                        tracing::warn!(
                            request_id = %target.request_id,
                            scheme = %target.scheme,
                            host = %target.host,
                            port = target.port,
                            addresses = %addresses,
                            "outbound request denied: the host resolves to an address no rule names"
                        );
                        Error::HttpRequestDenied
                    }
                    ConnectError::Dns { .. } => Error::DnsError {
                        rcode: Some("name not resolved".into()),
                        info_code: None,
                    },
                    ConnectError::Timeout(_) => Error::ConnectionTimeout,
                    ConnectError::Io { source, .. }
                        if source.kind() == std::io::ErrorKind::ConnectionRefused =>
                    {
                        Error::ConnectionRefused
                    }
                    ConnectError::Io { .. } => Error::DestinationUnavailable,
                    ConnectError::NoHost => Error::HttpRequestUriInvalid,
                };
            }
            if let Some(tls) = current.downcast_ref::<rustls::Error>() {
                return match tls {
                    rustls::Error::InvalidCertificate(_) => Error::TlsCertificateError,
                    _ => Error::TlsProtocolError,
                };
            }
            cause = current.source();
        }
        if error.is_connect() {
            Error::ConnectionRefused
        } else {
            Error::HttpProtocolError
        }
    }

    fn classify_body(&self, error: &hyper::Error) -> Error {
        if error.is_incomplete_message() {
            Error::HttpResponseIncomplete
        } else {
            Error::ConnectionTerminated
        }
    }
}

fn no_credentials() -> Error {
    Error::InternalError(Some(
        "the host has no AWS credentials to sign this request".into(),
    ))
}

/// Sets `host` to the form the client writes on the wire (no default port), so that a signature
/// covers exactly what is sent; the guest cannot set it (wasi:http forbids the header).
fn set_host(parts: &mut Parts) {
    let Some(authority) = parts.uri.authority() else {
        return;
    };
    let default = super::rules::default_port(parts.uri.scheme_str().unwrap_or(""));
    let host = match authority.port_u16() {
        Some(port) if Some(port) != default => format!("{}:{port}", authority.host()),
        _ => authority.host().to_owned(),
    };
    if let Ok(value) = HeaderValue::from_str(&host) {
        parts.headers.insert(HOST, value);
    }
}

fn describe(error: &Error) -> String {
    error.to_string()
}

fn log_end(
    target: &Target,
    status: Option<u16>,
    bytes: u64,
    started: Instant,
    error: Option<&Error>,
) {
    let error = error.map(describe);
    log_end_text(target, status, bytes, started, error.as_deref());
}

/// The one log line of a request.
fn log_end_text(
    target: &Target,
    status: Option<u16>,
    bytes: u64,
    started: Instant,
    error: Option<&str>,
) {
    let duration_ms = started.elapsed().as_secs_f64() * 1e3;
    let status = status.map_or_else(|| "-".to_owned(), |s| s.to_string());
    match error {
        None => tracing::info!(
            request_id = %target.request_id,
            method = %target.method,
            scheme = %target.scheme,
            host = %target.host,
            port = target.port,
            status = %status,
            bytes,
            duration_ms,
            "outbound request"
        ),
        Some(error) => tracing::warn!(
            request_id = %target.request_id,
            method = %target.method,
            scheme = %target.scheme,
            host = %target.host,
            port = target.port,
            status = %status,
            bytes,
            duration_ms,
            error,
            "outbound request failed"
        ),
    }
}
