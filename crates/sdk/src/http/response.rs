//! The response: status and headers at once, the body read whole or as it arrives.

use std::fmt;

use serde::de::DeserializeOwned;
use wasip2::http::types::{self, IncomingBody, IncomingResponse};
use wasip2::io::error::Error as IoError;
use wasip2::io::streams::{InputStream, StreamError};

use super::error::code_from_stream_error;
use super::{Events, HttpError, HttpErrorKind};

/// How much one read asks for: a read returns what has arrived, up to this, so it bounds a
/// chunk without delaying one (a model's token is a few hundred bytes).
const READ_SIZE: u64 = 64 * 1024;

/// The response to a [`Request`](super::Request): its status and headers, and its body still
/// to be read, whole ([`bytes`](Response::bytes), [`text`](Response::text),
/// [`json`](Response::json)) or as it arrives ([`chunks`](Response::chunks),
/// [`events`](Response::events)).
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Body,
}

/// The wasi resources of a response body, declared child first so that they drop in the order
/// wasi:http requires: the stream, then the body, then the response.
#[derive(Debug)]
struct Body {
    stream: InputStream,
    _body: IncomingBody,
    _response: IncomingResponse,
    /// scheme://host:port, for error messages.
    origin: String,
}

impl Response {
    pub(crate) fn new(response: IncomingResponse, origin: String) -> Result<Self, HttpError> {
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect();
        let taken = || HttpError::new(HttpErrorKind::Other, "the response body was taken");
        let body = response.consume().map_err(|()| taken())?;
        let stream = body.stream().map_err(|()| taken())?;
        Ok(Self {
            status,
            headers,
            body: Body {
                stream,
                _body: body,
                _response: response,
                origin,
            },
        })
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The value of the first header with this name, matched without regard to case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// All headers in the order received (values decoded as UTF-8, invalid bytes replaced).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// Reads the whole body.
    pub fn bytes(self) -> Result<Vec<u8>, HttpError> {
        let mut body = Vec::new();
        for chunk in self.chunks() {
            body.extend_from_slice(&chunk?);
        }
        Ok(body)
    }

    /// Reads the whole body as text (invalid UTF-8 replaced).
    pub fn text(self) -> Result<String, HttpError> {
        let bytes = self.bytes()?;
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned()))
    }

    /// Reads the whole body as JSON into `T`; a body that is not such JSON is a
    /// [`Protocol`](HttpErrorKind::Protocol) error.
    pub fn json<T: DeserializeOwned>(self) -> Result<T, HttpError> {
        let origin = self.body.origin.clone();
        let bytes = self.bytes()?;
        serde_json::from_slice(&bytes).map_err(|error| {
            HttpError::new(
                HttpErrorKind::Protocol,
                format!("the response from {origin} is not the JSON expected: {error}"),
            )
            .with_source(error)
        })
    }

    /// The body as it arrives: an iterator of the pieces, each as soon as it is read.
    pub fn chunks(self) -> Chunks {
        Chunks {
            body: Some(self.body),
        }
    }

    /// The body as server-sent events (`text/event-stream`), each as soon as it is complete.
    pub fn events(self) -> Events {
        Events::new(self.chunks())
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

/// An iterator over a response body as it arrives, made by [`Response::chunks`]: each item is
/// what one read returned (never empty).
///
/// It ends at the end of the body; an error reading the body is its last item. Dropping it
/// drops the body, unread or not.
#[derive(Debug)]
pub struct Chunks {
    /// `None` once the body has ended or failed: its resources are then dropped at once.
    body: Option<Body>,
}

impl Iterator for Chunks {
    type Item = Result<Vec<u8>, HttpError>;

    fn next(&mut self) -> Option<Self::Item> {
        let body = self.body.as_ref()?;
        loop {
            match body.stream.blocking_read(READ_SIZE) {
                Ok(chunk) if chunk.is_empty() => continue,
                Ok(chunk) => return Some(Ok(chunk)),
                Err(StreamError::Closed) => {
                    self.body = None;
                    return None;
                }
                Err(StreamError::LastOperationFailed(failure)) => {
                    let error = stream_error(&failure, &body.origin);
                    // The wasi:io error goes before the stream it came from.
                    drop(failure);
                    self.body = None;
                    return Some(Err(error));
                }
            }
        }
    }
}

/// Classifies a failed read of the body from `origin`.
fn stream_error(failure: &IoError, origin: &str) -> HttpError {
    let text = failure.to_debug_string();
    match types::http_error_code(failure).or_else(|| code_from_stream_error(&text)) {
        Some(code) => HttpError::from_code(code, origin),
        None => HttpError::new(
            HttpErrorKind::Connection,
            format!("reading the response from {origin} failed: {text}"),
        ),
    }
}

impl std::iter::FusedIterator for Chunks {}
