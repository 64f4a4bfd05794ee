//! `/ws`: a WebSocket connection served by the handler's `websocket` export, in an instance of
//! its own on the worker pool; this side moves messages and completes the closing handshake
//! however the connection ends.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{
    CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code,
};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use wasm_agent_host::{InvokeError, Message, RunningSocket, SocketInput};

use crate::error::ApiError;
use crate::state::AppState;
use crate::websockets::OpenWebSocket;

/// A close frame's reason may hold 123 bytes (RFC 6455, 5.5: 125 with the code).
const MAX_CLOSE_REASON: usize = 123;
/// How long a connection waits for the client to answer its close frame before it is dropped:
/// long enough for a client across the internet, short enough that one that never answers
/// holds up a shutdown only briefly.
const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// The reason sent with 1001 when the server shuts down.
const SHUTTING_DOWN: &str = "the server is shutting down";

/// Refuses the handshake if the handler has no WebSocket export (as the SDK does) or no
/// connection slot is free; otherwise starts the handler and upgrades.
pub(super) async fn upgrade(
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
    // Counted open from here, so a shutdown during the handshake waits for it too.
    let open = state.websockets().open();
    upgrade.on_upgrade(move |socket| bridge(socket, running, open))
}

/// Why the bridge stopped moving messages.
enum End {
    /// The handler ended: the connection closes with its outcome.
    Handler,
    /// The client closed the connection or went away: its close, if any, is answered.
    Client,
    /// The server is shutting down: 1001.
    Shutdown,
}

/// Moves messages both ways until the handler ends, the client closes or the server shuts
/// down, then completes the closing handshake. The client's messages are read on a task of
/// their own, so a guest that is slow to receive never stops its own messages from going out.
async fn bridge(socket: WebSocket, mut running: RunningSocket, mut open: OpenWebSocket) {
    let (mut sink, stream) = socket.split();
    let mut reader = tokio::spawn(read_client(stream, running.take_input()));
    let mut reader_done = false;
    let end = tokio::select! {
        end = relay(&mut sink, &mut running) => end,
        _ = &mut reader => {
            reader_done = true;
            End::Client
        }
        () = open.closing() => End::Shutdown,
    };
    let frame = match end {
        End::Handler => Some(close_frame(&running.outcome().await)),
        // The handler's `receive` says closed from now on, and it is cut off if it does not
        // return within the cancel grace; the host logs how it ended.
        End::Client => {
            running.cancel();
            None
        }
        End::Shutdown => {
            running.cancel();
            Some(CloseFrame {
                code: close_code::AWAY,
                reason: SHUTTING_DOWN.into(),
            })
        }
    };
    let closing = async {
        if let Some(frame) = frame {
            tracing::debug!(code = frame.code, reason = %frame.reason, "closing a WebSocket");
            // Refused if the client closed first: the reader answers its close instead.
            let _ = sink.send(WsMessage::Close(Some(frame))).await;
        }
        if !reader_done {
            // The reader takes the client's answer to our close, or sends the answer to its.
            let _ = (&mut reader).await;
        }
    };
    if tokio::time::timeout(CLOSE_WAIT, closing).await.is_err() {
        tracing::debug!("the WebSocket client did not answer the close in time");
        reader.abort();
    }
}

/// Sends the guest's messages to the client until its handler ends ([`End::Handler`]) or the
/// client can no longer be written to ([`End::Client`]).
async fn relay(sink: &mut SplitSink<WebSocket, WsMessage>, running: &mut RunningSocket) -> End {
    while let Some(message) = running.next_message().await {
        let message = match message {
            Message::Text(text) => WsMessage::Text(text.into()),
            Message::Binary(bytes) => WsMessage::Binary(bytes.into()),
        };
        if sink.send(message).await.is_err() {
            return End::Client;
        }
    }
    End::Handler
}

/// Hands the client's messages to the guest until the client closes or goes away, and reads on
/// until the connection ends: reading is what sends the answer to the client's close frame (the
/// echo of its code) and what takes the client's answer to ours.
async fn read_client(mut stream: SplitStream<WebSocket>, mut input: Option<SocketInput>) {
    while let Some(Ok(message)) = stream.next().await {
        let message = match message {
            WsMessage::Text(text) => Message::Text(text.as_str().to_owned()),
            WsMessage::Binary(bytes) => Message::Binary(bytes.to_vec()),
            WsMessage::Close(_) => {
                if let Some(input) = input.take() {
                    input.client_gone();
                }
                continue;
            }
            WsMessage::Ping(_) | WsMessage::Pong(_) => continue,
        };
        if let Some(to_guest) = &input
            && !to_guest.deliver(message).await
        {
            // The handler has ended; what the client still sends goes nowhere.
            input = None;
        }
    }
    if let Some(input) = input {
        input.client_gone();
    }
}

