//! Outbound HTTP through the real server: guests (`fetch`, `model-agent`) calling the mock model
//! on 127.0.0.1, allowed only by rules, with credentials only the host holds.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::botocore::verify_sigv4;
use crate::mock_model::{MockConfig, MockModel, fixture};
use crate::server::{Server, read_chunk};
use crate::support::{TestResult, binary, eventually, guest, run, stderr, stdout};

/// The secret the host holds for bearer tests; no guest may ever see it.
const SECRET: &str = "sk-host-only-7f3a9c";

/// A mock with the default reply, and the rule that lets guests reach it.
fn mock() -> Result<(MockModel, String), Box<dyn std::error::Error>> {
    let model = MockModel::start(MockConfig::default())?;
    let rule = model.url();
    Ok((model, rule))
}

/// Invokes the fetch guest and returns its JSON result.
fn fetch(server: &Server, payload: Value) -> Result<Value, Box<dyn std::error::Error>> {
    let response = server.invoke(&payload.to_string())?;
    assert_eq!(response.status, 200, "{}", response.text());
    Ok(response.json()?)
}

/// The model agent served with `model` as its endpoint, and `extra` flags.
fn serve_model_agent(
    model: &MockModel,
    extra: &[&str],
) -> Result<Server, Box<dyn std::error::Error>> {
    model.serve_agent("model-agent", "m", extra)
}

/// The error kind the fetch guest reported, if any.
fn error_kind(result: &Value) -> Option<&str> {
    result["error"]["kind"].as_str()
}

/// A guest can call an allowed destination, and the host relays the reply whole.
#[test]
fn an_allowed_request_goes_through() -> TestResult {
    let (model, rule) = mock()?;
    let server = Server::start("fetch", &["--allow-outbound", &rule])?;
    let result = fetch(&server, json!({"url": format!("{rule}/status/201")}))?;
    assert_eq!(result["status"], 201, "{result}");
    assert_eq!(model.requests().len(), 1);
    server.expect_log("outbound request")?;
    server.expect_log("status=201")?;
    let denied = fetch(&server, json!({"url": "http://example.invalid/"}))?;
    assert_eq!(error_kind(&denied), Some("Denied"), "{denied}");
    server.terminate()?;
    server.expect_log("outbound_completed=1 outbound_failed=0 outbound_denied=1")?;
    Ok(())
}

