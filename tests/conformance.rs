//! One example agent in every guest language (Rust, Python, JavaScript, C), served by the real
//! `wasm-agent serve`, answers the same requests with the same status, content type and JSON
//! values (each language writes its own JSON bytes, so values are compared, not bytes), and
//! calls the tests' mock model alike through each language's HTTP client.

use std::time::Duration;

use serde_json::{Value, json};

use crate::mock_model::{MockConfig, MockModel};
use crate::server::{Response, SESSION_HEADER, Server, one_load_test_at_a_time, read_chunk};
use crate::support::TestResult;

/// The example agent, built from `guest-examples/` by `make guests`.
const LANGUAGES: &[&str] = &["agent", "python-agent", "js-agent", "c-agent"];
const REQUEST_ID: &str = "X-Amzn-Bedrock-AgentCore-Runtime-Request-Id";
const CUSTOM: &str = "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Colour";

/// What a reply must be.
enum Expect {
    /// A JSON reply with this status and value.
    Json(u16, Value),
    /// A stream of these events.
    Events(Vec<Value>),
}

struct Case {
    name: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    body: String,
    expect: Expect,
}

fn cases() -> Vec<Case> {
    let big = "a".repeat(5 << 20);
    let unicode = "héllo 世界 🎉 \"quoted\" back\\slash\nnew line\ttab \u{2028} \u{1}";
    let context = vec![
        (SESSION_HEADER, "conformance-session"),
        (REQUEST_ID, "conformance-request"),
        (CUSTOM, "blue"),
    ];
    vec![
        Case {
            name: "JSON result",
            headers: context.clone(),
            body: json!({"prompt": "  hello there  "}).to_string(),
            expect: Expect::Json(
                200,
                json!({
                    "reply": "You said: hello there",
                    "session_id": "conformance-session",
                    "request_id": "conformance-request",
                }),
            ),
        },
        Case {
            name: "streaming",
            headers: vec![],
            body: json!({"prompt": "hello there world", "stream": true}).to_string(),
            expect: Expect::Events(
                ["You", "said:", "hello", "there", "world"]
                    .iter()
                    .map(|token| json!({ "token": token }))
                    .collect(),
            ),
        },
        Case {
            name: "context echo",
            headers: context,
            body: json!({"echo": {"n": 1, "list": [true, null, 2.5]}}).to_string(),
            expect: Expect::Json(
                200,
                json!({
                    "echo": {"n": 1, "list": [true, null, 2.5]},
                    "context": {
                        "request_id": "conformance-request",
                        "session_id": "conformance-session",
                        "headers": [["x-amzn-bedrock-agentcore-runtime-custom-colour", "blue"]],
                    },
                }),
            ),
        },
        Case {
            name: "failure status",
            headers: vec![],
            body: json!({"fail": {"status": 418, "message": "a teapot"}}).to_string(),
            expect: Expect::Json(418, json!({"error": "a teapot"})),
        },
        Case {
            name: "validation failure",
            headers: vec![],
            body: json!({"prompt": "   "}).to_string(),
            expect: Expect::Json(400, json!({"error": "the prompt is empty"})),
        },
        Case {
            name: "unexpected error",
            headers: vec![],
            body: json!({"raise": "it broke"}).to_string(),
            expect: Expect::Json(500, json!({"error": "it broke"})),
        },
        Case {
            name: "5 MB payload",
            headers: vec![(REQUEST_ID, "big")],
            body: json!({"echo": big}).to_string(),
            expect: Expect::Json(
                200,
                json!({
                    "echo": big,
                    "context": {"request_id": "big", "session_id": null, "headers": []},
                }),
            ),
        },
        Case {
            name: "unicode",
            headers: vec![(REQUEST_ID, "unicode")],
            body: json!({"echo": unicode}).to_string(),
            expect: Expect::Json(
                200,
                json!({
                    "echo": unicode,
                    "context": {"request_id": "unicode", "session_id": null, "headers": []},
                }),
            ),
        },
    ]
}

/// The JSON values of a stream's `data:` lines.
fn events(response: &Response) -> Result<Vec<Value>, serde_json::Error> {
    response
        .text()
        .split("\n\n")
        .filter_map(|frame| frame.strip_prefix("data: "))
        .map(serde_json::from_str)
        .collect()
}

