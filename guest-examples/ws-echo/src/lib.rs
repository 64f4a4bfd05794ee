//! Echoes WebSocket messages, text and binary. A few texts are commands: `context` replies with
//! the context the handler saw, `tick` sends `tick 1` to `tick 3`, one per 100 ms without a
//! message, `schedule` schedules background work (which logs `ws job ran`) and replies
//! `scheduled`, `spin` loops forever, `fail` fails the handler, `panic` traps, `bye` returns.
//! When `receive` says the connection is closed it logs `ws-echo: receive says closed` and
//! returns. `/invocations` echoes the payload.

use std::time::Duration;

use serde_json::{Value, json};
use wasm_agent_sdk::{Context, Failure, Message, Received, Socket, handler};

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
            Message::Text(text) if text == "tick" => {
                for tick in 1..=3 {
                    match socket.receive_timeout(Duration::from_millis(100)) {
                        Received::TimedOut => socket.send_text(&format!("tick {tick}"))?,
                        Received::Message(message) => socket.send(&message)?,
                        Received::Closed => return closed(),
                    }
                }
            }
            Message::Text(text) if text == "schedule" => {
                ctx.schedule("ws-job", &json!({}))?;
                socket.send_text("scheduled")?;
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
    closed()
}

/// Ends a connection the client (or the host) has closed, saying so in the log for the tests.
fn closed() -> Result<(), Failure> {
    println!("ws-echo: receive says closed");
    Ok(())
}

fn job(task: &str, _input: Value, _ctx: &Context) -> Result<(), Failure> {
    println!("ws job ran: {task}");
    Ok(())
}

handler!(invoke, background: job, websocket: serve);
