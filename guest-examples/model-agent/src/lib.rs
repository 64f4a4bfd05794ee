//! An agent that asks a model: an OpenAI-compatible `/chat/completions` endpoint, relaying each
//! token as an event `{"token": "..."}` as it arrives, or Amazon Bedrock's `Converse` (one
//! reply, no events). It returns `{"reply": "...", "model": "..."}`.
//!
//! Payload: `prompt` (required), optional `system`, and `"stream": false` to ask OpenAI for the
//! whole reply at once. `provider`, `endpoint` and `model` override what the operator grants as
//! `MODEL_PROVIDER` (`openai`, the default, or `bedrock`), `MODEL_ENDPOINT` and `MODEL_ID`.
//!
//! The guest holds no credentials: the host adds them to requests for the destinations the
//! operator names, and refuses every other destination.
//!
//! ```sh
//! wasm-agent serve model-agent.wasm --allow-outbound https://api.openai.com \
//!     --outbound-auth https://api.openai.com=bearer-env:OPENAI_API_KEY \
//!     --env MODEL_ID=gpt-4o-mini --env MODEL_ENDPOINT=https://api.openai.com/v1
//!
//! wasm-agent serve model-agent.wasm \
//!     --allow-outbound https://bedrock-runtime.us-east-1.amazonaws.com \
//!     --outbound-auth https://bedrock-runtime.us-east-1.amazonaws.com=sigv4:bedrock \
//!     --env MODEL_PROVIDER=bedrock \
//!     --env MODEL_ENDPOINT=https://bedrock-runtime.us-east-1.amazonaws.com \
//!     --env MODEL_ID=anthropic.claude-3-haiku-20240307-v1:0
//! ```

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use wasm_agent_sdk::http::{self, Request, Response};
use wasm_agent_sdk::{Context, Failure, handler};

/// Connecting takes milliseconds; longer means the endpoint is down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A model may think a while before its first token, but a stream that stalls this long mid-way
/// has failed.
const BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Deserialize)]
struct Ask {
    prompt: Option<String>,
    system: Option<String>,
    provider: Option<String>,
    endpoint: Option<String>,
    model: Option<String>,
    #[serde(default = "yes")]
    stream: bool,
}

fn yes() -> bool {
    true
}

fn ask(ask: Ask, ctx: &Context) -> Result<Value, Failure> {
    let prompt = ask
        .prompt
        .as_deref()
        .ok_or(Failure::bad_request("no prompt"))?;
    let provider = setting(&ask.provider, "MODEL_PROVIDER").unwrap_or_else(|| "openai".into());
    let model = setting(&ask.model, "MODEL_ID").ok_or(Failure::bad_request(
        "no model: pass \"model\" or grant MODEL_ID",
    ))?;
    let endpoint = setting(&ask.endpoint, "MODEL_ENDPOINT");
    let reply = match provider.as_str() {
        "openai" => {
            let endpoint = endpoint.unwrap_or_else(|| "https://api.openai.com/v1".into());
            openai(
                &endpoint,
                &model,
                prompt,
                ask.system.as_deref(),
                ask.stream,
                ctx,
            )?
        }
        "bedrock" => {
            let endpoint = endpoint.ok_or(Failure::bad_request(
                "no endpoint: pass \"endpoint\" or grant MODEL_ENDPOINT",
            ))?;
            bedrock(&endpoint, &model, prompt, ask.system.as_deref())?
        }
        other => return Err(Failure::bad_request(format!("unknown provider {other:?}"))),
    };
    Ok(json!({ "reply": reply, "model": model }))
}

/// The payload's value, else the environment's; empty counts as unset.
fn setting(given: &Option<String>, variable: &str) -> Option<String> {
    given
        .clone()
        .or_else(|| std::env::var(variable).ok())
        .filter(|value| !value.is_empty())
}

fn openai(
    endpoint: &str,
    model: &str,
    prompt: &str,
    system: Option<&str>,
    stream: bool,
    ctx: &Context,
) -> Result<String, Failure> {
    let mut messages = Vec::new();
    if let Some(system) = system {
        messages.push(json!({ "role": "system", "content": system }));
    }
    messages.push(json!({ "role": "user", "content": prompt }));
    let body = json!({ "model": model, "messages": messages, "stream": stream });
    let mut request = http::post(format!(
        "{}/chat/completions",
        endpoint.trim_end_matches('/')
    ));
    // The guest never holds the API key: the host attaches the real one
    // (`--outbound-auth https://api.openai.com=bearer-env:OPENAI_API_KEY`), replacing this
    // placeholder, which only shows where a client library would put its key.
    request = request.header("authorization", "Bearer placeholder-the-host-replaces");
    let response = checked(send(request.json(&body))?)?;
    if !stream {
        let reply: Value = response.json()?;
        return Ok(text_at(&reply, "/choices/0/message/content"));
    }
    let mut reply = String::new();
    for event in response.events() {
        let event = event?;
        if event.data == "[DONE]" {
            break;
        }
        let chunk: Value = serde_json::from_str(&event.data).map_err(|error| {
            bad_gateway(format!("the model sent an event that is not JSON: {error}"))
        })?;
        if let Some(error) = chunk.get("error") {
            return Err(bad_gateway(format!("the model failed mid-stream: {error}")));
        }
        let token = text_at(&chunk, "/choices/0/delta/content");
        if !token.is_empty() {
            ctx.emit(&json!({ "token": token }))?;
            reply.push_str(&token);
        }
    }
    Ok(reply)
}

fn bedrock(
    endpoint: &str,
    model: &str,
    prompt: &str,
    system: Option<&str>,
) -> Result<String, Failure> {
    let mut body = json!({ "messages": [{ "role": "user", "content": [{ "text": prompt }] }] });
    if let Some(system) = system {
        body["system"] = json!([{ "text": system }]);
    }
    // No credentials here: the host signs the request (SigV4) for the operator's endpoint.
    let url = format!(
        "{}/model/{}/converse",
        endpoint.trim_end_matches('/'),
        encode_path_segment(model)
    );
    let reply: Value = checked(send(http::post(url).json(&body))?)?.json()?;
    Ok(text_at(&reply, "/output/message/content/0/text"))
}

fn send(request: Request) -> Result<Response, http::HttpError> {
    request
        .connect_timeout(CONNECT_TIMEOUT)
        .between_bytes_timeout(BETWEEN_BYTES_TIMEOUT)
        .send()
}

/// Passes a 2xx response on; anything else fails with the status and the start of the body.
fn checked(response: Response) -> Result<Response, Failure> {
    let status = response.status();
    if (200..300).contains(&status) {
        return Ok(response);
    }
    let body = response.bytes().unwrap_or_default();
    let start = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    Err(bad_gateway(format!("the model answered {status}: {start}")))
}

fn bad_gateway(message: String) -> Failure {
    Failure::new(502, message).with_error_type("ModelError")
}

fn text_at(value: &Value, pointer: &str) -> String {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Percent-encodes all but the unreserved characters, as a model id's `:` must be in a path.
fn encode_path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

handler!(ask);
