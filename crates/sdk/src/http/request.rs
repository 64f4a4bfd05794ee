//! The request builder and the wasi:http calls that send it.

use std::time::Duration;

use serde::Serialize;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    self, FutureIncomingResponse, HeaderError, Method, OutgoingBody, OutgoingRequest,
    RequestOptions, Scheme,
};
use wasip2::io::streams::{OutputStream, StreamError};

use super::url::Target;
use super::{HttpError, HttpErrorKind, Response};

/// An outbound HTTP request being built; [`send`](Request::send) sends it and blocks until the
/// response's status and headers arrive.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    connect_timeout: Option<Duration>,
    first_byte_timeout: Option<Duration>,
    between_bytes_timeout: Option<Duration>,
    /// A builder step that failed (a value that would not serialize), reported by `send`.
    invalid: Option<String>,
}

impl Request {
    /// A request with this method (`"GET"`, `"POST"`, or any other token) to an `http://` or
    /// `https://` URL; both are checked when it is sent.
    pub fn new(method: &str, url: impl Into<String>) -> Self {
        Self {
            method: method.to_owned(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            connect_timeout: None,
            first_byte_timeout: None,
            between_bytes_timeout: None,
            invalid: None,
        }
    }

    /// Adds a header (a name may be given more than once). The host sets `host` and may
    /// replace `authorization` with its own credentials for the destination.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body to `value` as JSON, with `content-type: application/json`.
    pub fn json(mut self, value: &impl Serialize) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => {
                self.replace_header("content-type", "application/json");
                self.body(body)
            }
            Err(error) => {
                self.invalid = Some(format!("the JSON body would not serialize: {error}"));
                self
            }
        }
    }

    /// Sets the body, and `content-length` to its size.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        let length = self.body.len().to_string();
        self.replace_header("content-length", &length);
        self
    }

    /// Sets how long to wait for the response to start once the request is sent (wasi:http's
    /// first-byte timeout; the host's default otherwise).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.first_byte_timeout = Some(timeout);
        self
    }

    /// Sets how long connecting (TCP and TLS) may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Sets how long the response body may pause between two pieces, which bounds a stalled
    /// stream without limiting a long one.
    pub fn between_bytes_timeout(mut self, timeout: Duration) -> Self {
        self.between_bytes_timeout = Some(timeout);
        self
    }

    /// The method, as given.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The URL, as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The headers set so far, in order: what the guest sends before the host adds `host`
    /// (and perhaps replaces `authorization`).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    fn replace_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
    }

    /// Sends the request and blocks until the response's status and headers arrive; the body
    /// is read from the [`Response`].
    ///
    /// A status of 4xx or 5xx is a response, not an error: the error is for a request that
    /// got no response (refused by the host, unreachable, timed out, ...).
    pub fn send(self) -> Result<Response, HttpError> {
        if let Some(detail) = &self.invalid {
            return Err(HttpError::invalid(detail));
        }
        let target = Target::parse(&self.url).map_err(HttpError::invalid)?;
        let origin = target.origin();
        let request = self.outgoing_request(&target)?;
        let options = self.options()?;
        if self.body.is_empty() {
            // A request whose body is never taken goes out with none: no chunked encoding on
            // a GET, and no body for the host to wait on or to race the response with.
            let future = outgoing_handler::handle(request, options)
                .map_err(|code| HttpError::from_code(code, &origin))?;
            return receive(&future, origin);
        }
        let body = request
            .body()
            .map_err(|()| HttpError::new(HttpErrorKind::Other, "the request body was taken"))?;
        // The body is written only once the host has the request: the host buffers a bounded
        // amount of body, so writing a large one first would block forever.
        let future = outgoing_handler::handle(request, options)
            .map_err(|code| HttpError::from_code(code, &origin))?;
        // A write fails when the host refused the request and dropped its body; the response
        // future then holds the reason (e.g. denied), which says more than the write's failure.
        // If the server answered anyway, before reading the whole body, its answer stands.
        let _ = write_body(body, &self.body);
        receive(&future, origin)
    }

    fn outgoing_request(&self, target: &Target) -> Result<OutgoingRequest, HttpError> {
        let fields = types::Fields::new();
        for (name, value) in &self.headers {
            fields
                .append(name, value.as_bytes())
                .map_err(|error| match error {
                    HeaderError::Forbidden => HttpError::invalid(format!(
                        "the header {name:?} is set by the host; a guest cannot set it"
                    )),
                    _ => HttpError::invalid(format!("the header {name:?} is not valid HTTP")),
                })?;
        }
        let request = OutgoingRequest::new(fields);
        let scheme = if target.is_https {
            Scheme::Https
        } else {
            Scheme::Http
        };
        let method = method(&self.method)?;
        request
            .set_method(&method)
            .map_err(|()| HttpError::invalid(format!("the method {:?} is refused", self.method)))?;
        request
            .set_scheme(Some(&scheme))
            .and_then(|()| request.set_authority(Some(&target.authority)))
            .and_then(|()| request.set_path_with_query(Some(&target.path_with_query)))
            .map_err(|()| {
                HttpError::invalid(format!("the URL {:?} is refused", target.origin()))
            })?;
        Ok(request)
    }

    fn options(&self) -> Result<Option<RequestOptions>, HttpError> {
        let timeouts = [
            self.connect_timeout,
            self.first_byte_timeout,
            self.between_bytes_timeout,
        ];
        if timeouts.iter().all(Option::is_none) {
            return Ok(None);
        }
        let options = RequestOptions::new();
        fn refused(which: &'static str) -> impl Fn(()) -> HttpError {
            move |()| HttpError::invalid(format!("the host does not support a {which} timeout"))
        }
        if let Some(timeout) = self.connect_timeout {
            options
                .set_connect_timeout(Some(nanos(timeout)))
                .map_err(refused("connect"))?;
        }
        if let Some(timeout) = self.first_byte_timeout {
            options
                .set_first_byte_timeout(Some(nanos(timeout)))
                .map_err(refused("first-byte"))?;
        }
        if let Some(timeout) = self.between_bytes_timeout {
            options
                .set_between_bytes_timeout(Some(nanos(timeout)))
                .map_err(refused("between-bytes"))?;
        }
        Ok(Some(options))
    }
}

