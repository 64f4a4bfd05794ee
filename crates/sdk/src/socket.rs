//! The `/ws` connection a WebSocket handler serves.

use std::time::Duration;

use crate::Closed;
use crate::bindings::wasm_agent::handler::socket::{self, Received as RawReceived};
use crate::bindings::wasm_agent::handler::types::{EmitError, Message as RawMessage};

/// One WebSocket message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

/// What [`Socket::receive_timeout`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// The client's next message.
    Message(Message),
    /// Nothing came within the timeout.
    TimedOut,
    /// The client has closed the connection or gone away.
    Closed,
}

fn receive(timeout_ms: Option<u32>) -> Received {
    match socket::receive(timeout_ms) {
        RawReceived::Message(RawMessage::Text(text)) => Received::Message(Message::Text(text)),
        RawReceived::Message(RawMessage::Binary(bytes)) => {
            Received::Message(Message::Binary(bytes))
        }
        RawReceived::TimedOut => Received::TimedOut,
        RawReceived::Closed => Received::Closed,
    }
}

/// The client connection: receive its messages, send yours.
#[derive(Debug)]
pub struct Socket {
    _private: (),
}

impl Socket {
    pub(crate) fn new() -> Self {
        Self { _private: () }
    }

    /// Waits for the client's next message; `None` once it has closed the connection.
    pub fn receive(&self) -> Option<Message> {
        match receive(None) {
            Received::Message(message) => Some(message),
            Received::TimedOut | Received::Closed => None,
        }
    }

    /// Waits at most `timeout` for the client's next message, so a handler can do other work
    /// (send a heartbeat, stream the next part of an answer) between messages.
    pub fn receive_timeout(&self, timeout: Duration) -> Received {
        receive(Some(u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX)))
    }

    /// Sends one message; fails once the connection is gone.
    pub fn send(&self, message: &Message) -> Result<(), Closed> {
        let raw = match message {
            Message::Text(text) => RawMessage::Text(text.clone()),
            Message::Binary(bytes) => RawMessage::Binary(bytes.clone()),
        };
        socket::send(&raw).map_err(|EmitError::Closed| Closed)
    }

    /// Sends one text message.
    pub fn send_text(&self, text: &str) -> Result<(), Closed> {
        socket::send(&RawMessage::Text(text.to_owned())).map_err(|EmitError::Closed| Closed)
    }
}
