//! Why an outbound request failed: the wasi:http `error-code` sorted into what a handler can
//! act on, with a message that names the destination but never its path, query or headers.

use std::fmt;

use wasip2::http::types::ErrorCode;

use crate::Failure;

/// What kind of failure an [`HttpError`] is: what a handler can act on.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpErrorKind {
    /// The host refused the destination: no operator rule (`--allow-outbound`) allows it.
    Denied,
    /// The connection, the response's first byte or the next body bytes took too long.
    Timeout,
    /// The host's limit on outbound requests open at once was reached.
    Limit,
    /// A body was larger than the host allows.
    TooLarge,
    /// The destination could not be reached or the connection broke: DNS, refused, reset,
    /// closed early, TLS.
    Connection,
    /// The server's reply broke HTTP, or was not what the handler asked to parse it as.
    Protocol,
    /// The request could not be built (URL, method, header or timeout), so it was not sent.
    InvalidRequest,
    /// Anything else, such as a failure inside the host.
    Other,
}

/// An outbound HTTP request that failed, with a message a person can act on.
#[derive(Debug)]
pub struct HttpError {
    kind: HttpErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl HttpError {
    /// What kind of failure this is.
    pub fn kind(&self) -> HttpErrorKind {
        self.kind
    }

    pub(crate) fn new(kind: HttpErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn invalid(detail: impl fmt::Display) -> Self {
        Self::new(
            HttpErrorKind::InvalidRequest,
            format!("invalid request: {detail}"),
        )
    }

    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Sorts a wasi:http error code for a request to `origin` (scheme://host:port).
    pub(crate) fn from_code(code: ErrorCode, origin: &str) -> Self {
        use HttpErrorKind as K;
        let (kind, message) = match &code {
            ErrorCode::HttpRequestDenied => (
                K::Denied,
                format!(
                    "the host denied the request to {origin} (no --allow-outbound rule allows it)"
                ),
            ),
            ErrorCode::DestinationIpProhibited => (
                K::Denied,
                format!(
                    "the host denied the request to {origin}: its name resolves to an address \
                     (loopback, private or link-local) that no rule names"
                ),
            ),
            ErrorCode::ConnectionLimitReached => (
                K::Limit,
                format!(
                    "the host refused the request to {origin}: this invocation made, or this \
                     handler has in flight, as many outbound requests as it may"
                ),
            ),
            ErrorCode::HttpResponseBodySize(limit) => (
                K::TooLarge,
                format!(
                    "the response from {origin} is larger than the host allows{}",
                    bytes_note(*limit)
                ),
            ),
            ErrorCode::HttpRequestBodySize(limit) => (
                K::TooLarge,
                format!(
                    "the request body to {origin} is larger than allowed{}",
                    bytes_note(*limit)
                ),
            ),
            ErrorCode::DnsTimeout => (K::Timeout, timed_out(origin, "resolving its name")),
            ErrorCode::ConnectionTimeout => (K::Timeout, timed_out(origin, "connecting")),
            ErrorCode::HttpResponseTimeout => (
                K::Timeout,
                timed_out(origin, "waiting for the response to start"),
            ),
            ErrorCode::ConnectionReadTimeout => (
                K::Timeout,
                timed_out(origin, "waiting for more of the response"),
            ),
            ErrorCode::ConnectionWriteTimeout => {
                (K::Timeout, timed_out(origin, "sending the request"))
            }
            ErrorCode::DnsError(dns) => (
                K::Connection,
                format!(
                    "could not resolve the host of {origin}{}",
                    dns.rcode
                        .as_deref()
                        .map(|rcode| format!(" ({rcode})"))
                        .unwrap_or_default()
                ),
            ),
            ErrorCode::DestinationNotFound | ErrorCode::DestinationUnavailable => {
                (K::Connection, format!("could not reach {origin}"))
            }
            ErrorCode::DestinationIpUnroutable => (
                K::Connection,
                format!("could not reach {origin}: its address is unroutable"),
            ),
            ErrorCode::ConnectionRefused => {
                (K::Connection, format!("{origin} refused the connection"))
            }
            ErrorCode::ConnectionTerminated | ErrorCode::HttpResponseIncomplete => (
                K::Connection,
                format!("the connection to {origin} closed before the response was complete"),
            ),
            ErrorCode::TlsProtocolError
            | ErrorCode::TlsCertificateError
            | ErrorCode::TlsAlertReceived(_) => (
                K::Connection,
                format!("the TLS handshake with {origin} failed ({code:?})"),
            ),
            ErrorCode::HttpRequestMethodInvalid
            | ErrorCode::HttpRequestUriInvalid
            | ErrorCode::HttpRequestUriTooLong
            | ErrorCode::HttpRequestLengthRequired
            | ErrorCode::HttpRequestHeaderSectionSize(_)
            | ErrorCode::HttpRequestHeaderSize(_)
            | ErrorCode::HttpRequestTrailerSectionSize(_)
            | ErrorCode::HttpRequestTrailerSize(_) => (
                K::InvalidRequest,
                format!("the request to {origin} is invalid ({code:?})"),
            ),
            ErrorCode::InternalError(Some(why)) => (
                K::Other,
                format!("the host failed the request to {origin}: {why}"),
            ),
            ErrorCode::ConfigurationError | ErrorCode::InternalError(None) => (
                K::Other,
                format!("the host failed the request to {origin} ({code:?})"),
            ),
            _ => (
                K::Protocol,
                format!("HTTP protocol error talking to {origin} ({code:?})"),
            ),
        };
        Self::new(kind, message).with_source(code)
    }
}

/// Recovers the error code of a failed body stream from the text of its `wasi:io` error.
///
/// `http-error-code` finds the code only when the host stored an `error-code` in the stream
/// error; wasmtime 48 stores its own error type there instead (whose display is this text), so
/// `http-error-code` answers none for the limits and timeouts a handler most needs to tell
/// apart. The texts are wasmtime-wasi-http's; an unknown one gives `None`.
pub(crate) fn code_from_stream_error(text: &str) -> Option<ErrorCode> {
    let line = text.lines().next().unwrap_or_default();
    let (head, detail) = line.split_once(": ").unwrap_or((line, ""));
    let bytes = detail.strip_suffix(" bytes").and_then(|n| n.parse().ok());
    Some(match head {
        "HTTP response body size exceeds limit" => ErrorCode::HttpResponseBodySize(bytes),
        "HTTP request body size exceeds limit" => ErrorCode::HttpRequestBodySize(bytes),
        "connection read timeout" => ErrorCode::ConnectionReadTimeout,
        "connection write timeout" => ErrorCode::ConnectionWriteTimeout,
        "connection timeout" => ErrorCode::ConnectionTimeout,
        "HTTP response timeout" => ErrorCode::HttpResponseTimeout,
        "connection limit reached" => ErrorCode::ConnectionLimitReached,
        "connection terminated" => ErrorCode::ConnectionTerminated,
        "incomplete HTTP response" => ErrorCode::HttpResponseIncomplete,
        "HTTP request denied" => ErrorCode::HttpRequestDenied,
        "HTTP protocol error" => ErrorCode::HttpProtocolError,
        _ => return None,
    })
}

fn bytes_note(limit: Option<u64>) -> String {
    limit
        .map(|bytes| format!(" ({bytes} bytes)"))
        .unwrap_or_default()
}

fn timed_out(origin: &str, doing: &str) -> String {
    format!("the request to {origin} timed out {doing}")
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HttpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

impl From<HttpError> for Failure {
    /// A 502: the handler depends on a service it could not get an answer from.
    fn from(error: HttpError) -> Self {
        Failure::new(502, error.to_string()).with_error_type("HttpError")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host's limits and refusals reach the handler as the kinds the host means by them.
    #[test]
    fn codes_sort_into_kinds() {
        let origin = "https://example.com:443";
        let cases = [
            (ErrorCode::HttpRequestDenied, HttpErrorKind::Denied),
            (ErrorCode::ConnectionLimitReached, HttpErrorKind::Limit),
            (
                ErrorCode::HttpResponseBodySize(Some(10)),
                HttpErrorKind::TooLarge,
            ),
            (ErrorCode::ConnectionTimeout, HttpErrorKind::Timeout),
            (ErrorCode::ConnectionReadTimeout, HttpErrorKind::Timeout),
            (ErrorCode::HttpResponseTimeout, HttpErrorKind::Timeout),
            (ErrorCode::ConnectionRefused, HttpErrorKind::Connection),
            (ErrorCode::TlsCertificateError, HttpErrorKind::Connection),
            (ErrorCode::HttpProtocolError, HttpErrorKind::Protocol),
            (
                ErrorCode::HttpRequestUriInvalid,
                HttpErrorKind::InvalidRequest,
            ),
            (ErrorCode::InternalError(None), HttpErrorKind::Other),
        ];
        for (code, kind) in cases {
            assert_eq!(HttpError::from_code(code, origin).kind(), kind);
        }
        let denied = HttpError::from_code(ErrorCode::HttpRequestDenied, origin);
        assert_eq!(
            denied.to_string(),
            "the host denied the request to https://example.com:443 \
             (no --allow-outbound rule allows it)"
        );
    }

    /// A stream error's text gives back the code wasmtime 48 does not attach to it.
    #[test]
    fn stream_error_texts_give_codes() {
        let kind = |text: &str| {
            code_from_stream_error(text).map(|code| HttpError::from_code(code, "o").kind())
        };
        let too_large =
            code_from_stream_error("HTTP response body size exceeds limit: 1048576 bytes");
        assert!(matches!(
            too_large,
            Some(ErrorCode::HttpResponseBodySize(Some(1_048_576)))
        ));
        assert_eq!(
            kind("HTTP response body size exceeds limit"),
            Some(HttpErrorKind::TooLarge)
        );
        assert_eq!(
            kind("connection read timeout"),
            Some(HttpErrorKind::Timeout)
        );
        assert_eq!(
            kind("connection timeout\n\nStack backtrace:\n..."),
            Some(HttpErrorKind::Timeout)
        );
        assert_eq!(kind("connection limit reached"), Some(HttpErrorKind::Limit));
        assert_eq!(kind("hyper error: connection closed"), None);
    }

    /// A failed request reaches the caller as a 502 naming the cause.
    #[test]
    fn becomes_a_502_failure() {
        let failure = Failure::from(HttpError::invalid("bad URL"));
        assert_eq!(failure.status, 502);
        assert_eq!(failure.message, "invalid request: bad URL");
        assert_eq!(failure.error_type.as_deref(), Some("HttpError"));
    }
}
