use serde_json::{Value, json};
use wasm_agent_sdk::{Context, Failure, handler, http};

fn agent(payload: Value, ctx: &Context) -> Result<Value, Failure> {
    // An outbound call: the host sends it only to destinations its operator allows
    // (`wasm-agent serve --allow-outbound https://example.com`); any other is refused with a
    // clear error, which `?` turns into a 502 for the caller.
    if let Some(url) = payload["url"].as_str() {
        let response = http::get(url).send()?;
        let status = response.status();
        let body = response.text()?;
        return Ok(json!({ "status": status, "body": body.chars().take(200).collect::<String>() }));
    }
    let prompt = payload["prompt"].as_str().unwrap_or_default().trim();
    if prompt.is_empty() {
        return Err(Failure::bad_request("the prompt is empty"));
    }
    Ok(json!({ "reply": format!("You said: {prompt}"), "session_id": ctx.session_id() }))
}

handler!(agent);
