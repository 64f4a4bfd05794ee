//! [`ApiError`]: every error the server answers with, and the one place its status is decided,
//! and how an invocation that ends in it ended ([`Outcome`]).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use thiserror::Error;
use wasm_agent_contract::{body, debug};
use wasm_agent_host::InvokeError;

use crate::config::RETRY_AFTER_SECS;
use crate::ended::Outcome;

/// An error answered with a JSON body.
#[derive(Debug, Error)]
pub enum ApiError {
    /// The body is not JSON.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// The body is not UTF-8.
    #[error("invalid encoding: {0}")]
    InvalidEncoding(String),
    /// The body could not be read.
    #[error("cannot read the request body: {0}")]
    UnreadableBody(String),
    /// The body is over the limit.
    #[error("the request body is over the limit of {0} bytes")]
    PayloadTooLarge(usize),
    /// The body stalled, or arrived too slowly to be waited for.
    #[error("the request body arrived too slowly")]
    BodyTimeout,
    /// No route has this path.
    #[error("not found")]
    NotFound,
    /// The route does not take this method.
    #[error("method not allowed")]
    MethodNotAllowed(&'static str),
    /// A debug action the SDK does not know.
    #[error("Unknown action: {0}")]
    UnknownAction(String),
    /// `/ws` on a handler without a WebSocket export: refused, as the SDK refuses it.
    #[error("this handler does not serve WebSocket connections")]
    NoWebSocket,
    /// A request to `/ws` that is not a valid WebSocket upgrade.
    #[error("not a WebSocket upgrade: {0}")]
    NotAWebSocket(String),
    /// The invocation failed.
    #[error(transparent)]
    Invocation(#[from] InvokeError),
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidJson(_) | Self::InvalidEncoding(_) | Self::UnreadableBody(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::UnknownAction(_) | Self::NotAWebSocket(_) => StatusCode::BAD_REQUEST,
            Self::NoWebSocket | Self::Invocation(InvokeError::Unsupported(_)) => {
                StatusCode::FORBIDDEN
            }
            _ if self.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Invocation(InvokeError::Guest { status, .. }) => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Self::Invocation(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Whether the server, not the request, is at fault for now: 503, and the client may retry
    /// (here later, or on another replica if this one is shutting down).
    fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Invocation(
                InvokeError::Busy
                    | InvokeError::Capacity(_)
                    | InvokeError::MemoryBudget(_)
                    | InvokeError::SessionBusy(_)
                    | InvokeError::ShuttingDown
            )
        )
    }

    /// How an invocation that ends in this error ended, for its log line.
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::Invocation(InvokeError::Timeout(_)) => Outcome::TimedOut,
            Self::Invocation(InvokeError::ShuttingDown) => Outcome::Cancelled,
            // Only a caller that went away cancels an invocation.
            Self::Invocation(InvokeError::Cancelled) => Outcome::ClientGone,
            // No instance was had: the guest never ran.
            Self::Invocation(
                InvokeError::Busy
                | InvokeError::Capacity(_)
                | InvokeError::SessionBusy(_)
                | InvokeError::Unsupported(_),
            ) => Outcome::Refused,
            Self::Invocation(_) => Outcome::Failed,
            _ => Outcome::Refused,
        }
    }

