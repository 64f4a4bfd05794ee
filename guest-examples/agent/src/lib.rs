//! The default example agent (`make serve`), written the same way in Python, JavaScript and C
//! (`guest-examples/python`, `js`, `c`), which the conformance tests hold to the same replies:
//!
//! - `{"prompt": "..."}`: a JSON reply; with `"stream": true`, the answer word by word as
//!   server-sent events;
//! - `{"echo": X}`: X back, with the context the handler saw;
//! - `{"fail": {"status": S, "message": M}}`: a failure with that status;
//! - `{"raise": M}`: an error the handler did not expect (a 500 with M);
//! - `{"ask": "..."}`: the prompt sent to a model, its tokens streamed as they arrive (`ask`).

mod ask;

use serde_json::{Value, json};
use wasm_agent_sdk::{Context, Done, Failure, Reply, handler};

/// A JSON reply, or nothing after the streamed events.
enum Answer {
    Json(Value),
    Streamed,
}

impl Reply for Answer {
    fn into_json(self) -> Result<Option<String>, Failure> {
        match self {
            Self::Json(value) => value.into_json(),
            Self::Streamed => Done.into_json(),
        }
    }
}

fn agent(payload: Value, ctx: &Context) -> Result<Answer, Failure> {
    if let Some(echo) = payload.get("echo") {
        return Ok(Answer::Json(json!({
            "echo": echo,
            "context": {
                "request_id": ctx.request_id(),
                "session_id": ctx.session_id(),
                "headers": ctx.headers(),
            },
        })));
    }
    if let Some(fail) = payload.get("fail") {
        let status = fail["status"].as_u64().unwrap_or(500);
        let message = fail["message"].as_str().unwrap_or_default();
        return Err(Failure::new(u16::try_from(status).unwrap_or(500), message));
    }
    if let Some(message) = payload.get("raise") {
        let message = message.as_str().unwrap_or_default();
        return Err(Failure::internal(message).with_error_type("Error"));
    }
    if let Some(prompt) = payload.get("ask") {
        let prompt = prompt.as_str().unwrap_or_default();
        return ask::ask(prompt, &payload, ctx).map(Answer::Json);
    }
    let Some(prompt) = payload.get("prompt") else {
        return Err(Failure::bad_request("unknown request"));
    };
    let prompt = prompt.as_str().unwrap_or_default().trim();
    if prompt.is_empty() {
        return Err(Failure::bad_request("the prompt is empty").with_error_type("ValidationError"));
    }
    let answer = format!("You said: {prompt}");
    if payload["stream"] == true {
        for word in answer.split_whitespace() {
            ctx.emit(&json!({ "token": word }))?;
        }
        return Ok(Answer::Streamed);
    }
    Ok(Answer::Json(json!({
        "reply": answer,
        "session_id": ctx.session_id(),
        "request_id": ctx.request_id(),
    })))
}

handler!(agent);
