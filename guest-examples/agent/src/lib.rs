//! The default example agent (`make serve`): answers `{"prompt": "..."}` with a JSON reply, or,
//! with `"stream": true`, streams the answer word by word as server-sent events.

use serde::Deserialize;
use serde_json::{Value, json};
use wasm_agent_sdk::{Context, Failure, handler};

#[derive(Deserialize)]
struct Request {
    prompt: String,
    #[serde(default)]
    stream: bool,
}

fn agent(request: Request, ctx: &Context) -> Result<Value, Failure> {
    if request.prompt.trim().is_empty() {
        return Err(Failure::bad_request("the prompt is empty").with_error_type("ValidationError"));
    }
    let answer = format!("You said: {}", request.prompt.trim());
    if request.stream {
        for word in answer.split_whitespace() {
            ctx.emit(&json!({ "token": word }))?;
        }
        return Ok(json!({ "done": true }));
    }
    Ok(json!({
        "reply": answer,
        "session_id": ctx.session_id(),
        "request_id": ctx.request_id(),
    }))
}

handler!(agent);