/// The close frame for how the handler ended. A failure's reason is the handler's own message,
/// as the HTTP error body is; anything else gets a sentence of ours, never the host's error
/// text (the host logs that in full).
fn close_frame(outcome: &Result<(), InvokeError>) -> CloseFrame {
    let (code, reason): (u16, Utf8Bytes) = match outcome {
        Ok(()) => (close_code::NORMAL, "".into()),
        Err(InvokeError::Guest { message, .. }) if !message.is_empty() => (
            close_code::ERROR,
            wasm_agent_contract::text::cut(message.clone(), MAX_CLOSE_REASON).into(),
        ),
        Err(error) => {
            let (code, reason) = match error {
                InvokeError::Timeout(_) => (close_code::ERROR, "the handler ran out of time"),
                InvokeError::Trap(_) | InvokeError::StackOverflow(_) => {
                    (close_code::ERROR, "the handler crashed")
                }
                InvokeError::OutOfMemory(_) => (close_code::ERROR, "the handler ran out of memory"),
                InvokeError::FuelExhausted(_) => {
                    (close_code::ERROR, "the handler used up its compute budget")
                }
                InvokeError::Guest { .. }
                | InvokeError::InvalidOutput(_)
                | InvokeError::OutputTooLarge(_)
                | InvokeError::TooManyTasks(_) => (close_code::ERROR, "the handler failed"),
                InvokeError::Internal(_) | InvokeError::Unsupported(_) => {
                    (close_code::ERROR, "internal server error")
                }
                // The server is out of room for now, not the handler at fault: 1013, try again.
                InvokeError::MemoryBudget(_)
                | InvokeError::Busy
                | InvokeError::Capacity(_)
                | InvokeError::SessionBusy(_) => {
                    (close_code::AGAIN, "the server is busy; try again later")
                }
                // Of a connection the client still holds, only shutdown stops the handler.
                InvokeError::ShuttingDown | InvokeError::Cancelled => {
                    (close_code::AWAY, SHUTTING_DOWN)
                }
            };
            (code, reason.into())
        }
    };
    CloseFrame { code, reason }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Each way a handler ends has its close code, and a reason that carries no host error
    /// text and fits in a close frame.
    #[test]
    fn close_frames_by_outcome() {
        let guest = |message: &str| InvokeError::Guest {
            status: 500,
            message: message.into(),
            error_type: None,
        };
        let cases = [
            (Ok(()), 1000, ""),
            (Err(guest("asked to fail")), 1011, "asked to fail"),
            (Err(guest("")), 1011, "the handler failed"),
            (
                Err(InvokeError::Timeout(Duration::from_secs(2))),
                1011,
                "the handler ran out of time",
            ),
            (
                Err(InvokeError::Trap("wasm backtrace: 0x1234".into())),
                1011,
                "the handler crashed",
            ),
            (
                Err(InvokeError::OutOfMemory(1 << 30)),
                1011,
                "the handler ran out of memory",
            ),
            (
                Err(InvokeError::Internal("join error".into())),
                1011,
                "internal server error",
            ),
            (
                Err(InvokeError::MemoryBudget(1 << 30)),
                1013,
                "the server is busy; try again later",
            ),
            (Err(InvokeError::ShuttingDown), 1001, SHUTTING_DOWN),
        ];
        for (outcome, code, reason) in cases {
            let frame = close_frame(&outcome);
            assert_eq!(
                (frame.code, frame.reason.as_str()),
                (code, reason),
                "{outcome:?}"
            );
        }
    }

    /// A long failure message is cut to what a close frame holds, on a character boundary.
    #[test]
    fn long_reasons_are_cut_to_fit() {
        let message = "é".repeat(100);
        let frame = close_frame(&Err(InvokeError::Guest {
            status: 500,
            message,
            error_type: None,
        }));
        assert_eq!(frame.reason.as_str().len(), 122);
        assert!(frame.reason.as_str().chars().all(|c| c == 'é'));
    }
}
