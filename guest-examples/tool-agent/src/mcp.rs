//! A small client for the Model Context Protocol over streamable HTTP (revision 2025-06-18):
//! one [`Session`] with one server, each exchange a blocking POST through the SDK's HTTP client.
//!
//! A request is one JSON-RPC message; the server answers it with one JSON message, or with
//! server-sent events that carry notifications (such as progress) before the response. The
//! session id the server gives at `initialize` goes with every later request, and the session
//! is ended with a DELETE when the `Session` is dropped.
//!
//! Not rmcp: its types and client compile for wasm32-wasip2, but its transport spawns tasks on a
//! tokio runtime, and a blocking handler has none (nor a reactor that drives wasi:io). The
//! protocol a tool call needs is a few messages, so the client is written here over the SDK.

mod error;
mod reply;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value, json};
use wasm_agent_sdk::Closed;
use wasm_agent_sdk::http::{self, Request, Response};

pub use error::McpError;
use reply::{checked, parse, read_reply};

/// The protocol revision this client speaks, and offers at `initialize`.
const PROTOCOL_VERSION: &str = "2025-06-18";
/// Streamable HTTP requires a client to accept both reply forms; the server picks per request.
const ACCEPT: &str = "application/json, text/event-stream";
const SESSION_HEADER: &str = "Mcp-Session-Id";
const VERSION_HEADER: &str = "MCP-Protocol-Version";
/// Connecting takes milliseconds; longer means the server is down. How long a tool may run is
/// left to the host's timeouts and the invocation's deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A bound on `tools/list` pages, so that a server repeating a cursor cannot loop us forever.
const MAX_PAGES: usize = 100;

/// Who the client is, as `initialize` tells the server.
#[derive(Debug, Serialize)]
pub struct Implementation<'a> {
    pub name: &'a str,
    pub version: &'a str,
}

/// A tool the server offers; serde skips what this client does not use (title, description,
/// schemas).
#[derive(Debug, Deserialize)]
pub struct Tool {
    pub name: String,
}

/// One `notifications/progress` for a call, with the fields the server gave.
#[derive(Debug, Deserialize, Serialize)]
pub struct Progress {
    pub progress: Number,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// What `tools/call` returned. A tool that failed says so with `is_error`: its failure is a
/// result for the model to read, not a protocol error.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResult {
    #[serde(default)]
    pub content: Vec<Value>,
    pub structured_content: Option<Value>,
    #[serde(default)]
    pub is_error: bool,
}

/// An open session with an MCP server, ended (DELETE) when dropped.
#[derive(Debug)]
pub struct Session {
    endpoint: String,
    /// What the server gave at `initialize`; a stateless server gives none.
    id: Option<String>,
    /// The revision the server chose at `initialize`, sent with every later request.
    protocol_version: Option<String>,
    next_request: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitializeResult {
    protocol_version: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ToolPage {
    tools: Vec<Tool>,
    next_cursor: Option<String>,
}

impl Session {
    /// Opens a session with the server at `endpoint` (the full URL of its MCP endpoint):
    /// `initialize`, then `notifications/initialized`.
    pub fn connect(endpoint: &str, client: &Implementation) -> Result<Self, McpError> {
        let mut session = Self {
            endpoint: endpoint.to_owned(),
            id: None,
            protocol_version: None,
            next_request: 1,
        };
        let params = json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": client,
        });
        let (id, response) = session.send_request("initialize", params)?;
        session.id = response.header(SESSION_HEADER).map(str::to_owned);
        let result = read_reply("initialize", id, response, &mut |_, _| Ok(()))?;
        let result: InitializeResult = parse("initialize", result)?;
        session.protocol_version = Some(result.protocol_version);
        session.notify("notifications/initialized")?;
        Ok(session)
    }

    /// Every tool the server offers, in its order, following `nextCursor` across pages.
    pub fn list_tools(&mut self) -> Result<Vec<Tool>, McpError> {
        let mut tools = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let params = match &cursor {
                Some(cursor) => json!({ "cursor": cursor }),
                None => json!({}),
            };
            let page: ToolPage = parse("tools/list", self.request("tools/list", params)?)?;
            tools.extend(page.tools);
            cursor = page.next_cursor;
            if cursor.is_none() {
                return Ok(tools);
            }
        }
        Err(McpError::protocol(
            "tools/list",
            format!("more than {MAX_PAGES} pages of tools"),
        ))
    }

    /// Calls the tool `name`, handing each progress notification for this call to
    /// `on_progress` as it arrives.
    pub fn call_tool(
        &mut self,
        name: &str,
        arguments: Map<String, Value>,
        mut on_progress: impl FnMut(Progress) -> Result<(), Closed>,
    ) -> Result<ToolResult, McpError> {
        let method = "tools/call";
        // The request's own id is a token no other call of this session uses.
        let token = Value::from(self.next_request);
        let params = json!({
            "name": name,
            "arguments": arguments,
            "_meta": { "progressToken": token },
        });
        let (id, response) = self.send_request(method, params)?;
        let result = read_reply(method, id, response, &mut |notification, params| {
            if notification != "notifications/progress" || params["progressToken"] != token {
                return Ok(());
            }
            // Progress is advice: a malformed notification is not worth failing the call for.
            match serde_json::from_value(params.clone()) {
                Ok(progress) => on_progress(progress).map_err(McpError::Closed),
                Err(_) => Ok(()),
            }
        })?;
        parse(method, result)
    }

    /// Sends a request and reads its reply, ignoring notifications.
    fn request(&mut self, method: &str, params: Value) -> Result<Value, McpError> {
        let (id, response) = self.send_request(method, params)?;
        read_reply(method, id, response, &mut |_, _| Ok(()))
    }

    /// Sends a request, returning its id and the response whose body holds the reply.
    fn send_request(&mut self, method: &str, params: Value) -> Result<(u64, Response), McpError> {
        let id = self.next_request;
        self.next_request += 1;
        let message = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let response = self.post(&message)?;
        Ok((id, checked(method, response)?))
    }

    /// Sends a notification, which the server accepts with 202 and no body.
    fn notify(&mut self, method: &str) -> Result<(), McpError> {
        let response = self.post(&json!({ "jsonrpc": "2.0", "method": method }))?;
        // Any success will do: some servers answer a notification with 200.
        checked(method, response)?.bytes()?;
        Ok(())
    }

    fn post(&self, message: &Value) -> Result<Response, McpError> {
        let request = self
            .with_session(http::post(&self.endpoint))
            .header("accept", ACCEPT)
            .json(message);
        Ok(request.connect_timeout(CONNECT_TIMEOUT).send()?)
    }

    /// Adds the session's headers, once `initialize` has given them.
    fn with_session(&self, mut request: Request) -> Request {
        if let Some(id) = &self.id {
            request = request.header(SESSION_HEADER, id);
        }
        if let Some(version) = &self.protocol_version {
            request = request.header(VERSION_HEADER, version);
        }
        request
    }
}

impl Drop for Session {
    /// Ends the session on the server. A failure is ignored: the server forgets the session in
    /// time anyway, and the spec lets it refuse (405) to end one on request.
    fn drop(&mut self) {
        if self.id.is_none() {
            return;
        }
        let request = self.with_session(Request::new("DELETE", &self.endpoint));
        if let Ok(response) = request.connect_timeout(CONNECT_TIMEOUT).send() {
            let _ = response.bytes();
        }
    }
}
