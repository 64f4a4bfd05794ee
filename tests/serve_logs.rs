//! How each invocation ends: exactly one `invocation ended` line in the server's log, whichever
//! way it ends (completed, failed, timed out, refused, its client gone, given up at shutdown),
//! and what a client sees when the server gives up on its invocation at shutdown.

use std::io::BufReader;
use std::net::TcpStream;
use std::time::Duration;

use crate::mock_model::{MockConfig, MockModel};
use crate::server::{
    SESSION_HEADER, Server, one_load_test_at_a_time, read_body, read_chunk, read_head, send,
};
use crate::support::{TestResult, eventually, wait_status};

/// The request id header: each test names its requests, so their lines can be found even when
/// the client never sees a reply.
const REQUEST_HEADER: &str = "X-Amzn-Bedrock-AgentCore-Runtime-Request-Id";

/// The `invocation ended` lines of the request `id`.
fn endings(server: &Server, id: &str) -> Vec<String> {
    let field = format!(" request_id={id} ");
    server
        .log()
        .lines()
        .filter(|line| line.contains("invocation_log: invocation ended") && line.contains(&field))
        .map(str::to_owned)
        .collect()
}

/// The value of `name=` in a log line (up to the next space).
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {name}="))? + name.len() + 2;
    line[start..].split(' ').next()
}

/// Waits for the request's `invocation ended` line, and checks it is the only one and says
/// `outcome`; returns it.
fn ending(server: &Server, id: &str, outcome: &str) -> Result<String, Box<dyn std::error::Error>> {
    eventually(Duration::from_secs(20), || !endings(server, id).is_empty());
    let lines = endings(server, id);
    let [line] = lines.as_slice() else {
        return Err(format!(
            "{id}: expected one `invocation ended` line, found {}:\n{}",
            lines.len(),
            server.log()
        )
        .into());
    };
    if field(line, "outcome") != Some(outcome) {
        return Err(format!("{id}: expected outcome={outcome}: {line}").into());
    }
    Ok(line.clone())
}

/// Sends an invocation named `id` and returns the connection, its reply unread.
fn start(
    server: &Server,
    id: &str,
    payload: &str,
) -> Result<BufReader<TcpStream>, Box<dyn std::error::Error>> {
    let mut stream = server.connect()?;
    let headers = [(REQUEST_HEADER, id), (SESSION_HEADER, "log-session")];
    send(
        &mut stream,
        "POST",
        "/invocations",
        &headers,
        payload.as_bytes(),
    )?;
    Ok(BufReader::new(stream))
}

/// Sends an invocation named `id` and reads its whole reply: its status and body.
fn call(
    server: &Server,
    id: &str,
    payload: &str,
) -> Result<(u16, String), Box<dyn std::error::Error>> {
    let mut reader = start(server, id, payload)?;
    let head = read_head(&mut reader)?;
    let body = read_body(&mut reader, &head)?;
    Ok((head.status, String::from_utf8(body)?))
}

