//! An agent that calls a tool on an MCP server (streamable HTTP), relaying the tool's progress
//! notifications as events `{"progress", "total"?, "message"?}` as they arrive, then returning
//! `{"tool", "content", "isError", "structuredContent"?}`.
//!
//! Payload: `{"tool": "add", "arguments": {"a": 2, "b": 3}}` (`arguments` defaults to `{}`), or
//! `{"list": true}` for `{"tools": [names in the server's order]}`. `server` overrides the
//! endpoint the operator grants as `MCP_ENDPOINT`: the full URL of the server's MCP endpoint.
//!
//! A tool that fails (`isError`) is a result for the caller to read. A tool the server does not
//! list is a 404; a server that cannot be reached, refuses or breaks the protocol is a 502.
//!
//! ```sh
//! wasm-agent serve tool-agent.wasm --allow-outbound https://tools.example.com \
//!     --env MCP_ENDPOINT=https://tools.example.com/mcp
//! ```

mod mcp;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use wasm_agent_sdk::{Context, Failure, handler};

use mcp::{Implementation, McpError, Session};

/// How this agent introduces itself to MCP servers; the JavaScript tool agent uses the same
/// name, so a server's logs show one client.
const CLIENT: Implementation = Implementation {
    name: "wasm-agent-tool-agent",
    version: env!("CARGO_PKG_VERSION"),
};

#[derive(Deserialize)]
struct Ask {
    tool: Option<String>,
    arguments: Option<Map<String, Value>>,
    server: Option<String>,
    #[serde(default)]
    list: bool,
}

fn ask(ask: Ask, ctx: &Context) -> Result<Value, Failure> {
    let tool = match (&ask.tool, ask.list) {
        (_, true) => None,
        (Some(tool), false) => Some(tool.as_str()),
        (None, false) => {
            return Err(Failure::bad_request(
                "no tool: pass \"tool\" (and \"arguments\"), or \"list\": true",
            ));
        }
    };
    let endpoint = ask
        .server
        .clone()
        .or_else(|| std::env::var("MCP_ENDPOINT").ok())
        .filter(|endpoint| !endpoint.is_empty())
        .ok_or(Failure::internal(
            "no MCP server: grant MCP_ENDPOINT (wasm-agent serve --env MCP_ENDPOINT=...)",
        ))?;
    // Dropped on every way out, which ends the session on the server.
    let mut session = Session::connect(&endpoint, &CLIENT)?;
    let names: Vec<String> = session
        .list_tools()?
        .into_iter()
        .map(|tool| tool.name)
        .collect();
    let Some(tool) = tool else {
        return Ok(json!({ "tools": names }));
    };
    if !names.iter().any(|name| name == tool) {
        return Err(Failure::new(
            404,
            format!(
                "no tool {tool:?} on the MCP server; it has: {}",
                names.join(", ")
            ),
        )
        .with_error_type("ToolNotFound"));
    }
    let arguments = ask.arguments.unwrap_or_default();
    let result = session.call_tool(tool, arguments, |progress| ctx.emit(&progress))?;
    let mut reply = json!({ "tool": tool, "content": result.content, "isError": result.is_error });
    if let Some(structured) = result.structured_content {
        reply["structuredContent"] = structured;
    }
    Ok(reply)
}

impl From<McpError> for Failure {
    /// A 502, as any failure of a service the handler depends on; a caller that went away
    /// stays what it is.
    fn from(error: McpError) -> Self {
        match error {
            McpError::Http(error) => error.into(),
            McpError::Closed(closed) => closed.into(),
            error => Failure::new(502, error.to_string()).with_error_type("McpError"),
        }
    }
}

handler!(ask);
