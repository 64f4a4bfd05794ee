//! `/ws`: a guest's WebSocket handler, in an instance of its own on the worker pool.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{ClientRequestBuilder, Message, WebSocket};

use crate::server::{SESSION_HEADER, Server, one_load_test_at_a_time};
use crate::support::{TestResult, eventually, wait_status};

type Socket = WebSocket<TcpStream>;

/// Opens `/ws` with `headers`.
fn open(server: &Server, headers: &[(&str, &str)]) -> Result<Socket, Box<dyn std::error::Error>> {
    let uri: tungstenite::http::Uri = format!("ws://{}/ws", server.address).parse()?;
    let mut request = ClientRequestBuilder::new(uri);
    for (name, value) in headers {
        request = request.with_header(*name, *value);
    }
    let stream = server.connect()?;
    let (socket, _) = tungstenite::client(request, stream)?;
    Ok(socket)
}

/// Reads until a data message or the close frame.
fn next(socket: &mut Socket) -> Result<Message, Box<dyn std::error::Error>> {
    loop {
        match socket.read()? {
            Message::Ping(_) | Message::Pong(_) => continue,
            other => return Ok(other),
        }
    }
}

/// Reads until the server's close frame, and returns it.
fn close_frame(socket: &mut Socket) -> Result<CloseFrame, Box<dyn std::error::Error>> {
    loop {
        match socket.read() {
            Ok(Message::Close(Some(frame))) => return Ok(frame),
            Ok(Message::Close(None)) => return Err("closed without a code".into()),
            Ok(_) => continue,
            Err(error) => return Err(format!("no close frame: {error}").into()),
        }
    }
}

/// Drives the closing handshake to its end once both close frames are on their way: tungstenite
/// sends any reply it owes, and reports `ConnectionClosed` only when the server has ended the
/// connection cleanly (a reset or a message after the close is an error).
fn finish_closing(socket: &mut Socket) -> Result<(), Box<dyn std::error::Error>> {
    match socket.read() {
        Err(tungstenite::Error::ConnectionClosed) => Ok(()),
        Ok(message) => Err(format!("a message after the close: {message:?}").into()),
        Err(error) => Err(format!("the closing handshake did not complete: {error}").into()),
    }
}

/// Reads until the server closes, completes the closing handshake, and returns the server's
/// close code and reason.
fn closed_by_server(
    socket: &mut Socket,
) -> Result<(CloseCode, String), Box<dyn std::error::Error>> {
    let frame = close_frame(socket)?;
    finish_closing(socket)?;
    Ok((frame.code, frame.reason.as_str().to_owned()))
}

/// Reads until the server closes, and returns its close code.
fn close_code(socket: &mut Socket) -> Result<CloseCode, Box<dyn std::error::Error>> {
    Ok(closed_by_server(socket)?.0)
}

/// Text and binary messages come back as sent; the handler sees the context of the upgrade
/// request; returning closes normally.
#[test]
fn echo_with_the_upgrade_context() -> TestResult {
    let server = Server::start("ws-echo", &[])?;
    let mut socket = open(
        &server,
        &[
            (SESSION_HEADER, "ws-session"),
            ("X-Amzn-Bedrock-AgentCore-Runtime-Custom-Colour", "blue"),
        ],
    )?;
    socket.send(Message::text("hello"))?;
    assert_eq!(next(&mut socket)?, Message::text("hello"));
    socket.send(Message::binary(vec![0u8, 1, 255]))?;
    assert_eq!(next(&mut socket)?, Message::binary(vec![0u8, 1, 255]));
    socket.send(Message::text("context"))?;
    let Message::Text(context) = next(&mut socket)? else {
        return Err("no context".into());
    };
    let context: serde_json::Value = serde_json::from_str(context.as_str())?;
    assert_eq!(context["session_id"], "ws-session");
    assert_eq!(
        context["headers"],
        serde_json::json!([["x-amzn-bedrock-agentcore-runtime-custom-colour", "blue"]])
    );
    socket.send(Message::text("bye"))?;
    assert_eq!(close_code(&mut socket)?, CloseCode::Normal);
    Ok(())
}

/// A handler can wait for a message with a timeout and do other work in between; work it
/// schedules starts while the connection is still open.
#[test]
fn receive_with_timeout_and_background_work() -> TestResult {
    let server = Server::start("ws-echo", &[])?;
    let mut socket = open(&server, &[])?;
    socket.send(Message::text("tick"))?;
    for tick in 1..=3 {
        assert_eq!(next(&mut socket)?, Message::text(format!("tick {tick}")));
    }
    socket.send(Message::text("schedule"))?;
    assert_eq!(next(&mut socket)?, Message::text("scheduled"));
    server.expect_log("ws job ran: ws-job")?;
    socket.send(Message::text("hello"))?;
    assert_eq!(
        next(&mut socket)?,
        Message::text("hello"),
        "still connected"
    );
    Ok(())
}

/// A client's close is answered: the server echoes the close frame (1000) and ends the
/// connection cleanly, and the handler's `receive` says the connection is closed.
#[test]
fn client_close_is_answered() -> TestResult {
    let server = Server::start("ws-echo", &[])?;
    let mut socket = open(&server, &[])?;
    socket.send(Message::text("hello"))?;
    assert_eq!(next(&mut socket)?, Message::text("hello"));
    socket.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "done".into(),
    }))?;
    let answer = close_frame(&mut socket)?;
    assert_eq!(answer.code, CloseCode::Normal, "{answer:?}");
    finish_closing(&mut socket)?;
    server.expect_log("ws-echo: receive says closed")?;
    server.expect_log("websocket handler returned")?;
    Ok(())
}