/// Without a rule nothing is reachable: the guest gets "denied", the log names scheme, host and
/// port but never the query, and the mock sees nothing.
#[test]
fn a_host_not_allowed_is_refused() -> TestResult {
    let (model, rule) = mock()?;
    let other = MockModel::start(MockConfig::default())?;
    let server = Server::start("fetch", &["--allow-outbound", &other.url()])?;
    let url = format!("{rule}/v1/models?api_key=query-secret");
    let result = fetch(&server, json!({"url": url}))?;
    assert_eq!(error_kind(&result), Some("Denied"), "{result}");
    let message = result["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("denied"), "{message}");
    server.expect_log("outbound request denied")?;
    let port = model.address().port().to_string();
    server.expect_log(&port)?;
    server.assert_not_logged("query-secret");
    assert_eq!(model.connections_accepted(), 0);
    Ok(())
}

/// Under a rule allowing every name, the metadata service, a private address, loopback and a
/// name resolving to loopback are refused: the check is made on the address, before any
/// connection is opened.
#[test]
fn private_addresses_need_a_rule_naming_them() -> TestResult {
    let (model, rule) = mock()?;
    let server = Server::start("fetch", &["--allow-outbound", "*://*:*"])?;
    let port = model.address().port();
    for url in [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/".to_owned(),
        "http://10.0.0.1/".to_owned(),
        format!("{rule}/v1/models"),
        format!("http://localhost:{port}/v1/models"),
    ] {
        let result = fetch(&server, json!({"url": url}))?;
        assert_eq!(error_kind(&result), Some("Denied"), "{url}: {result}");
    }
    assert_eq!(model.connections_accepted(), 0);
    server.expect_log("resolves only to addresses no rule names")?;
    Ok(())
}

/// Tokens reach the client while the model is still producing them: streamed through both
/// hops, not buffered at either.
#[test]
fn tokens_stream_through_both_hops() -> TestResult {
    let model = MockModel::start(MockConfig {
        first_token_delay: Duration::ZERO,
        tokens: ["one", " two", " three", " four"]
            .map(String::from)
            .to_vec(),
        token_pause: Duration::from_millis(400),
        linger_after_done: Duration::from_secs(5),
    })?;
    let server = serve_model_agent(&model, &[])?;
    let started = Instant::now();
    let (head, mut reader) = server.invoke_streaming(br#"{"prompt": "count"}"#)?;
    assert_eq!(head.status, 200);
    let content_type = head.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    let first = read_chunk(&mut reader)?.ok_or("no first event")?;
    let first_at = started.elapsed();
    assert_eq!(String::from_utf8(first)?, "data: {\"token\":\"one\"}\n\n");
    assert_eq!(
        model.streams_finished(),
        0,
        "the mock had finished before the first token"
    );
    let mut frames = Vec::new();
    while let Some(chunk) = read_chunk(&mut reader)? {
        frames.push(String::from_utf8(chunk)?);
    }
    let total = started.elapsed();
    // Three pauses of 400 ms separate the tokens; the first came before them.
    assert!(
        total >= first_at + Duration::from_millis(1000),
        "{first_at:?} then {total:?}"
    );
    assert_eq!(frames.len(), 4, "{frames:?}");
    let last: Value = serde_json::from_str(frames[3].trim().trim_start_matches("data: "))?;
    assert_eq!(last["reply"], "one two three four");
    assert_eq!(last["model"], "m");
    let sent: Value = serde_json::from_str(&model.requests()[0].body)?;
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["model"], "m");
    // The guest stopped at `[DONE]` while the model kept the body open: its choice, not a
    // failure of the request, although its call ended at the same moment.
    server.expect_log("the guest stopped reading the body")?;
    server.assert_not_logged("outbound request failed");
    Ok(())
}

/// A model slower than the invocation's deadline ends the invocation with a timeout, and the
/// connection to the model is closed with it.
#[test]
fn a_slow_model_times_out_the_invocation() -> TestResult {
    let model = MockModel::start(MockConfig {
        first_token_delay: Duration::from_secs(30),
        ..MockConfig::default()
    })?;
    let server = serve_model_agent(&model, &["--timeout", "1s"])?;
    let started = Instant::now();
    let response = server.invoke(r#"{"prompt": "hello"}"#)?;
    assert_eq!(response.status, 500, "{}", response.text());
    assert!(response.text().contains("deadline"), "{}", response.text());
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        eventually(Duration::from_secs(10), || model.connections_closed() == 1),
        "the model's connection stayed open"
    );
    Ok(())
}

/// A client that goes away mid-stream cancels the invocation, and the model sees its
/// connection closed.
#[test]
fn a_client_that_leaves_closes_the_model_connection() -> TestResult {
    let model = MockModel::start(MockConfig {
        tokens: (0..50).map(|i| format!("t{i} ")).collect(),
        token_pause: Duration::from_millis(200),
        ..MockConfig::default()
    })?;
    let server = serve_model_agent(&model, &[])?;
    let (_, mut reader) = server.invoke_streaming(br#"{"prompt": "long"}"#)?;
    read_chunk(&mut reader)?.ok_or("no first event")?;
    drop(reader);
    // The default cancel grace is 2 s; the stream has 10 s left.
    assert!(
        eventually(Duration::from_secs(6), || model.streams_cut() == 1),
        "the model kept streaming to a gone client (closed: {})",
        model.connections_closed()
    );
    assert_eq!(model.streams_finished(), 0);
    Ok(())
}

/// A bearer credential is attached by the host: the model receives it, while the guest's
/// environment, the request it built and the server's log never hold it.
#[test]
fn the_guest_never_sees_the_bearer_secret() -> TestResult {
    let (model, rule) = mock()?;
    let auth = format!("{rule}=bearer-env:MOCK_API_KEY");
    let server = Server::start_env(
        &guest("fetch"),
        &[
            "--allow-outbound",
            &rule,
            "--outbound-auth",
            &auth,
            "--env",
            "MODEL_ID=m",
        ],
        &[("MOCK_API_KEY", SECRET)],
    )?;
    let result = fetch(
        &server,
        json!({
            "env": true,
            "url": format!("{rule}/v1/chat/completions"),
            "method": "POST",
            "headers": [["authorization", "Bearer guest-placeholder"]],
            "json": {"model": "m", "messages": []},
        }),
    )?;
    assert_eq!(result["status"], 200, "{result}");
    assert!(!result.to_string().contains(SECRET), "{result}");
    assert_eq!(
        result["env"],
        json!([["MODEL_ID", "m"]]),
        "the guest saw more than it was granted"
    );
    let received = model.requests();
    assert_eq!(
        received[0].header("authorization"),
        Some(format!("Bearer {SECRET}").as_str())
    );
    server.assert_not_logged(SECRET);
    Ok(())
}

/// A SigV4 signature made by the host for the Bedrock Converse call of the model agent is the
/// one botocore computes independently for the request the mock received.
#[test]
fn sigv4_signatures_match_botocore() -> TestResult {
    let (model, rule) = mock()?;
    let (access, secret, token) = ("AKIDHOSTONLY", "host/secret/key+value", "session-token-xyz");
    let auth = format!("{rule}=sigv4:bedrock:us-east-1");
    let server = Server::start_env(
        &guest("model-agent"),
        &["--allow-outbound", &rule, "--outbound-auth", &auth],
        &[
            ("AWS_ACCESS_KEY_ID", access),
            ("AWS_SECRET_ACCESS_KEY", secret),
            ("AWS_SESSION_TOKEN", token),
        ],
    )?;
    let payload = json!({
        "provider": "bedrock",
        "endpoint": rule,
        "model": "anthropic.claude-3-haiku-20240307-v1:0",
        "prompt": "hello",
    });
    let response = server.invoke(&payload.to_string())?;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()?["reply"], "Hello from the mock");
    let received = &model.requests()[0];
    assert!(
        received.path.contains("v1%3A0/converse"),
        "{}",
        received.path
    );
    assert!(
        received
            .header("authorization")
            .is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256"))
    );
    assert_eq!(received.header("x-amz-security-token"), Some(token));
    verify_sigv4(
        received,
        &rule,
        access,
        secret,
        Some(token),
        "us-east-1",
        "bedrock",
    )?;
    server.assert_not_logged(secret);
    Ok(())
}

/// An agent calling its model again and again reuses one pooled connection.
#[test]
fn connections_are_reused_across_invocations() -> TestResult {
    let (model, _) = mock()?;
    let server = serve_model_agent(&model, &[])?;
    for _ in 0..3 {
        let response = server.invoke(r#"{"prompt": "again", "stream": false}"#)?;
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.json()?["reply"], "Hello from the mock");
    }
    assert_eq!(model.requests().len(), 3);
    assert_eq!(model.connections_accepted(), 1);
    Ok(())
}

/// The limits hold: requests per invocation, requests in flight per instance, and the size of
/// a response; each fails only the request, with its own kind.
#[test]
fn outbound_limits_hold() -> TestResult {
    let (model, rule) = mock()?;
    let server = Server::start(
        "fetch",
        &[
            "--allow-outbound",
            &rule,
            "--outbound-max-requests",
            "2",
            "--outbound-max-in-flight",
            "2",
            "--outbound-max-response",
            "64KiB",
        ],
    )?;
    let url = format!("{rule}/status/200");
    let counted = fetch(&server, json!({"url": url, "count": 3}))?;
    assert_eq!(error_kind(&counted), Some("Limit"), "{counted}");
    assert_eq!(counted["completed"], 2);
    let parallel = fetch(&server, json!({"url": url, "concurrent": 3}))?;
    assert_eq!(error_kind(&parallel), Some("Limit"), "{parallel}");
    let big = fetch(&server, json!({"url": format!("{rule}/big/1000000")}))?;
    assert_eq!(error_kind(&big), Some("TooLarge"), "{big}");
    let small = fetch(&server, json!({"url": format!("{rule}/big/1000")}))?;
    assert_eq!(small["body"].as_str().map(str::len), Some(1000), "{small}");
    drop(model);
    Ok(())
}

/// An upstream that never ends is cut at the response limit, one that drips a byte at a time
/// for ever is cut by the invocation's deadline, and one that falls silent by the time between
/// bytes: each fails only its own invocation, which says why.
#[test]
fn slow_huge_and_endless_upstreams_are_bounded() -> TestResult {
    let (model, rule) = mock()?;
    let server = Server::start(
        "fetch",
        &[
            "--allow-outbound",
            &rule,
            "--outbound-max-response",
            "256KiB",
            "--timeout",
            "2s",
        ],
    )?;
    let endless = fetch(&server, json!({"url": format!("{rule}/big/1000000000000")}))?;
    assert_eq!(error_kind(&endless), Some("TooLarge"), "{endless}");
    let silent = fetch(
        &server,
        json!({"url": format!("{rule}/drip/5000"), "between_bytes_ms": 300}),
    )?;
    assert_eq!(error_kind(&silent), Some("Timeout"), "{silent}");
    // Generous timeouts of its own, so that only the deadline can cut it, however loaded the
    // machine.
    let dripping = json!({
        "url": format!("{rule}/drip/20"),
        "timeout_ms": 60_000,
        "between_bytes_ms": 60_000,
    });
    let dripping = server.invoke(&dripping.to_string())?;
    assert_eq!(dripping.status, 500, "{}", dripping.text());
    assert!(
        dripping
            .text()
            .contains("did not finish within its deadline of 2s"),
        "{}",
        dripping.text()
    );
    // The server is none the worse: the next request goes through.
    let after = fetch(&server, json!({"url": format!("{rule}/status/200")}))?;
    assert_eq!(after["status"], 200, "{after}");
    drop(model);
    Ok(())
}

/// Redirects are handed to the guest, not followed; a guest cannot set `Host` to send a request
/// elsewhere.
#[test]
fn redirects_and_host_headers_do_not_move_requests() -> TestResult {
    let (model, rule) = mock()?;
    let server = Server::start("fetch", &["--allow-outbound", &rule])?;
    let redirected = fetch(&server, json!({"url": format!("{rule}/redirect")}))?;
    assert_eq!(redirected["status"], 302, "{redirected}");
    assert_eq!(model.requests().len(), 1);
    let spoofed = fetch(
        &server,
        json!({"url": format!("{rule}/echo"), "headers": [["host", "169.254.169.254"]]}),
    )?;
    assert!(spoofed["error"].is_object(), "{spoofed}");
    assert!(
        model
            .requests()
            .iter()
            .all(|r| r.header("host") != Some("169.254.169.254"))
    );
    Ok(())
}

/// `wasm-agent invoke` takes the same outbound flags as `serve`.
#[test]
fn invoke_takes_the_outbound_flags() -> TestResult {
    let (model, rule) = mock()?;
    let payload = json!({"url": format!("{rule}/status/200")}).to_string();
    let output = run(binary()
        .arg("invoke")
        .arg(guest("fetch"))
        .arg(&payload)
        .args(["--allow-outbound", &rule]))?;
    assert!(output.status.success(), "{}", stderr(&output));
    let result: Value = serde_json::from_str(stdout(&output).trim())?;
    assert_eq!(result["status"], 200, "{result}");
    let denied = run(binary().arg("invoke").arg(guest("fetch")).arg(&payload))?;
    let result: Value = serde_json::from_str(stdout(&denied).trim())?;
    assert_eq!(error_kind(&result), Some("Denied"), "{result}");
    assert_eq!(model.requests().len(), 1);
    Ok(())
}

/// Bad outbound flags are refused before anything starts, naming the flag.
#[test]
fn bad_outbound_flags_are_refused() -> TestResult {
    for (flags, says) in [
        (
            vec!["--allow-outbound", "api.openai.com"],
            "--allow-outbound",
        ),
        (
            vec![
                "--outbound-auth",
                "https://a.io=bearer-env:WASM_AGENT_TEST_UNSET",
            ],
            "not set",
        ),
        (
            vec!["--outbound-auth", "https://a.io=sigv4:bedrock"],
            "region",
        ),
    ] {
        let output = run(binary()
            .arg("serve")
            .arg(guest("fetch"))
            .args(["--port", "0"])
            .args(&flags)
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION"))?;
        assert_eq!(
            output.status.code(),
            Some(64),
            "{flags:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(says),
            "{flags:?}: {}",
            stderr(&output)
        );
    }
    Ok(())
}

/// Over TLS the client speaks HTTP/2 where the server offers it, on one pooled connection,
/// trusting a private CA only when the operator names it.
#[test]
fn tls_uses_http2_and_trusts_only_named_roots() -> TestResult {
    let model = MockModel::start_tls(MockConfig::default())?;
    let rule = model.url();
    let url = format!("{rule}/status/200");
    let untrusted = Server::start("fetch", &["--allow-outbound", &rule])?;
    let refused = fetch(&untrusted, json!({"url": url}))?;
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("TLS"), "{refused}");
    assert!(model.requests().is_empty());
    let ca = fixture("outbound-ca.pem");
    let ca = ca.to_str().ok_or("fixture path")?;
    let server = Server::start("fetch", &["--allow-outbound", &rule, "--outbound-ca", ca])?;
    for _ in 0..2 {
        let result = fetch(&server, json!({"url": url}))?;
        assert_eq!(result["status"], 200, "{result}");
    }
    let versions: Vec<String> = model.requests().into_iter().map(|r| r.version).collect();
    assert_eq!(versions, ["HTTP/2.0", "HTTP/2.0"]);
    // One refused handshake from the first server, one connection from the second.
    assert_eq!(model.connections_accepted(), 2);
    Ok(())
}

/// A destination that is allowed but refuses the connection fails each request with an error
/// the guest can report, even when the guest writes its body after the connection failed:
/// componentize-js's `fetch` aborted its instance when that write found the body dropped.
#[test]
fn a_refused_connection_fails_only_the_request() -> TestResult {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.local_addr()?
    };
    let rule = format!("http://{closed}");
    let endpoint = format!("MODEL_ENDPOINT={rule}/v1");
    let server = Server::start(
        "js-agent",
        &[
            "--allow-outbound",
            &rule,
            "--env",
            &endpoint,
            "--env",
            "MODEL_ID=m",
        ],
    )?;
    for attempt in 0..50 {
        let response = server.invoke(r#"{"ask": "hello"}"#)?;
        let error = response.json()?["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert_eq!(
            response.status,
            502,
            "attempt {attempt}: {}",
            response.text()
        );
        assert!(
            error.contains("could not reach"),
            "attempt {attempt}: {error}"
        );
    }
    server.assert_not_logged("trap");
    Ok(())
}
