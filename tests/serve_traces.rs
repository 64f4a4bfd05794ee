//! OpenTelemetry traces through the real server: spans exported over OTLP/HTTP to a receiver on
//! 127.0.0.1, continuing the caller's trace (`traceparent` or AgentCore's `X-Amzn-Trace-Id`)
//! through the guest call to its outbound requests, which carry it onward; and nothing at all
//! when no endpoint is set.

use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::mock_model::{MockConfig, MockModel};
use crate::otlp_receiver::{CLIENT, ERROR, INTERNAL, OtlpReceiver, ReceivedSpan, SERVER};
use crate::server::{SESSION_HEADER, Server};
use crate::support::{TestResult, binary, eventually, guest, wait_status};

/// The caller's trace and span, as its `traceparent` names them.
const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const CALLER_SPAN: &str = "b7ad6b7169203331";
/// A trace header the guest writes itself, which the host must not let through.
const GUEST_TRACEPARENT: &str = "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01";
/// How long a test waits for spans: exports are batched every 50 ms, on a machine that may be
/// loaded.
const EXPORTED: Duration = Duration::from_secs(20);

/// `wasm-agent serve` on `guest` with `flags`, and of the `OTEL_*` variables only `env`: none
/// may come from the environment the tests run in.
fn serve(
    guest_name: &str,
    flags: &[&str],
    env: &[(&str, &str)],
) -> Result<Server, Box<dyn std::error::Error>> {
    let mut command: Command = binary();
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("OTEL_") {
            command.env_remove(name);
        }
    }
    command
        .arg("serve")
        .arg(guest(guest_name))
        .args(["--port", "0"])
        .args(flags)
        .envs(env.iter().copied());
    Server::spawn(command)
}

/// The one span of `kind` named `name` among `spans`.
fn one<'a>(spans: &'a [ReceivedSpan], kind: i32, name: &str) -> Result<&'a ReceivedSpan, String> {
    let mut found = spans.iter().filter(|s| s.kind == kind && s.name == name);
    match (found.next(), found.next()) {
        (Some(span), None) => Ok(span),
        _ => Err(format!("not one {name} span of kind {kind} in {spans:#?}")),
    }
}

/// An invocation's server span continues the caller's `traceparent`; the guest call is its
/// child and the outbound request the call's, all in one trace; the upstream receives the
/// outbound span's `traceparent` (the guest's own replaced) but not the caller's baggage, which
/// stays with the caller; the URL is recorded as its origin only.
#[test]
fn a_trace_runs_from_the_caller_through_the_guest_to_its_outbound_request() -> TestResult {
    let receiver = OtlpReceiver::start()?;
    let model = MockModel::start(MockConfig::default())?;
    let rule = model.url();
    let endpoint = receiver.url();
    let server = serve(
        "fetch",
        &["--allow-outbound", &rule],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
            ("OTEL_SERVICE_NAME", "traced-agent"),
        ],
    )?;
    let payload = json!({
        "url": format!("{rule}/status/201?api_key=query-secret"),
        "headers": [["traceparent", GUEST_TRACEPARENT], ["tracestate", "guest=1"]],
    });
    let traceparent = format!("00-{TRACE_ID}-{CALLER_SPAN}-01");
    let headers = [
        ("traceparent", traceparent.as_str()),
        ("tracestate", "caller=1"),
        (
            "baggage",
            "tenant=t1,aws.agentcore.gateway.routing_experiment_arn=exp-1",
        ),
        (SESSION_HEADER, "session-1"),
    ];
    let response = server.request(
        "POST",
        "/invocations",
        &headers,
        payload.to_string().as_bytes(),
    )?;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()?["status"], 201);
    assert!(
        eventually(EXPORTED, || receiver.trace(TRACE_ID).len() >= 3),
        "spans received: {:#?}",
        receiver.spans()
    );
    let spans = receiver.trace(TRACE_ID);
    assert_eq!(spans.len(), 3, "{spans:#?}");

    let invocation = one(&spans, SERVER, "POST /invocations")?;
    assert_eq!(invocation.parent_span_id, CALLER_SPAN);
    assert_eq!(invocation.service, "traced-agent");
    assert_eq!(
        invocation.attribute("http.response.status_code"),
        Some("200")
    );
    assert_eq!(invocation.attribute("session.id"), Some("session-1"));
    assert_eq!(
        invocation.attribute("wasm_agent.outcome"),
        Some("completed")
    );
    let request_id = response.header("x-amzn-bedrock-agentcore-runtime-request-id");
    assert_eq!(invocation.attribute("wasm_agent.request_id"), request_id);
    assert_eq!(
        invocation.attribute("aws.agentcore.gateway.routing_experiment_arn"),
        Some("exp-1")
    );
    assert_ne!(invocation.status, ERROR);

    let call = one(&spans, INTERNAL, "invoke")?;
    assert_eq!(call.parent_span_id, invocation.span_id);
    assert_eq!(call.attribute("wasm_agent.outbound_requests"), Some("1"));

    let outbound = one(&spans, CLIENT, "GET")?;
    assert_eq!(outbound.parent_span_id, call.span_id);
    assert_eq!(outbound.attribute("url.full"), Some(rule.as_str()));
    assert_eq!(outbound.attribute("http.request.method"), Some("GET"));
    assert_eq!(outbound.attribute("server.address"), Some("127.0.0.1"));
    assert_eq!(outbound.attribute("http.response.status_code"), Some("201"));
    assert_eq!(outbound.attribute("wasm_agent.outcome"), Some("completed"));
    for span in &spans {
        for (key, value) in &span.attributes {
            assert!(
                !value.contains("query-secret") && !value.contains("/status/"),
                "{} {key}={value}",
                span.name
            );
        }
    }

    let sent = model.requests();
    assert_eq!(sent.len(), 1);
    let expected = format!("00-{TRACE_ID}-{}-01", outbound.span_id);
    assert_eq!(sent[0].header("traceparent"), Some(expected.as_str()));
    assert_eq!(sent[0].header("tracestate"), Some("caller=1"));
    assert_eq!(sent[0].header("baggage"), None);
    Ok(())
}