/// A handler that fails or traps closes the connection with 1011, as the SDK does, with a
/// reason a person reads: a failure's own message, or what happened for a trap; the full
/// error is only in the server's log.
#[test]
fn failure_closes_with_1011() -> TestResult {
    let server = Server::start("ws-echo", &[])?;
    for (command, reason) in [("fail", "asked to fail"), ("panic", "the handler crashed")] {
        let mut socket = open(&server, &[])?;
        socket.send(Message::text(command))?;
        let closed = closed_by_server(&mut socket)?;
        assert_eq!(closed, (CloseCode::Error, reason.to_owned()), "{command}");
    }
    server.expect_log("websocket handler failed")?;
    server.expect_log("asked to panic")?;
    Ok(())
}

/// A message the handler sends over the event limit ends the connection with 1011; the limit
/// is named in the server's log, not to the client.
#[test]
fn an_oversized_message_closes_with_1011() -> TestResult {
    let server = Server::start("ws-echo", &["--max-event-size", "1KiB"])?;
    let mut socket = open(&server, &[])?;
    socket.send(Message::text("a".repeat(1000)))?;
    assert!(matches!(next(&mut socket)?, Message::Text(text) if text.len() == 1000));
    socket.send(Message::text("a".repeat(2000)))?;
    let closed = closed_by_server(&mut socket)?;
    assert_eq!(closed, (CloseCode::Error, "the handler failed".to_owned()));
    server.expect_log("a WebSocket message is larger than the 1 KiB the server takes")?;
    Ok(())
}

/// A handler still serving when `--stream-timeout` passes (here waiting for a message that
/// never comes) is stopped, and the client is told with 1011.
#[test]
fn deadline_closes_with_1011() -> TestResult {
    let server = Server::start("ws-echo", &["--stream-timeout", "2s"])?;
    let mut socket = open(&server, &[])?;
    let closed = closed_by_server(&mut socket)?;
    assert_eq!(
        closed,
        (CloseCode::Error, "the handler ran out of time".to_owned())
    );
    server.expect_log("deadline of 2s")?;
    Ok(())
}

/// Shutting the server down closes an open connection with 1001 (going away), completing the
/// closing handshake before the server exits.
#[test]
fn shutdown_closes_with_1001() -> TestResult {
    let mut server = Server::start("ws-echo", &[])?;
    let mut socket = open(&server, &[])?;
    socket.send(Message::text("hello"))?;
    assert_eq!(next(&mut socket)?, Message::text("hello"), "connected");
    server.terminate()?;
    let closed = closed_by_server(&mut socket)?;
    assert_eq!(
        closed,
        (CloseCode::Away, "the server is shutting down".to_owned())
    );
    let status = wait_status(&mut server.child, Duration::from_secs(60))?;
    assert_eq!(status.code(), Some(0), "the server's exit code");
    Ok(())
}

/// Without a WebSocket export the handshake is refused with 403, as in the SDK.
#[test]
fn handler_without_websocket_refuses_the_handshake() -> TestResult {
    let server = Server::start("echo", &[])?;
    match open(&server, &[]) {
        Err(error) => assert!(error.to_string().contains("403"), "{error}"),
        Ok(_) => return Err("the handshake succeeded".into()),
    }
    let plain = server.request("GET", "/ws", &[], b"")?;
    assert_eq!(plain.status, 403);
    assert!(plain.json()?["error"].is_string());
    Ok(())
}

/// A WebSocket handler that spins blocks neither `/ping` nor invocations, and is stopped at
/// the stream timeout with 1011. One worker thread: were the spinner not time-sliced, every
/// invocation would wait for it to be stopped, 8 s on.
#[test]
fn spinning_handler_blocks_nothing() -> TestResult {
    let _load = one_load_test_at_a_time();
    let server = Server::start("ws-echo", &["--stream-timeout", "8s", "--workers", "1"])?;
    let mut socket = open(&server, &[])?;
    socket.send(Message::text("spin"))?;
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..3 {
        let started = Instant::now();
        assert_eq!(server.ping()?.0, "Healthy");
        let echoed = server.invoke(r#"{"n": 1}"#)?;
        assert_eq!(echoed.status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
    assert_eq!(close_code(&mut socket)?, CloseCode::Error);
    server.expect_log("deadline of 8s")?;
    Ok(())
}

/// Past `--max-websockets` connections, the handshake is refused with 503; a slot frees when
/// a connection ends.
#[test]
fn connections_past_the_limit_are_refused() -> TestResult {
    let server = Server::start("ws-echo", &["--max-websockets", "1"])?;
    let mut first = open(&server, &[])?;
    match open(&server, &[]) {
        Err(error) => assert!(error.to_string().contains("503"), "{error}"),
        Ok(_) => return Err("a second connection was accepted".into()),
    }
    first.send(Message::text("bye"))?;
    assert_eq!(close_code(&mut first)?, CloseCode::Normal);
    assert!(
        eventually(Duration::from_secs(10), || open(&server, &[]).is_ok()),
        "the slot was not freed"
    );
    Ok(())
}

/// A plain request to `/ws` on a handler that has one is a JSON 400.
#[test]
fn non_upgrade_request_is_a_400() -> TestResult {
    let server = Server::start("ws-echo", &[])?;
    let plain = server.request("GET", "/ws", &[], b"")?;
    assert_eq!(plain.status, 400, "{}", plain.text());
    assert!(plain.json()?["error"].is_string());
    Ok(())
}