    /// A short name for the kind of error, for logs: the host's kind for a failed invocation.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidJson(_) => "InvalidJson",
            Self::InvalidEncoding(_) => "InvalidEncoding",
            Self::UnreadableBody(_) => "UnreadableBody",
            Self::PayloadTooLarge(_) => "PayloadTooLarge",
            Self::BodyTimeout => "BodyTimeout",
            Self::NotFound => "NotFound",
            Self::MethodNotAllowed(_) => "MethodNotAllowed",
            Self::UnknownAction(_) => "UnknownAction",
            Self::NoWebSocket => "NoWebSocket",
            Self::NotAWebSocket(_) => "NotAWebSocket",
            Self::Invocation(error) => error.kind(),
        }
    }

    /// The error as the server's log records it: for an internal failure, what failed, which
    /// the caller is not told.
    pub fn diagnostic(&self) -> String {
        match self {
            Self::Invocation(error) => error.diagnostic(),
            other => other.to_string(),
        }
    }

    /// The JSON body, in the SDK's compact style.
    pub fn body(&self) -> String {
        match self {
            Self::InvalidJson(details) => body::error_with_details(body::INVALID_JSON, details),
            Self::InvalidEncoding(details) => {
                body::error_with_details(body::INVALID_ENCODING, details)
            }
            Self::NotFound => body::error(body::NOT_FOUND),
            Self::UnknownAction(name) => debug::unknown_action_body(name),
            Self::MethodNotAllowed(_) => body::error(body::METHOD_NOT_ALLOWED),
            Self::Invocation(InvokeError::Guest { message, .. }) => body::error(message),
            other => body::error(&other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status(),
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.body(),
        )
            .into_response();
        let headers = response.headers_mut();
        match &self {
            _ if self.is_unavailable() => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
            }
            Self::MethodNotAllowed(allow) => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each error gets its status and the SDK's body.
    #[test]
    fn statuses_and_bodies() {
        let cases = [
            (
                ApiError::InvalidJson("x".into()),
                400,
                r#"{"error":"Invalid JSON","details":"x"}"#,
            ),
            (
                ApiError::InvalidEncoding("y".into()),
                400,
                r#"{"error":"Invalid encoding","details":"y"}"#,
            ),
            (ApiError::NotFound, 404, r#"{"error":"Not Found"}"#),
            (
                ApiError::MethodNotAllowed("POST"),
                405,
                r#"{"error":"Method Not Allowed"}"#,
            ),
            (
                ApiError::Invocation(InvokeError::Guest {
                    status: 418,
                    message: "teapot".into(),
                    error_type: None,
                }),
                418,
                r#"{"error":"teapot"}"#,
            ),
            (
                ApiError::Invocation(InvokeError::Busy),
                503,
                r#"{"error":"the server is busy"}"#,
            ),
            (
                ApiError::Invocation(InvokeError::ShuttingDown),
                503,
                r#"{"error":"the server is shutting down; try again"}"#,
            ),
            (
                ApiError::Invocation(InvokeError::MemoryBudget(1 << 30)),
                503,
                r#"{"error":"the server's memory budget for all handlers (1024 MiB) is in use; try again"}"#,
            ),
        ];
        for (error, status, body) in cases {
            assert_eq!(error.status().as_u16(), status, "{error:?}");
            assert_eq!(error.body(), body);
        }
    }

    /// Refusals, and work given up at shutdown, tell the client when to retry; 405 says what is
    /// allowed.
    #[test]
    fn retry_after_and_allow() {
        let busy = ApiError::Invocation(InvokeError::Busy).into_response();
        assert_eq!(busy.headers()[header::RETRY_AFTER], "1");
        let stopping = ApiError::Invocation(InvokeError::ShuttingDown).into_response();
        assert_eq!(stopping.headers()[header::RETRY_AFTER], "1");
        let wrong = ApiError::MethodNotAllowed("GET, HEAD").into_response();
        assert_eq!(wrong.headers()[header::ALLOW], "GET, HEAD");
    }

    /// A shutdown's cancellation is the server giving up, a caller's is the client leaving; a
    /// timeout and a refusal are told apart from a failure.
    #[test]
    fn outcomes() {
        let cases = [
            (
                ApiError::Invocation(InvokeError::ShuttingDown),
                Outcome::Cancelled,
            ),
            (
                ApiError::Invocation(InvokeError::Cancelled),
                Outcome::ClientGone,
            ),
            (
                ApiError::Invocation(InvokeError::Timeout(std::time::Duration::from_secs(1))),
                Outcome::TimedOut,
            ),
            (
                ApiError::Invocation(InvokeError::Trap("x".into())),
                Outcome::Failed,
            ),
            (
                ApiError::Invocation(InvokeError::SessionBusy(1)),
                Outcome::Refused,
            ),
            (ApiError::Invocation(InvokeError::Busy), Outcome::Refused),
            (ApiError::PayloadTooLarge(1), Outcome::Refused),
            (ApiError::InvalidJson("x".into()), Outcome::Refused),
        ];
        for (error, outcome) in cases {
            assert_eq!(error.outcome(), outcome, "{error:?}");
        }
    }
}
