//! `/ws`: a WebSocket connection served by the handler's `websocket` export, in an instance of
//! its own on the worker pool; this side only moves messages.

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use wasm_agent_host::{Message, RunningSocket};

use crate::error::ApiError;
use crate::state::AppState;

/// Normal closure: the handler returned.
const CLOSE_NORMAL: u16 = 1000;
/// Internal error: the handler failed or trapped, as the SDK closes it.
const CLOSE_INTERNAL_ERROR: u16 = 1011;
/// A close frame's reason may hold 123 bytes.
const MAX_CLOSE_REASON: usize = 123;

/// Refuses the handshake if the handler has no WebSocket export (as the SDK does) or no
/// connection slot is free; otherwise starts the handler and upgrades.
pub async fn upgrade(
    State(state): State<AppState>,
    request_headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if !state.host().has_websocket() {
        return ApiError::NoWebSocket.into_response();
    }
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return ApiError::NotAWebSocket(rejection.body_text()).into_response(),
    };
    let context = super::context(&request_headers);
    let running = match state.host().connect(context, state.config().stream_timeout) {
        Ok(running) => running,
        Err(error) => return ApiError::from(error).into_response(),
    };
    upgrade.on_upgrade(move |socket| bridge(socket, running))
}

/// Moves messages both ways until the handler ends, then closes with its outcome. The client's
/// messages are read on a task of their own, so a guest that is slow to receive never stops its
/// own messages from going out.
async fn bridge(socket: WebSocket, mut running: RunningSocket) {
    let (mut sink, mut stream) = socket.split();
    let reader = running.take_input().map(|input| {
        tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let message = match message {
                    WsMessage::Text(text) => Message::Text(text.as_str().to_owned()),
                    WsMessage::Binary(bytes) => Message::Binary(bytes.to_vec()),
                    WsMessage::Close(_) => break,
                    WsMessage::Ping(_) | WsMessage::Pong(_) => continue,
                };
                if !input.deliver(message).await {
                    return;
                }
            }
            input.client_gone();
        })
    });
    while let Some(message) = running.next_message().await {
        let message = match message {
            Message::Text(text) => WsMessage::Text(text.into()),
            Message::Binary(bytes) => WsMessage::Binary(bytes.into()),
        };
        if sink.send(message).await.is_err() {
            running.cancel();
            break;
        }
    }
    let outcome = running.outcome().await;
    if let Some(reader) = reader {
        reader.abort();
    }
    let frame = match outcome {
        Ok(()) => CloseFrame {
            code: CLOSE_NORMAL,
            reason: "".into(),
        },
        Err(error) => CloseFrame {
            code: CLOSE_INTERNAL_ERROR,
            reason: truncate(error.to_string(), MAX_CLOSE_REASON).into(),
        },
    };
    let _ = sink.send(WsMessage::Close(Some(frame))).await;
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}
