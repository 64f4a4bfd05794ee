use serde::Serialize;

use crate::Failure;
use crate::bindings::wasm_agent::handler::host;
use crate::bindings::wasm_agent::handler::types::ReplyHead;

/// Marks a handler that has sent everything as events: nothing follows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Done;

/// A reply whose status, content type and headers the handler chooses (the SDK's `Response`
/// passthrough). Applies only when the handler emitted no events: a stream is always `200`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    status: u16,
    content_type: Option<String>,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    /// A JSON reply with this status.
    pub fn json<T: Serialize + ?Sized>(status: u16, body: &T) -> Result<Self, Failure> {
        Ok(Self {
            status,
            content_type: None,
            headers: Vec::new(),
            body: serde_json::to_string(body)?,
        })
    }

    /// A reply of any content type; the body is sent as it is.
    pub fn text(status: u16, content_type: &str, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: Some(content_type.to_owned()),
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

impl Reply for Response {
    fn into_json(self) -> Result<Option<String>, Failure> {
        host::set_reply_head(&ReplyHead {
            status: self.status,
            content_type: self.content_type,
            headers: self.headers,
        });
        Ok(Some(self.body))
    }
}

/// What a handler may return: any `Serialize` value (sent as JSON), [`Done`] or a [`Response`].
pub trait Reply {
    /// The JSON text to send after any events, or none.
    fn into_json(self) -> Result<Option<String>, Failure>;
}

impl<T: Serialize> Reply for T {
    fn into_json(self) -> Result<Option<String>, Failure> {
        Ok(Some(serde_json::to_string(&self)?))
    }
}

impl Reply for Done {
    fn into_json(self) -> Result<Option<String>, Failure> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any Serialize value becomes its JSON text; `Done` sends nothing.
    #[test]
    fn replies_serialize_or_send_nothing() {
        assert_eq!(
            serde_json::json!({"a": 1}).into_json(),
            Ok(Some("{\"a\":1}".into()))
        );
        assert_eq!("text".into_json(), Ok(Some("\"text\"".into())));
        assert_eq!(().into_json(), Ok(Some("null".into())));
        assert_eq!(Done.into_json(), Ok(None));
        let response = Response::text(201, "text/plain", "hi").header("x-a", "b");
        assert_eq!(response.status, 201);
        assert_eq!(response.headers, vec![("x-a".to_owned(), "b".to_owned())]);
    }
}
