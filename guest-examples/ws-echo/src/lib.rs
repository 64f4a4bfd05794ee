//! Echoes WebSocket messages, text and binary. A few texts are commands: `context` replies with
//! the context the handler saw, `spin` loops forever, `fail` fails the handler, `panic` traps,
//! `bye` returns. `/invocations` echoes the payload.

use serde_json::{Value, json};
use wasm_agent_sdk::{Context, Failure, Message, Socket, handler};

fn invoke(payload: Value, _ctx: &Context) -> Result<Value, Failure> {
    Ok(json!({ "payload": payload }))
}

fn serve(socket: &Socket, ctx: &Context) -> Result<(), Failure> {
    while let Some(message) = socket.receive() {
        match &message {
            Message::Text(text) if text == "context" => {
                let context = json!({
                    "request_id": ctx.request_id(),
                    "session_id": ctx.session_id(),
                    "headers": ctx.headers(),
                });
                socket.send_text(&context.to_string())?;
            }
            Message::Text(text) if text == "spin" => {
                let mut counter = 0u64;
                loop {
                    counter = std::hint::black_box(counter.wrapping_add(1));
                }
            }
            Message::Text(text) if text == "fail" => {
                return Err(Failure::internal("asked to fail"));
            }
            Message::Text(text) if text == "panic" => panic!("asked to panic"),
            Message::Text(text) if text == "bye" => return Ok(()),
            _ => socket.send(&message)?,
        }
    }
    Ok(())
}

handler!(invoke, websocket: serve);
