//! `wasm-agent serve`: the AgentCore Runtime contract on the wire.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::server::{Server, read_chunk};
use crate::support::TestResult;

/// `/ping` answers the SDK's compact body; HEAD has no body; other methods get a JSON 405.
#[test]
fn ping_answers_like_the_sdk() -> TestResult {
    let server = Server::start("echo", &[])?;
    let ping = server.request("GET", "/ping", &[], b"")?;
    assert_eq!(ping.status, 200);
    assert_eq!(ping.header("content-type"), Some("application/json"));
    let body = ping.json()?;
    assert_eq!(body["status"], "Healthy");
    assert!(
        body["time_of_last_update"]
            .as_u64()
            .is_some_and(|t| t > 1_700_000_000)
    );
    assert_eq!(ping.body.len(), 53, "{}", ping.text());
    let head = server.request("HEAD", "/ping", &[], b"")?;
    assert_eq!(head.status, 200);
    let wrong = server.request("POST", "/ping", &[], b"")?;
    assert_eq!(
        (wrong.status, wrong.header("allow")),
        (405, Some("GET, HEAD"))
    );
    assert_eq!(wrong.text(), r#"{"error":"Method Not Allowed"}"#);
    let get_invocations = server.request("GET", "/invocations", &[], b"")?;
    assert_eq!(
        (get_invocations.status, get_invocations.header("allow")),
        (405, Some("POST"))
    );
    let missing = server.request("GET", "/nowhere", &[], b"")?;
    assert_eq!(
        (missing.status, missing.text().as_str()),
        (404, r#"{"error":"Not Found"}"#)
    );
    Ok(())
}

/// A JSON reply carries the guest's JSON and the request id; the context comes from the
/// headers by the SDK's rules, whatever the content type.
#[test]
fn json_invocation_with_context_from_headers() -> TestResult {
    let server = Server::start("echo", &[])?;
    let headers = [
        ("Content-Type", "text/plain"),
        ("X-Amzn-Bedrock-AgentCore-Runtime-Session-Id", "session-42"),
        ("X-Amzn-Bedrock-AgentCore-Runtime-Request-Id", "request-42"),
        ("authorization", "Bearer abc"),
        ("X-Amzn-Bedrock-AgentCore-Runtime-Custom-Foo", "bar"),
        ("X-Amz-Bedrock-AgentCore-Identity-WAT", "wat"),
        ("WorkloadAccessToken", "wat2"),
        ("OAuth2CallbackUrl", "https://example.test/cb"),
        ("X-Amzn-Trace-Id", "dropped"),
        ("User-Agent", "dropped"),
        ("X-My-Header", "mine"),
    ];
    let payload = r#"{"text": "héllo 世界", "list": [1, 2.5, null]}"#;
    let response = server.request("POST", "/invocations", &headers, payload.as_bytes())?;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(
        response.header("x-amzn-bedrock-agentcore-runtime-request-id"),
        Some("request-42")
    );
    let echoed = response.json()?;
    assert_eq!(echoed["payload"], serde_json::from_str::<Value>(payload)?);
    let context = &echoed["context"];
    assert_eq!(context["session_id"], "session-42");
    assert_eq!(context["request_id"], "request-42");
    assert_eq!(context["workload_access_token"], "wat");
    assert_eq!(context["oauth2_callback_url"], "https://example.test/cb");
    let forwarded: Vec<(String, String)> = serde_json::from_value(context["headers"].clone())?;
    let names: Vec<&str> = forwarded.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"Authorization"), "{names:?}");
    assert!(
        names.contains(&"x-amzn-bedrock-agentcore-runtime-custom-foo"),
        "{names:?}"
    );
    assert!(names.contains(&"x-my-header"), "{names:?}");
    for dropped in [
        "x-amzn-trace-id",
        "user-agent",
        "content-type",
        "host",
        "content-length",
    ] {
        assert!(
            !names.contains(&dropped),
            "{dropped} was forwarded: {names:?}"
        );
    }
    // Without a request id the server makes one and returns it.
    let fresh = server.invoke("[]")?;
    let generated = fresh
        .header("x-amzn-bedrock-agentcore-runtime-request-id")
        .ok_or("no id")?;
    assert_eq!(fresh.json()?["context"]["request_id"], generated);
    assert_eq!(generated.len(), 36);
    Ok(())
}

