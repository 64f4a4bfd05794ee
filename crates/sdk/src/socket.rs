//! The `/ws` connection a WebSocket handler serves.

use crate::Closed;
use crate::bindings::wasm_agent::handler::socket;
use crate::bindings::wasm_agent::handler::types::{EmitError, Message as RawMessage};

/// One WebSocket message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
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
        socket::receive().map(|message| match message {
            RawMessage::Text(text) => Message::Text(text),
            RawMessage::Binary(bytes) => Message::Binary(bytes),
        })
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
