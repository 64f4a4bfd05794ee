//! Tool agents calling the mock MCP server through the real server: each agent in
//! [`TOOL_AGENTS`] keeps the same contract (payload, result, events, failures) and speaks
//! streamable HTTP as the spec says.

use std::time::Duration;

use serde_json::{Value, json};

use crate::mock_mcp::{MockMcp, PROTOCOL_VERSION};
use crate::server::{Server, read_chunk};
use crate::support::{TestResult, eventually};

/// The tool agents, one per language, that share the contract these tests check.
const TOOL_AGENTS: &[&str] = &["tool-agent", "js-tool-agent"];

/// How long a test waits for what it expects before failing: far more than a passing run
/// needs, so only a broken agent reaches it.
const WAIT: Duration = Duration::from_secs(10);

/// `agent` served with the mock as its granted endpoint, allowed to reach it and nothing else.
fn serve(agent: &str, mock: &MockMcp) -> Result<Server, Box<dyn std::error::Error>> {
    let url = mock.url();
    let endpoint = format!("MCP_ENDPOINT={}", mock.endpoint());
    Server::start(agent, &["--allow-outbound", &url, "--env", &endpoint])
}

/// Invokes `agent`'s server, expecting 200 and one JSON result (no events).
fn call(server: &Server, agent: &str, payload: Value) -> Result<Value, Box<dyn std::error::Error>> {
    let response = server.invoke(&payload.to_string())?;
    assert_eq!(response.status, 200, "{agent}: {}", response.text());
    let content_type = response.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{agent}: {content_type}"
    );
    Ok(response.json()?)
}

/// Invokes `agent`'s server, expecting a failure with `status`; returns its error message.
fn refused(
    server: &Server,
    agent: &str,
    payload: Value,
    status: u16,
) -> Result<String, Box<dyn std::error::Error>> {
    let response = server.invoke(&payload.to_string())?;
    assert_eq!(response.status, status, "{agent}: {}", response.text());
    let error = response.json()?["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    Ok(error)
}

/// The JSON of one streamed event, as one chunk `data: {...}\n\n` of the reply.
fn event(chunk: &[u8]) -> Result<Value, Box<dyn std::error::Error>> {
    let text = std::str::from_utf8(chunk)?;
    let data = text
        .lines()
        .find_map(|line| line.strip_prefix("data: "))
        .ok_or_else(|| format!("no data in {text:?}"))?;
    Ok(serde_json::from_str(data)?)
}

/// The session ends once the agent is done: the mock saw one opened and one closed.
fn expect_session_closed(mock: &MockMcp, agent: &str) {
    let closed = eventually(WAIT, || mock.sessions_closed() == 1);
    assert!(
        closed,
        "{agent}: sessions opened {}, closed {}",
        mock.sessions_opened(),
        mock.sessions_closed()
    );
    assert_eq!(mock.sessions_opened(), 1, "{agent}");
}

/// `add` returns the tool's content and structured content, in one JSON reply.
#[test]
fn a_tool_call_returns_content_and_structured_content() -> TestResult {
    for agent in TOOL_AGENTS {
        let mock = MockMcp::start()?;
        let server = serve(agent, &mock)?;
        let result = call(
            &server,
            agent,
            json!({"tool": "add", "arguments": {"a": 2, "b": 3}}),
        )?;
        assert_eq!(
            result,
            json!({
                "tool": "add",
                "content": [{"type": "text", "text": "5"}],
                "isError": false,
                "structuredContent": {"sum": 5},
            }),
            "{agent}"
        );
        assert_eq!(mock.event_streams(), 0, "{agent}");
        expect_session_closed(&mock, agent);
    }
    Ok(())
}

/// `count` answers with an event stream; each progress notification reaches the caller as an
/// event while the tool is still running (the mock holds the call after the first until the
/// test has seen it), in order, and the result follows them.
#[test]
fn progress_streams_to_the_caller_before_the_result() -> TestResult {
    for agent in TOOL_AGENTS {
        let mock = MockMcp::start_gated()?;
        let server = serve(agent, &mock)?;
        let payload = json!({"tool": "count", "arguments": {"to": 3}}).to_string();
        let (head, mut reader) = server.invoke_streaming(payload.as_bytes())?;
        assert_eq!(head.status, 200, "{agent}");
        let content_type = head.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{agent}: {content_type}"
        );
        // The first event cannot wait for the result, which the mock holds back: if it does
        // not come, the agent is buffering.
        reader.get_ref().set_read_timeout(Some(WAIT))?;
        let first = read_chunk(&mut reader)
            .map_err(|error| format!("{agent}: no event while the call ran: {error}"))?
            .ok_or("no first event")?;
        assert_eq!(
            event(&first)?,
            json!({"progress": 1, "total": 3, "message": "step 1"}),
            "{agent}"
        );
        // The mock is held: the event came through while the call was still open.
        assert_eq!(mock.progress_sent(), 1, "{agent}");
        mock.open_gate();
        let mut rest = Vec::new();
        while let Some(chunk) = read_chunk(&mut reader)? {
            rest.push(event(&chunk)?);
        }
        assert_eq!(
            rest,
            [
                json!({"progress": 2, "total": 3, "message": "step 2"}),
                json!({"progress": 3, "total": 3, "message": "step 3"}),
                json!({
                    "tool": "count",
                    "content": [{"type": "text", "text": "counted to 3"}],
                    "isError": false,
                }),
            ],
            "{agent}"
        );
        assert_eq!(mock.event_streams(), 1, "{agent}");
        let calls: Vec<Value> = mock
            .requests()
            .iter()
            .filter_map(|request| serde_json::from_str::<Value>(&request.body).ok())
            .filter(|message| message["method"] == "tools/call")
            .collect();
        assert_eq!(calls.len(), 1, "{agent}");
        assert!(
            !calls[0]["params"]["_meta"]["progressToken"].is_null(),
            "{agent}: {}",
            calls[0]
        );
        expect_session_closed(&mock, agent);
    }
    Ok(())
}

