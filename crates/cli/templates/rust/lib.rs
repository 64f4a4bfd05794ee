use serde_json::{Value, json};
use wasm_agent_sdk::{Context, Failure, handler};

fn agent(payload: Value, ctx: &Context) -> Result<Value, Failure> {
    let prompt = payload["prompt"].as_str().unwrap_or_default().trim();
    if prompt.is_empty() {
        return Err(Failure::bad_request("the prompt is empty"));
    }
    Ok(json!({ "reply": format!("You said: {prompt}"), "session_id": ctx.session_id() }))
}

handler!(agent);
