//! Reading the server's reply to a request: one JSON-RPC message, or server-sent events that
//! carry notifications before the response.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use wasm_agent_sdk::http::Response;

use super::McpError;

/// How much of an error body a message quotes: enough to show the server's reason.
const QUOTED_BODY: usize = 200;

/// A JSON-RPC message from the server: a response (`id` with `result` or `error`), a
/// notification (`method` alone) or a request (`method` and `id`).
#[derive(Debug, Deserialize)]
struct Message {
    id: Option<Value>,
    method: Option<String>,
    #[serde(default)]
    params: Value,
    result: Option<Value>,
    error: Option<RpcError>,
}

#[derive(Debug, Deserialize)]
struct RpcError {
    code: i64,
    message: String,
}

/// Passes a 2xx response on; anything else fails with the status and the start of the body.
pub(super) fn checked(method: &str, response: Response) -> Result<Response, McpError> {
    let status = response.status();
    if (200..300).contains(&status) {
        return Ok(response);
    }
    let body = response.bytes().unwrap_or_default();
    let body = String::from_utf8_lossy(&body[..body.len().min(QUOTED_BODY)]).into_owned();
    Err(McpError::Status {
        method: method.to_owned(),
        status,
        body,
    })
}

/// Reads the reply to request `id`: one JSON message, or an event stream in which
/// notifications come first (each handed to `on_notification` as it arrives) and unrelated
/// messages are skipped. The stream is left once the response is in.
pub(super) fn read_reply(
    method: &str,
    id: u64,
    response: Response,
    on_notification: &mut dyn FnMut(&str, &Value) -> Result<(), McpError>,
) -> Result<Value, McpError> {
    let content_type = response
        .header("content-type")
        .unwrap_or_default()
        .to_ascii_lowercase();
    if has_media_type(&content_type, "application/json") {
        let message: Message = response.json()?;
        if !message.answers(id) {
            return Err(McpError::protocol(
                method,
                "the reply answers another request",
            ));
        }
        return message.into_result(method);
    }
    if !has_media_type(&content_type, "text/event-stream") {
        return Err(McpError::protocol(
            method,
            format!("the reply's content type is {content_type:?}"),
        ));
    }
    for event in response.events() {
        let event = event?;
        // An event without data primes the stream (its id lets a client resume), no message.
        if event.data.is_empty() {
            continue;
        }
        let message: Message = serde_json::from_str(&event.data).map_err(|error| {
            McpError::protocol(
                method,
                format!("an event is not a JSON-RPC message: {error}"),
            )
        })?;
        if message.answers(id) {
            return message.into_result(method);
        }
        if let (Some(notification), None) = (&message.method, &message.id) {
            on_notification(notification, &message.params)?;
        }
    }
    Err(McpError::protocol(
        method,
        "the event stream ended before the response",
    ))
}

fn has_media_type(content_type: &str, media_type: &str) -> bool {
    content_type.split(';').next().map(str::trim) == Some(media_type)
}

pub(super) fn parse<T: DeserializeOwned>(method: &str, value: Value) -> Result<T, McpError> {
    serde_json::from_value(value)
        .map_err(|error| McpError::protocol(method, format!("unexpected result: {error}")))
}

impl Message {
    /// A response to request `id`, or an error the server could not tie to any request (its
    /// id null), which can only be about the request just sent.
    fn answers(&self, id: u64) -> bool {
        if self.method.is_some() {
            return false;
        }
        match &self.id {
            Some(given) => *given == id,
            None => self.error.is_some(),
        }
    }

    fn into_result(self, method: &str) -> Result<Value, McpError> {
        match (self.result, self.error) {
            (_, Some(error)) => Err(McpError::Refused {
                method: method.to_owned(),
                code: error.code,
                message: error.message,
            }),
            (Some(result), None) => Ok(result),
            (None, None) => Err(McpError::protocol(
                method,
                "the response has neither result nor error",
            )),
        }
    }
}
