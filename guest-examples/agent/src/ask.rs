//! The model mode, `{"ask": "..."}`: the prompt sent to an OpenAI-compatible chat completions
//! endpoint (`MODEL_ENDPOINT`, model `MODEL_ID`, both granted by the operator with `--env`),
//! each token relayed as an event `{"token": "..."}` the moment it arrives, then
//! `{"reply": "...", "model": "..."}`. `"endpoint"` in the payload overrides the grant.

use serde_json::{Value, json};
use wasm_agent_sdk::http;
use wasm_agent_sdk::{Context, Failure};

pub fn ask(prompt: &str, payload: &Value, ctx: &Context) -> Result<Value, Failure> {
    let endpoint = payload["endpoint"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| granted("MODEL_ENDPOINT"))
        .ok_or_else(|| missing("model endpoint", "MODEL_ENDPOINT"))?;
    let model = granted("MODEL_ID").ok_or_else(|| missing("model id", "MODEL_ID"))?;
    let body = json!({
        "model": model,
        "messages": [{ "role": "user", "content": prompt }],
        "stream": true,
    });
    let response = http::post(format!(
        "{}/chat/completions",
        endpoint.trim_end_matches('/')
    ))
    .header("accept", "text/event-stream")
    // The host replaces this with the operator's credential for the endpoint, if it has one:
    // the guest never holds a key.
    .header("authorization", "Bearer placeholder-the-host-replaces")
    .json(&body)
    .send()?;
    let status = response.status();
    if !(200..300).contains(&status) {
        let text = response.text().unwrap_or_default();
        let start: String = text.chars().take(200).collect();
        return Err(Failure::new(
            502,
            format!("the model answered {status}: {start}"),
        ));
    }
    let mut reply = String::new();
    for event in response.events() {
        let event = event?;
        if event.data == "[DONE]" {
            break;
        }
        let chunk: Value = serde_json::from_str(&event.data).map_err(|error| {
            Failure::new(
                502,
                format!("the model sent an event that is not JSON: {error}"),
            )
        })?;
        if let Some(error) = chunk.get("error") {
            return Err(Failure::new(
                502,
                format!("the model failed mid-stream: {error}"),
            ));
        }
        let token = chunk
            .pointer("/choices/0/delta/content")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !token.is_empty() {
            ctx.emit(&json!({ "token": token }))?;
            reply.push_str(token);
        }
    }
    Ok(json!({ "reply": reply, "model": model }))
}

/// An environment variable the operator granted; empty counts as not granted.
fn granted(variable: &str) -> Option<String> {
    std::env::var(variable)
        .ok()
        .filter(|value| !value.is_empty())
}

fn missing(what: &str, variable: &str) -> Failure {
    Failure::internal(format!(
        "no {what}: grant {variable} (wasm-agent serve --env {variable}=...)"
    ))
}