/// `{"list": true}` names every tool in the server's order, across the mock's two pages.
#[test]
fn list_names_every_tool_across_pages() -> TestResult {
    for agent in TOOL_AGENTS {
        let mock = MockMcp::start()?;
        let server = serve(agent, &mock)?;
        let result = call(&server, agent, json!({"list": true}))?;
        assert_eq!(
            result,
            json!({"tools": ["add", "count", "fail"]}),
            "{agent}"
        );
        let cursors: Vec<Value> = mock
            .requests()
            .iter()
            .filter_map(|request| serde_json::from_str::<Value>(&request.body).ok())
            .filter(|message| message["method"] == "tools/list")
            .map(|message| message["params"]["cursor"].clone())
            .collect();
        assert_eq!(cursors, [Value::Null, json!("2")], "{agent}");
        expect_session_closed(&mock, agent);
    }
    Ok(())
}

/// A tool the server does not list is a 404 naming the ones it has, and is never called.
#[test]
fn an_unknown_tool_is_not_found() -> TestResult {
    for agent in TOOL_AGENTS {
        let mock = MockMcp::start()?;
        let server = serve(agent, &mock)?;
        let error = refused(&server, agent, json!({"tool": "x"}), 404)?;
        assert_eq!(
            error, r#"no tool "x" on the MCP server; it has: add, count, fail"#,
            "{agent}"
        );
        let called = mock
            .requests()
            .iter()
            .any(|request| request.body.contains("tools/call"));
        assert!(!called, "{agent}");
        expect_session_closed(&mock, agent);
    }
    Ok(())
}

/// A tool that fails (`isError`) is a result for the caller, not a failure; `arguments`
/// defaults to `{}`.
#[test]
fn a_tool_error_is_a_result() -> TestResult {
    for agent in TOOL_AGENTS {
        let mock = MockMcp::start()?;
        let server = serve(agent, &mock)?;
        let result = call(&server, agent, json!({"tool": "fail"}))?;
        assert_eq!(
            result,
            json!({
                "tool": "fail",
                "content": [{"type": "text", "text": "it failed"}],
                "isError": true,
            }),
            "{agent}"
        );
        let call = mock
            .requests()
            .iter()
            .filter_map(|request| serde_json::from_str::<Value>(&request.body).ok())
            .find(|message| message["method"] == "tools/call")
            .ok_or("no tools/call")?;
        assert_eq!(call["params"]["arguments"], json!({}), "{agent}: {call}");
        expect_session_closed(&mock, agent);
    }
    Ok(())
}

/// A JSON-RPC error from the server is a 502 quoting its message and code.
#[test]
fn a_refused_call_is_a_bad_gateway() -> TestResult {
    for agent in TOOL_AGENTS {
        let mock = MockMcp::start()?;
        let server = serve(agent, &mock)?;
        let payload = json!({"tool": "add", "arguments": {"a": "two"}});
        let error = refused(&server, agent, payload, 502)?;
        assert_eq!(
            error, "the MCP server refused tools/call: add needs numbers a and b (code -32602)",
            "{agent}"
        );
        expect_session_closed(&mock, agent);
    }
    Ok(())
}