/// A request with method GET to `url`, to be sent with [`Request::send`].
pub fn get(url: impl Into<String>) -> Request {
    Request::new("GET", url)
}

/// A request with method POST to `url`, to be given a body and sent with [`Request::send`].
pub fn post(url: impl Into<String>) -> Request {
    Request::new("POST", url)
}

fn method(name: &str) -> Result<Method, HttpError> {
    let standard = [
        ("GET", Method::Get),
        ("HEAD", Method::Head),
        ("POST", Method::Post),
        ("PUT", Method::Put),
        ("DELETE", Method::Delete),
        ("CONNECT", Method::Connect),
        ("OPTIONS", Method::Options),
        ("TRACE", Method::Trace),
        ("PATCH", Method::Patch),
    ];
    if let Some((_, method)) = standard
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
    {
        return Ok(method);
    }
    // An HTTP token (RFC 9110 section 5.6.2).
    let is_token = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if is_token {
        Ok(Method::Other(name.to_owned()))
    } else {
        Err(HttpError::invalid(format!(
            "the method {name:?} is not an HTTP method"
        )))
    }
}

fn nanos(duration: Duration) -> types::Duration {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Writes the whole body as fast as the host takes it, then closes it.
fn write_body(body: OutgoingBody, bytes: &[u8]) -> Result<(), StreamError> {
    let stream = body.write().map_err(|()| StreamError::Closed)?;
    write_all(&stream, bytes)?;
    // The stream is the body's child: it goes first.
    drop(stream);
    OutgoingBody::finish(body, None).map_err(|_| StreamError::Closed)
}

fn write_all(stream: &OutputStream, mut bytes: &[u8]) -> Result<(), StreamError> {
    while !bytes.is_empty() {
        let permitted = loop {
            match stream.check_write()? {
                0 => stream.subscribe().block(),
                permitted => break permitted,
            }
        };
        let size = bytes
            .len()
            .min(usize::try_from(permitted).unwrap_or(usize::MAX));
        stream.write(&bytes[..size])?;
        bytes = &bytes[size..];
    }
    stream.blocking_flush()
}

/// Blocks until the response's status and headers arrive, or the request fails.
fn receive(future: &FutureIncomingResponse, origin: String) -> Result<Response, HttpError> {
    loop {
        match future.get() {
            Some(Ok(Ok(response))) => return Response::new(response, origin),
            Some(Ok(Err(code))) => return Err(HttpError::from_code(code, &origin)),
            Some(Err(())) => {
                return Err(HttpError::new(
                    HttpErrorKind::Other,
                    "the response was already taken",
                ));
            }
            // The pollable is the future's child, and a temporary: it goes first.
            None => future.subscribe().block(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Methods are matched without regard to case; other tokens pass, non-tokens do not.
    #[test]
    fn methods() -> Result<(), HttpError> {
        assert!(matches!(method("get")?, Method::Get));
        assert!(matches!(method("PATCH")?, Method::Patch));
        assert!(matches!(method("PROPFIND")?, Method::Other(m) if m == "PROPFIND"));
        for bad in ["", "GE T", "GET\n", "(GET)"] {
            let error = method(bad).err().map(|e| e.kind());
            assert_eq!(error, Some(HttpErrorKind::InvalidRequest), "{bad:?}");
        }
        Ok(())
    }

    /// The builder records what will be sent: a JSON body sets its content type and length once.
    #[test]
    fn builder_records_headers() {
        let request = post("https://example.com/")
            .header("Content-Type", "text/plain")
            .header("x-a", "1")
            .json(&serde_json::json!({ "a": 1 }));
        assert_eq!(request.method(), "POST");
        assert_eq!(request.url(), "https://example.com/");
        assert_eq!(
            request.headers(),
            [
                ("x-a".to_owned(), "1".to_owned()),
                ("content-type".to_owned(), "application/json".to_owned()),
                ("content-length".to_owned(), "7".to_owned()),
            ]
        );
    }
}