/// A JSON reply and a whole stream are `completed` (INFO), with the status, the request and
/// session ids, the duration and the events sent.
#[test]
fn completed_replies_and_streams_log_one_line() -> TestResult {
    let echo = Server::start("echo", &[])?;
    assert_eq!(call(&echo, "log-json", "{}")?.0, 200);
    let line = ending(&echo, "log-json", "completed")?;
    assert!(line.contains(" INFO "), "{line}");
    assert_eq!(field(&line, "status"), Some("200"), "{line}");
    assert_eq!(field(&line, "session_id"), Some("log-session"), "{line}");
    assert_eq!(field(&line, "events"), Some("0"), "{line}");
    assert!(field(&line, "duration_ms").is_some(), "{line}");
    assert_eq!(field(&line, "kind"), None, "{line}");

    let stream = Server::start("stream", &[])?;
    assert_eq!(call(&stream, "log-stream", r#"{"count": 3}"#)?.0, 200);
    let line = ending(&stream, "log-stream", "completed")?;
    assert_eq!(field(&line, "status"), Some("200"), "{line}");
    assert_eq!(field(&line, "events"), Some("3"), "{line}");
    Ok(())
}

/// A guest's failure, before any event or mid-stream, and a trap are `failed` (WARN), naming
/// the kind; the route's old `invocation failed` line is gone.
#[test]
fn failures_log_their_kind() -> TestResult {
    let fail = Server::start("fail", &[])?;
    let payload = r#"{"status": 422, "message": "bad input"}"#;
    assert_eq!(call(&fail, "log-fail", payload)?.0, 422);
    let line = ending(&fail, "log-fail", "failed")?;
    assert!(line.contains(" WARN "), "{line}");
    assert_eq!(field(&line, "kind"), Some("Guest"), "{line}");
    assert_eq!(field(&line, "status"), Some("422"), "{line}");
    assert!(line.contains("bad input"), "{line}");

    let trap = Server::start("trap", &[])?;
    assert_eq!(call(&trap, "log-trap", r#"{"message": "kaboom"}"#)?.0, 500);
    let line = ending(&trap, "log-trap", "failed")?;
    assert_eq!(field(&line, "kind"), Some("Trap"), "{line}");
    trap.assert_not_logged("invocation failed");

    let stream = Server::start("stream", &[])?;
    let payload = r#"{"count": 3, "fail_after": 2}"#;
    assert_eq!(call(&stream, "log-mid-stream", payload)?.0, 200);
    let line = ending(&stream, "log-mid-stream", "failed")?;
    assert_eq!(field(&line, "status"), Some("200"), "{line}");
    assert_eq!(field(&line, "events"), Some("2"), "{line}");
    Ok(())
}

/// A guest that runs past `--timeout` is `timed_out` (WARN).
#[test]
fn a_timeout_is_logged_as_timed_out() -> TestResult {
    let server = Server::start("spin", &["--timeout", "500ms"])?;
    assert_eq!(call(&server, "log-timeout", "{}")?.0, 500);
    let line = ending(&server, "log-timeout", "timed_out")?;
    assert!(line.contains(" WARN "), "{line}");
    assert_eq!(field(&line, "kind"), Some("Timeout"), "{line}");
    assert_eq!(field(&line, "status"), Some("500"), "{line}");
    Ok(())
}

/// A client that leaves before its JSON reply is `client_gone` (INFO), with no status: none was
/// sent.
#[test]
fn a_client_leaving_before_its_reply_is_logged() -> TestResult {
    let server = Server::start("spin", &["--cancel-grace", "200ms", "--timeout", "60s"])?;
    let reader = start(&server, "log-left-json", "{}")?;
    server.expect_log("spinning")?;
    drop(reader);
    let line = ending(&server, "log-left-json", "client_gone")?;
    assert!(line.contains(" INFO "), "{line}");
    assert_eq!(field(&line, "status"), None, "{line}");
    Ok(())
}

/// A client that leaves mid-stream is `client_gone` (INFO), with the events it was sent.
#[test]
fn a_client_leaving_mid_stream_is_logged() -> TestResult {
    let server = Server::start("stream", &["--cancel-grace", "200ms"])?;
    let mut reader = start(&server, "log-left", r#"{"count": 100000, "pause_ms": 100}"#)?;
    assert_eq!(read_head(&mut reader)?.status, 200);
    read_chunk(&mut reader)?.ok_or("no first event")?;
    drop(reader);
    let line = ending(&server, "log-left", "client_gone")?;
    assert!(line.contains(" INFO "), "{line}");
    assert_eq!(field(&line, "status"), Some("200"), "{line}");
    assert!(field(&line, "events").is_some_and(|n| n != "0"), "{line}");
    Ok(())
}

/// A client that reads nothing of a stream that never ends, and then leaves, is `client_gone`:
/// the stream was stalled on the full connection, not polled, when the client went.
#[test]
fn a_client_that_never_reads_its_stream_is_logged() -> TestResult {
    let server = Server::start("flood", &["--cancel-grace", "200ms"])?;
    let mut stream = server.connect()?;
    let headers = [(REQUEST_HEADER, "log-unread")];
    send(
        &mut stream,
        "POST",
        "/invocations",
        &headers,
        br#"{"size": 65536}"#,
    )?;
    // The flood fills the socket buffers within milliseconds of starting; holding the
    // connection unread a while makes sure the server is stuck writing when the client goes.
    // The check below holds however long this is.
    std::thread::sleep(Duration::from_millis(500));
    drop(stream);
    let line = ending(&server, "log-unread", "client_gone")?;
    assert_eq!(field(&line, "status"), Some("200"), "{line}");
    Ok(())
}

/// A client that leaves while its guest streams a model's reply is `client_gone`, although the
/// guest then fails with a 502 (its model call was cut off with it): nobody was left to fail.
#[test]
fn a_client_leaving_a_model_call_is_not_a_failure() -> TestResult {
    let model = MockModel::start(MockConfig {
        tokens: (0..50).map(|i| format!("t{i} ")).collect(),
        token_pause: Duration::from_millis(200),
        ..MockConfig::default()
    })?;
    let server = model.serve_agent("model-agent", "m", &["--cancel-grace", "2s"])?;
    let mut reader = start(&server, "log-model", r#"{"prompt": "long"}"#)?;
    assert_eq!(read_head(&mut reader)?.status, 200);
    read_chunk(&mut reader)?.ok_or("no first event")?;
    drop(reader);
    // The model call ends (and is logged) when the guest has been told; the guest's 502
    // follows at once.
    let cut = eventually(Duration::from_secs(10), || {
        model.streams_cut() == 1
            && server.log().lines().any(|line| {
                line.contains("outbound request") && line.contains("request_id=log-model ")
            })
    });
    assert!(cut, "the model call was not cut off");
    // A session's calls run one at a time: once the next one has ended, the first guest has
    // returned its failure, and any line that failure could cause has been written.
    assert_eq!(call(&server, "log-model-next", "{}")?.0, 400, "no prompt");
    ending(&server, "log-model-next", "failed")?;
    let line = ending(&server, "log-model", "client_gone")?;
    assert_eq!(field(&line, "kind"), None, "{line}");
    Ok(())
}

/// Refusals are `refused` (INFO) with the kind and status: admission's 503 and a payload's 4xx.
#[test]
fn refusals_are_logged_as_refused() -> TestResult {
    let flags = [
        "--max-concurrency",
        "1",
        "--max-queue",
        "0",
        "--max-payload",
        "1KiB",
        "--timeout",
        "60s",
        "--instance-scope",
        "request",
    ];
    let server = Server::start("sleep", &flags)?;
    let _held = start(&server, "log-holder", r#"{"ms": 60000}"#)?;
    server.expect_log("sleeping 60000 ms")?;
    assert_eq!(call(&server, "log-busy", r#"{"ms": 1}"#)?.0, 503);
    let line = ending(&server, "log-busy", "refused")?;
    assert!(line.contains(" INFO "), "{line}");
    assert_eq!(field(&line, "kind"), Some("Busy"), "{line}");
    assert_eq!(field(&line, "status"), Some("503"), "{line}");

    let large = format!("\"{}\"", "x".repeat(2000));
    assert_eq!(call(&server, "log-large", &large)?.0, 413);
    let line = ending(&server, "log-large", "refused")?;
    assert_eq!(field(&line, "kind"), Some("PayloadTooLarge"), "{line}");
    assert_eq!(field(&line, "status"), Some("413"), "{line}");

    assert_eq!(call(&server, "log-invalid", "{not json")?.0, 400);
    let line = ending(&server, "log-invalid", "refused")?;
    assert_eq!(field(&line, "kind"), Some("InvalidJson"), "{line}");
    Ok(())
}

/// Flags of a server that gives up on its invocations soon after SIGTERM.
const QUICK_SHUTDOWN: &[&str] = &[
    "--shutdown-grace",
    "300ms",
    "--cancel-grace",
    "200ms",
    "--timeout",
    "60s",
];

/// A JSON invocation still running when the shutdown grace is over is answered as retryable:
/// 503 with `Retry-After` and a body saying the server is shutting down, logged `cancelled`.
#[test]
fn shutdown_past_the_grace_answers_503() -> TestResult {
    let _load = one_load_test_at_a_time();
    let mut server = Server::start("sleep", QUICK_SHUTDOWN)?;
    let mut reader = start(&server, "log-shutdown", r#"{"ms": 60000}"#)?;
    server.expect_log("sleeping 60000 ms")?;
    server.terminate()?;
    let head = read_head(&mut reader)?;
    let body = String::from_utf8(read_body(&mut reader, &head)?)?;
    assert_eq!(head.status, 503, "{body}");
    assert_eq!(head.header("retry-after"), Some("1"));
    assert_eq!(head.header("content-type"), Some("application/json"));
    assert_eq!(
        body,
        r#"{"error":"the server is shutting down; try again"}"#
    );
    let status = wait_status(&mut server.child, Duration::from_secs(30))?;
    assert_eq!(status.code(), Some(0), "the server's exit code");
    let line = ending(&server, "log-shutdown", "cancelled")?;
    assert!(line.contains(" WARN "), "{line}");
    assert_eq!(field(&line, "kind"), Some("ShuttingDown"), "{line}");
    assert_eq!(field(&line, "status"), Some("503"), "{line}");
    Ok(())
}

/// A stream still running when the shutdown grace is over ends with the SDK's error event
/// saying the server is shutting down, and is logged `cancelled`.
#[test]
fn shutdown_past_the_grace_ends_a_stream_with_an_error_event() -> TestResult {
    let _load = one_load_test_at_a_time();
    let mut server = Server::start("sleep", QUICK_SHUTDOWN)?;
    let payload = r#"{"ms": 60000, "emit_first": true}"#;
    let mut reader = start(&server, "log-shutdown-stream", payload)?;
    assert_eq!(read_head(&mut reader)?.status, 200);
    let first = read_chunk(&mut reader)?.ok_or("no first event")?;
    assert_eq!(
        String::from_utf8(first)?,
        "data: {\"sleeping_ms\":60000}\n\n"
    );
    server.expect_log("sleeping 60000 ms")?;
    server.terminate()?;
    let last = read_chunk(&mut reader)?.ok_or("no final event")?;
    assert_eq!(
        String::from_utf8(last)?,
        "data: {\"error\": \"the server is shutting down; try again\", \"error_type\": \
         \"ShuttingDown\", \"message\": \"An error occurred during streaming\"}\n\n"
    );
    assert_eq!(read_chunk(&mut reader)?, None, "the stream ends after it");
    let status = wait_status(&mut server.child, Duration::from_secs(30))?;
    assert_eq!(status.code(), Some(0), "the server's exit code");
    let line = ending(&server, "log-shutdown-stream", "cancelled")?;
    assert_eq!(field(&line, "status"), Some("200"), "{line}");
    assert_eq!(field(&line, "events"), Some("1"), "{line}");
    Ok(())
}