fn check(language: &str, case: &Case, response: &Response) -> Result<(), String> {
    let content_type = response.header("content-type").unwrap_or_default();
    let what = format!("{language}, {}", case.name);
    match &case.expect {
        Expect::Json(status, value) => {
            if response.status != *status || content_type != "application/json" {
                return Err(format!(
                    "{what}: {} {content_type}: {}",
                    response.status,
                    response.text()
                ));
            }
            let got = response.json().map_err(|e| format!("{what}: {e}"))?;
            if got != *value {
                let shown: String = response.text().chars().take(300).collect();
                return Err(format!("{what}: got {shown}"));
            }
        }
        Expect::Events(expected) => {
            if response.status != 200 || content_type != "text/event-stream; charset=utf-8" {
                return Err(format!("{what}: {} {content_type}", response.status));
            }
            let got = events(response).map_err(|e| format!("{what}: {e}"))?;
            if got != *expected {
                return Err(format!("{what}: got {}", response.text()));
            }
        }
    }
    Ok(())
}

/// Every language's build of the example agent gives the same replies.
#[test]
fn every_language_answers_alike() -> TestResult {
    // Megabytes through four servers, and a compile when the cache is cold.
    let _load = one_load_test_at_a_time();
    let cases = cases();
    let mut failures = Vec::new();
    for language in LANGUAGES {
        let server = Server::start(language, &[])?;
        for case in &cases {
            let response =
                server.request("POST", "/invocations", &case.headers, case.body.as_bytes())?;
            if let Err(failure) = check(language, case, &response) {
                failures.push(failure);
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

/// The model mode, `{"ask": ...}`: each language's agent sends the mock model the same request,
/// relays its tokens as events while the model is still producing them, and ends with the
/// same reply; a destination the operator did not allow fails with that language's own clear
/// error, a 502.
#[test]
fn every_language_calls_a_model_alike() -> TestResult {
    let _load = one_load_test_at_a_time();
    let model = MockModel::start(MockConfig {
        // Paced, so a relayed token can be told from one sent after the model finished.
        token_pause: Duration::from_millis(150),
        ..MockConfig::default()
    })?;
    let mut expected: Vec<Value> = ["Hello", " from", " the", " mock"]
        .iter()
        .map(|token| json!({ "token": token }))
        .collect();
    expected.push(json!({"reply": "Hello from the mock", "model": "mock-model"}));
    let mut failures = Vec::new();
    for language in LANGUAGES {
        let server = model.serve_agent(language, "mock-model", &[])?;
        let finished_before = model.streams_finished();
        let (head, mut reader) = server.invoke_streaming(br#"{"ask": "Say hello"}"#)?;
        let content_type = head.header("content-type").unwrap_or_default();
        if head.status != 200 || !content_type.starts_with("text/event-stream") {
            failures.push(format!("{language}, ask: {} {content_type}", head.status));
            continue;
        }
        let mut frames = Vec::new();
        let mut relayed_while_streaming = false;
        while let Some(chunk) = read_chunk(&mut reader)? {
            if frames.is_empty() {
                relayed_while_streaming = model.streams_finished() == finished_before;
            }
            frames.push(String::from_utf8(chunk)?);
        }
        let events: Result<Vec<Value>, _> = frames
            .iter()
            .flat_map(|chunk| chunk.split("\n\n"))
            .filter_map(|frame| frame.strip_prefix("data: "))
            .map(serde_json::from_str)
            .collect();
        match events {
            Ok(events) if events == expected => {}
            other => failures.push(format!("{language}, ask: {other:?}")),
        }
        if !relayed_while_streaming {
            failures.push(format!(
                "{language}: the first token came after the model finished"
            ));
        }

        let denied = server.request(
            "POST",
            "/invocations",
            &[],
            br#"{"ask": "Say hello", "endpoint": "http://example.invalid/v1"}"#,
        )?;
        let error = denied
            .json()
            .ok()
            .and_then(|body| body["error"].as_str().map(str::to_owned));
        match error {
            Some(error)
                if denied.status == 502
                    && error.contains("denied")
                    && error.contains("http://example.invalid") => {}
            _ => failures.push(format!(
                "{language}, denied: {} {}",
                denied.status,
                denied.text()
            )),
        }
        if let Err(missing) = server.expect_log("outbound request denied") {
            failures.push(format!("{language}: {missing}"));
        }
    }
    // One request from each language, and the same one: what the model saw does not depend on
    // the language the agent was written in.
    let requests = model.requests();
    if requests.len() != LANGUAGES.len() {
        failures.push(format!("the model saw {} requests", requests.len()));
    }
    for request in &requests {
        let body: Value = serde_json::from_str(&request.body)?;
        let want = json!({
            "model": "mock-model",
            "messages": [{"role": "user", "content": "Say hello"}],
            "stream": true,
        });
        if request.method != "POST" || request.path != "/v1/chat/completions" || body != want {
            failures.push(format!(
                "the model saw {} {} {body}",
                request.method, request.path
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}
