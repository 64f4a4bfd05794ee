//! What an invocation's log says, in both formats: `--log-format json` writes one JSON object
//! per line in the SDK's shape (guest output keeps its request and session ids), and the
//! `invocation ended` line carries what the invocation used (time to its first event, events,
//! fuel, peak memory, outbound requests).

use std::time::Duration;

use serde_json::{Map, Value};

use crate::server::{SESSION_HEADER, Server};
use crate::support::{TestResult, eventually};

const REQUEST_HEADER: &str = "X-Amzn-Bedrock-AgentCore-Runtime-Request-Id";

/// Every JSON object the server has logged so far; a line that is not one fails the test,
/// except the readiness lines, which are plain text by design.
fn json_lines(server: &Server) -> Result<Vec<Map<String, Value>>, Box<dyn std::error::Error>> {
    let mut lines = Vec::new();
    for line in server.log().lines() {
        if line.starts_with("listening on ") || line.starts_with("metrics on ") {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(Value::Object(object)) => lines.push(object),
            _ => return Err(format!("not a JSON object: {line}").into()),
        }
    }
    Ok(lines)
}

/// Waits for the JSON line with `message` for request `id`, and returns it.
fn line_of(
    server: &Server,
    id: &str,
    message: &str,
) -> Result<Map<String, Value>, Box<dyn std::error::Error>> {
    let find = || -> Option<Map<String, Value>> {
        json_lines(server).ok()?.into_iter().find(|line| {
            line.get("requestId").and_then(Value::as_str) == Some(id)
                && line.get("message").and_then(Value::as_str) == Some(message)
        })
    };
    eventually(Duration::from_secs(20), || find().is_some());
    find().ok_or_else(|| format!("no `{message}` line for {id}").into())
}

/// An invocation in a session: the guest's stdout line and the `invocation ended` line are
/// JSON in the SDK's shape, both with the request and session ids, and the ending carries the
/// status, the outcome and what the call used.
#[test]
fn json_lines_have_the_sdks_shape_and_the_invocations_ids() -> TestResult {
    let server = Server::start("sleep", &["--log-format", "json"])?;
    let headers = [(REQUEST_HEADER, "json-1"), (SESSION_HEADER, "json-session")];
    let reply = server.request("POST", "/invocations", &headers, br#"{"ms": 0}"#)?;
    assert_eq!(reply.status, 200, "{}", reply.text());

    let guest = line_of(&server, "json-1", "sleeping 0 ms")?;
    assert_eq!(guest["level"], "INFO");
    assert_eq!(guest["logger"], "guest");
    assert_eq!(guest["sessionId"], "json-session");
    assert_eq!(guest["stream"], "stdout");

    let ended = line_of(&server, "json-1", "invocation ended")?;
    assert_eq!(ended["level"], "INFO");
    assert_eq!(ended["sessionId"], "json-session");
    assert_eq!(ended["status"], 200);
    assert_eq!(ended["outcome"], "completed");
    assert_eq!(ended["events"], 0);
    assert_eq!(ended["outboundRequests"], 0);
    assert!(ended["durationMs"].as_f64().is_some(), "{ended:?}");
    assert!(
        ended["peakMemoryBytes"]
            .as_u64()
            .is_some_and(|bytes| bytes > 0),
        "{ended:?}"
    );
    assert!(
        !ended.contains_key("fuelUsed"),
        "no fuel is metered: {ended:?}"
    );
    assert!(
        ended["logger"]
            .as_str()
            .is_some_and(|l| l.ends_with("invocation_log")),
        "{ended:?}"
    );
    let timestamp = ended["timestamp"].as_str().ok_or("no timestamp")?;
    assert!(
        timestamp.len() == 24 && timestamp.ends_with('Z') && &timestamp[10..11] == "T",
        "UTC with milliseconds, as the SDK writes it: {timestamp}"
    );
    Ok(())
}

/// A failing invocation's line is a WARNING with the SDK's error fields.
#[test]
fn a_failure_is_a_warning_with_the_error_fields() -> TestResult {
    let server = Server::start("trap", &["--log-format", "json"])?;
    let headers = [(REQUEST_HEADER, "json-fail")];
    let reply = server.request("POST", "/invocations", &headers, b"{}")?;
    assert_eq!(reply.status, 500, "{}", reply.text());
    let ended = line_of(&server, "json-fail", "invocation ended")?;
    assert_eq!(ended["level"], "WARNING");
    assert_eq!(ended["outcome"], "failed");
    assert_eq!(ended["status"], 500);
    assert_eq!(ended["errorType"], "Trap", "{ended:?}");
    assert!(ended["errorMessage"].as_str().is_some(), "{ended:?}");
    assert!(!ended.contains_key("sessionId"), "{ended:?}");
    Ok(())
}

/// With fuel metered, the line says how much the call burned; an outbound request (refused
/// here: no rule allows it) is counted; a stream's line says when its first event went out.
#[test]
fn the_ending_says_what_the_call_used() -> TestResult {
    let server = Server::start("fetch", &["--log-format", "json", "--fuel", "10000000000"])?;
    let headers = [(REQUEST_HEADER, "json-fetch")];
    let payload = br#"{"url": "http://example.invalid/"}"#;
    let reply = server.request("POST", "/invocations", &headers, payload)?;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let ended = line_of(&server, "json-fetch", "invocation ended")?;
    assert_eq!(ended["outboundRequests"], 1, "{ended:?}");
    assert!(
        ended["fuelUsed"].as_u64().is_some_and(|fuel| fuel > 0),
        "{ended:?}"
    );
    assert!(!ended.contains_key("firstEventMs"), "no events: {ended:?}");

    let streaming = Server::start("stream", &["--log-format", "json"])?;
    let headers = [(REQUEST_HEADER, "json-stream")];
    let reply = streaming.request("POST", "/invocations", &headers, br#"{"count": 2}"#)?;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let ended = line_of(&streaming, "json-stream", "invocation ended")?;
    assert_eq!(ended["events"], 2, "{ended:?}");
    let first = ended["firstEventMs"].as_f64().ok_or("no firstEventMs")?;
    let whole = ended["durationMs"].as_f64().ok_or("no durationMs")?;
    assert!(first <= whole, "{ended:?}");
    Ok(())
}

/// The text format stays the default, and its ending line carries the same numbers.
#[test]
fn text_stays_the_default_with_the_same_fields() -> TestResult {
    let server = Server::start("sleep", &[])?;
    let headers = [(REQUEST_HEADER, "text-1"), (SESSION_HEADER, "text-session")];
    let reply = server.request("POST", "/invocations", &headers, br#"{"ms": 0}"#)?;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let ending = |log: &str| {
        log.lines()
            .find(|line| line.contains("invocation ended") && line.contains("request_id=text-1"))
            .map(str::to_owned)
    };
    eventually(Duration::from_secs(20), || ending(&server.log()).is_some());
    let line = ending(&server.log()).ok_or("no ending line")?;
    assert!(!line.starts_with('{'), "{line}");
    for field in [
        "status=200",
        "session_id=text-session",
        "outbound_requests=0",
        "peak_memory_bytes=",
    ] {
        assert!(line.contains(field), "{field} in {line}");
    }
    let guest = server
        .log()
        .lines()
        .find(|line| line.contains("sleeping 0 ms"))
        .map(str::to_owned)
        .ok_or("no guest line")?;
    assert!(guest.contains("session_id=text-session"), "{guest}");
    Ok(())
}
