//! Replies with the status, content type, headers and body the payload gives: the SDK's
//! `Response` passthrough. Without a content type the body is the payload's `json` value.

use serde::Deserialize;
use serde_json::Value;
use wasm_agent_sdk::{Context, Failure, Response, handler};

#[derive(Deserialize)]
struct Request {
    status: u16,
    content_type: Option<String>,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    text: String,
    #[serde(default)]
    json: Value,
}

fn respond(request: Request, _ctx: &Context) -> Result<Response, Failure> {
    let mut response = match &request.content_type {
        Some(content_type) => Response::text(request.status, content_type, request.text),
        None => Response::json(request.status, &request.json)?,
    };
    for (name, value) in &request.headers {
        response = response.header(name, value);
    }
    Ok(response)
}

handler!(respond);