/// Without a `traceparent`, AgentCore's `X-Amzn-Trace-Id` is continued: its root is the trace,
/// its parent the caller's span. A `traceparent` wins over it, and a request with neither starts
/// a trace of its own. OTLP/JSON is sent when asked for.
#[test]
fn an_amzn_trace_id_is_continued_when_there_is_no_traceparent() -> TestResult {
    let receiver = OtlpReceiver::start()?;
    let endpoint = receiver.url();
    let server = serve(
        "echo",
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ],
    )?;
    let amzn = (
        "X-Amzn-Trace-Id",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    );
    let traceparent = format!("00-{TRACE_ID}-{CALLER_SPAN}-01");
    for headers in [
        vec![amzn],
        vec![amzn, ("traceparent", traceparent.as_str())],
        vec![],
    ] {
        let response = server.request("POST", "/invocations", &headers, br#"{"hi": 1}"#)?;
        assert_eq!(response.status, 200, "{}", response.text());
    }
    let servers = |spans: Vec<ReceivedSpan>| spans.into_iter().filter(|s| s.kind == SERVER).count();
    assert!(
        eventually(EXPORTED, || servers(receiver.spans()) == 3),
        "spans received: {:#?}",
        receiver.spans()
    );

    let amzn_trace = receiver.trace("5759e988bd862e3fe1be46a994272793");
    let invocation = one(&amzn_trace, SERVER, "POST /invocations")?;
    assert_eq!(invocation.parent_span_id, "53995c3f42cd8ad8");
    let call = one(&amzn_trace, INTERNAL, "invoke")?;
    assert_eq!(call.parent_span_id, invocation.span_id);

    let w3c = receiver.trace(TRACE_ID);
    assert_eq!(
        one(&w3c, SERVER, "POST /invocations")?.parent_span_id,
        CALLER_SPAN
    );

    let spans = receiver.spans();
    let roots: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.kind == SERVER && s.parent_span_id.is_empty())
        .collect();
    assert_eq!(roots.len(), 1, "{spans:#?}");
    assert!(
        receiver
            .requests()
            .iter()
            .all(|content| content == "application/json"),
        "{:?}",
        receiver.requests()
    );
    Ok(())
}

/// Spans still batched when the server is told to stop are exported before it exits; a
/// handler's failure marks its call and its invocation as errors.
#[test]
fn pending_spans_are_exported_at_shutdown() -> TestResult {
    let receiver = OtlpReceiver::start()?;
    let endpoint = receiver.url();
    // A batch every ten minutes: only the flush at shutdown can export this one.
    let mut server = serve(
        "fail",
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
        ],
    )?;
    let response = server.invoke(r#"{"status": 502, "message": "upstream broke"}"#)?;
    assert_eq!(response.status, 502, "{}", response.text());
    server.expect_log("invocation ended")?;
    assert!(
        receiver.spans().is_empty(),
        "exported before the batch was due"
    );
    server.terminate()?;
    let status = wait_status(&mut server.child, Duration::from_secs(30))?;
    assert!(status.success(), "{status}");
    let spans = receiver.spans();
    let invocation = one(&spans, SERVER, "POST /invocations")?;
    assert_eq!(invocation.status, ERROR);
    assert_eq!(
        invocation.attribute("http.response.status_code"),
        Some("502")
    );
    assert_eq!(invocation.attribute("wasm_agent.outcome"), Some("failed"));
    let call = one(&spans, INTERNAL, "invoke")?;
    assert_eq!(call.status, ERROR);
    assert_eq!(call.parent_span_id, invocation.span_id);
    assert!(call.attribute("error.type").is_some(), "{call:#?}");
    Ok(())
}

/// Without an endpoint nothing is traced: invocations work, and the guest's own trace header
/// reaches the upstream untouched. With one but `OTEL_SDK_DISABLED=true`, nothing is exported,
/// not even at shutdown.
#[test]
fn without_an_endpoint_nothing_is_traced() -> TestResult {
    let receiver = OtlpReceiver::start()?;
    let model = MockModel::start(MockConfig::default())?;
    let rule = model.url();
    let endpoint = receiver.url();
    let payload = json!({
        "url": format!("{rule}/status/200"),
        "headers": [["traceparent", GUEST_TRACEPARENT]],
    })
    .to_string();
    let traceparent = format!("00-{TRACE_ID}-{CALLER_SPAN}-01");
    let headers = [
        ("traceparent", traceparent.as_str()),
        ("baggage", "tenant=t1"),
    ];
    for env in [
        vec![("OTEL_SERVICE_NAME", "untraced")],
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_SDK_DISABLED", "true"),
        ],
    ] {
        let mut server = serve("fetch", &["--allow-outbound", &rule], &env)?;
        let response = server.request("POST", "/invocations", &headers, payload.as_bytes())?;
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(response.json()?["status"], 200);
        server.terminate()?;
        let status = wait_status(&mut server.child, Duration::from_secs(30))?;
        assert!(status.success(), "{env:?}: {status}");
        server.assert_not_logged("exporting traces");
    }
    let sent = model.requests();
    assert_eq!(sent.len(), 2);
    for request in &sent {
        assert_eq!(request.header("traceparent"), Some(GUEST_TRACEPARENT));
        assert_eq!(request.header("baggage"), None);
    }
    assert!(receiver.requests().is_empty(), "{:?}", receiver.requests());
    Ok(())
}