/// A server the operator has not allowed is denied by the host: a 502 that says so, and the
/// mock sees nothing.
#[test]
fn a_server_not_allowed_is_denied() -> TestResult {
    for agent in TOOL_AGENTS {
        let mock = MockMcp::start()?;
        let server = serve(agent, &mock)?;
        let payload = json!({"tool": "add", "server": "http://example.invalid/mcp"});
        let error = refused(&server, agent, payload, 502)?;
        assert!(error.contains("denied"), "{agent}: {error}");
        // Not allowed either, although it is the mock: its port is not the rule's.
        let other = MockMcp::start()?;
        let payload = json!({"list": true, "server": other.endpoint()});
        let error = refused(&server, agent, payload, 502)?;
        assert!(error.contains("denied"), "{agent}: {error}");
        assert!(mock.requests().is_empty(), "{agent}");
        assert!(other.requests().is_empty(), "{agent}");
    }
    Ok(())
}

/// Without `MCP_ENDPOINT` or `server` the agent fails with a 500 naming the grant to add.
#[test]
fn without_an_endpoint_the_agent_names_the_grant() -> TestResult {
    for agent in TOOL_AGENTS {
        let server = Server::start(agent, &[])?;
        let error = refused(&server, agent, json!({"tool": "add"}), 500)?;
        assert!(error.contains("MCP_ENDPOINT"), "{agent}: {error}");
        assert!(error.starts_with("no MCP server"), "{agent}: {error}");
    }
    Ok(())
}

/// On the wire: every POST accepts both reply forms and sends JSON; `initialize` offers
/// 2025-06-18 or newer and names the client; every later request carries the session id the mock gave
/// and the negotiated version; `notifications/initialized` comes next; the last request is a
/// DELETE of the session.
#[test]
fn requests_follow_streamable_http() -> TestResult {
    for agent in TOOL_AGENTS {
        let mock = MockMcp::start()?;
        let server = serve(agent, &mock)?;
        call(
            &server,
            agent,
            json!({"tool": "add", "arguments": {"a": 1, "b": 1}}),
        )?;
        expect_session_closed(&mock, agent);
        let session = mock.session_ids().pop().ok_or("no session")?;
        let requests = mock.requests();
        let (initialize, later) = requests.split_first().ok_or("no requests")?;

        let offer: Value = serde_json::from_str(&initialize.body)?;
        assert_eq!(offer["method"], "initialize", "{agent}");
        // The TypeScript SDK offers the newest version it knows and speaks the one the server
        // picks; what matters is that the offer is no older than the server's.
        let offered = offer["params"]["protocolVersion"]
            .as_str()
            .unwrap_or_default();
        assert!(
            offered.len() == PROTOCOL_VERSION.len() && offered >= PROTOCOL_VERSION,
            "{agent}: offered {offered}"
        );
        assert_eq!(offer["params"]["capabilities"], json!({}), "{agent}");
        let client = &offer["params"]["clientInfo"];
        assert_eq!(client["name"], "wasm-agent-tool-agent", "{agent}");
        assert!(client["version"].is_string(), "{agent}: {client}");
        assert_eq!(initialize.header("mcp-session-id"), None, "{agent}");

        for request in &requests {
            assert_eq!(request.path, "/mcp", "{agent}");
            if request.method != "POST" {
                continue;
            }
            let accept = request.header("accept").unwrap_or_default();
            assert!(
                accept.contains("application/json") && accept.contains("text/event-stream"),
                "{agent}: {accept}"
            );
            let content_type = request.header("content-type").unwrap_or_default();
            assert!(
                content_type.starts_with("application/json"),
                "{agent}: {content_type}"
            );
        }
        for request in later {
            assert_eq!(
                request.header("mcp-session-id"),
                Some(session.as_str()),
                "{agent}: {} {}",
                request.method,
                request.body
            );
            assert_eq!(
                request.header("mcp-protocol-version"),
                Some(PROTOCOL_VERSION),
                "{agent}: {} {}",
                request.method,
                request.body
            );
        }
        let methods: Vec<String> = requests
            .iter()
            .map(
                |request| match serde_json::from_str::<Value>(&request.body) {
                    Ok(message) => message["method"].as_str().unwrap_or("?").to_owned(),
                    Err(_) => request.method.clone(),
                },
            )
            .collect();
        assert_eq!(
            methods,
            [
                "initialize",
                "notifications/initialized",
                "tools/list",
                "tools/list",
                "tools/call",
                "DELETE",
            ],
            "{agent}"
        );
        let initialized: Value = serde_json::from_str(&later[0].body)?;
        assert!(initialized.get("id").is_none(), "{agent}: {initialized}");
    }
    Ok(())
}
