//! Why an exchange with the MCP server failed, worded for the agent's caller.

use std::fmt;

use wasm_agent_sdk::Closed;
use wasm_agent_sdk::http::HttpError;

/// Why an exchange with the server failed.
#[derive(Debug)]
pub enum McpError {
    /// The request got no HTTP response: denied by the host, unreachable, timed out.
    Http(HttpError),
    /// The server answered with an HTTP status other than success.
    Status {
        method: String,
        status: u16,
        body: String,
    },
    /// The server answered with a JSON-RPC error.
    Refused {
        method: String,
        code: i64,
        message: String,
    },
    /// The server's reply was not the MCP message expected.
    Protocol { method: String, detail: String },
    /// The caller went away while progress was being relayed.
    Closed(Closed),
}

impl McpError {
    pub(super) fn protocol(method: &str, detail: impl Into<String>) -> Self {
        Self::Protocol {
            method: method.to_owned(),
            detail: detail.into(),
        }
    }
}

impl From<HttpError> for McpError {
    fn from(error: HttpError) -> Self {
        Self::Http(error)
    }
}

impl fmt::Display for McpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Http(error) => error.fmt(f),
            Self::Status {
                method,
                status,
                body,
            } => {
                write!(f, "the MCP server answered {status} to {method}")?;
                if body.is_empty() {
                    Ok(())
                } else {
                    write!(f, ": {body}")
                }
            }
            Self::Refused {
                method,
                code,
                message,
            } => write!(
                f,
                "the MCP server refused {method}: {message} (code {code})"
            ),
            Self::Protocol { method, detail } => {
                write!(
                    f,
                    "the MCP server's reply to {method} is not valid MCP: {detail}"
                )
            }
            Self::Closed(closed) => closed.fmt(f),
        }
    }
}

impl std::error::Error for McpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Http(error) => Some(error),
            Self::Closed(closed) => Some(closed),
            _ => None,
        }
    }
}