/// Bad bodies get 400/413 with the SDK's JSON error shapes.
#[test]
fn malformed_requests_get_4xx_json() -> TestResult {
    let server = Server::start("echo", &["--max-payload", "1KiB"])?;
    let invalid = server.invoke("{not json")?;
    assert_eq!(invalid.status, 400);
    assert_eq!(invalid.json()?["error"], "Invalid JSON");
    assert!(
        invalid.json()?["details"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    let empty = server.invoke("")?;
    assert_eq!(
        (empty.status, empty.json()?["error"].clone()),
        (400, json!("Invalid JSON"))
    );
    let nan = server.invoke(r#"{"x": NaN}"#)?;
    assert_eq!(nan.status, 400, "strict JSON only");
    let encoding = server.request("POST", "/invocations", &[], b"\"\x80\"")?;
    assert_eq!(
        (encoding.status, encoding.json()?["error"].clone()),
        (400, json!("Invalid encoding"))
    );
    let large = server.invoke(&format!("\"{}\"", "x".repeat(2000)))?;
    assert_eq!(large.status, 413);
    assert!(
        large.json()?["error"]
            .as_str()
            .is_some_and(|e| e.contains("1024"))
    );
    // The server is unharmed.
    assert_eq!(server.invoke("{}")?.status, 200);
    Ok(())
}

/// A guest's failure before any event gets its own status and `{"error": message}`; a trap is
/// a 500 naming the cause.
#[test]
fn failures_before_any_event() -> TestResult {
    let fail = Server::start("fail", &[])?;
    let response = fail.invoke(r#"{"status": 422, "message": "bad input"}"#)?;
    assert_eq!(
        (response.status, response.text().as_str()),
        (422, r#"{"error":"bad input"}"#)
    );
    assert!(
        response
            .header("x-amzn-bedrock-agentcore-runtime-request-id")
            .is_some()
    );
    let trap = Server::start("trap", &[])?;
    let response = trap.invoke(r#"{"message": "kaboom"}"#)?;
    assert_eq!(response.status, 500);
    let error = response.json()?["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        error.contains("panicked") && error.contains("kaboom"),
        "{error}"
    );
    let spin = Server::start("spin", &["--timeout", "500ms"])?;
    let response = spin.invoke("{}")?;
    assert_eq!(response.status, 500);
    assert!(
        response.text().contains("deadline of 500ms"),
        "{}",
        response.text()
    );
    Ok(())
}

/// A handler's own status, content type and headers pass through (the SDK's `Response`).
#[test]
fn reply_passthrough() -> TestResult {
    let server = Server::start("respond", &[])?;
    let created =
        server.invoke(r#"{"status": 201, "json": {"id": 7}, "headers": [["X-Thing", "yes"]]}"#)?;
    assert_eq!(created.status, 201);
    assert_eq!(created.header("content-type"), Some("application/json"));
    assert_eq!(created.header("x-thing"), Some("yes"));
    assert_eq!(created.json()?, json!({"id": 7}));
    let text =
        server.invoke(r#"{"status": 418, "content_type": "text/plain", "text": "not json"}"#)?;
    assert_eq!((text.status, text.text().as_str()), (418, "not json"));
    assert_eq!(text.header("content-type"), Some("text/plain"));
    let framing =
        server.invoke(r#"{"status": 200, "json": 1, "headers": [["Content-Length", "9"]]}"#)?;
    assert_eq!(framing.status, 500);
    assert!(
        framing.text().contains("the host's to set"),
        "{}",
        framing.text()
    );
    Ok(())
}

/// Events arrive one chunk each, while the guest is still running; the result is the last
/// event and no terminal event follows.
#[test]
fn streaming_events_arrive_as_emitted() -> TestResult {
    const PAUSE_MS: u64 = 500;
    let server = Server::start("stream", &[])?;
    let payload = json!({"count": 3, "pause_ms": PAUSE_MS}).to_string();
    let (head, mut reader) = server.invoke_streaming(payload.as_bytes())?;
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    assert_eq!(head.header("transfer-encoding"), Some("chunked"));
    let mut chunks = Vec::new();
    while let Some(chunk) = read_chunk(&mut reader)? {
        chunks.push((Instant::now(), String::from_utf8(chunk)?));
    }
    let ended = Instant::now();
    let texts: Vec<&str> = chunks.iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(
        texts,
        [
            "data: {\"index\":0}\n\n",
            "data: {\"index\":1}\n\n",
            "data: {\"index\":2}\n\n",
            "data: {\"events\":3}\n\n"
        ]
    );
    for (index, (at, _)) in chunks.iter().take(3).enumerate() {
        let pauses_left = 2 - index as u64;
        assert!(
            ended.duration_since(*at) >= Duration::from_millis(pauses_left * PAUSE_MS / 2),
            "event {index} was not sent as soon as it was emitted"
        );
    }
    Ok(())
}

/// A failure after the first event becomes the SDK's error event; named events carry
/// `event:` and `id:`.
#[test]
fn mid_stream_failure_and_named_events() -> TestResult {
    let server = Server::start("stream", &[])?;
    let failed = server.invoke(r#"{"count": 3, "fail_after": 2}"#)?;
    assert_eq!(failed.status, 200);
    assert_eq!(
        failed.text(),
        "data: {\"index\":0}\n\ndata: {\"index\":1}\n\n\
         data: {\"error\": \"failed after 2 events\", \"error_type\": \"StreamError\", \"message\": \"An error occurred during streaming\"}\n\n"
    );
    let named = server.invoke(r#"{"count": 2, "named": true}"#)?;
    assert_eq!(
        named.text(),
        "event: tick\nid: 0\ndata: {\"index\":0}\n\nevent: tick\nid: 1\ndata: {\"index\":1}\n\ndata: {\"events\":2}\n\n"
    );
    Ok(())
}

/// The default example agent (`make serve`) answers as JSON, streams when asked, and refuses
/// an empty prompt: what the README's curl commands show.
#[test]
fn default_agent_as_in_the_readme() -> TestResult {
    let server = Server::start("agent", &[])?;
    let reply = server.request(
        "POST",
        "/invocations",
        &[("X-Amzn-Bedrock-AgentCore-Runtime-Session-Id", "readme")],
        br#"{"prompt": "hello there"}"#,
    )?;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()?["reply"], "You said: hello there");
    assert_eq!(reply.json()?["session_id"], "readme");
    let streamed = server.invoke(r#"{"prompt": "hello there", "stream": true}"#)?;
    assert_eq!(
        streamed.text(),
        "data: {\"token\":\"You\"}\n\ndata: {\"token\":\"said:\"}\n\ndata: {\"token\":\"hello\"}\n\n\
         data: {\"token\":\"there\"}\n\n"
    );
    let empty = server.invoke(r#"{"prompt": " "}"#)?;
    assert_eq!(
        (empty.status, empty.text().as_str()),
        (400, r#"{"error":"the prompt is empty"}"#)
    );
    Ok(())
}
