//! `/ws`: a guest's WebSocket handler, in an instance of its own on the worker pool.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{ClientRequestBuilder, Message, WebSocket};

use crate::server::{SESSION_HEADER, Server, eventually, one_load_test_at_a_time};
use crate::support::TestResult;

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

/// Reads until the server closes, and returns its close code.
fn close_code(socket: &mut Socket) -> Result<CloseCode, Box<dyn std::error::Error>> {
    loop {
        match socket.read() {
            Ok(Message::Close(Some(frame))) => return Ok(frame.code),
            Ok(Message::Close(None)) => return Err("closed without a code".into()),
            Ok(_) => continue,
            Err(error) => return Err(format!("no close frame: {error}").into()),
        }
    }
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

/// A handler that fails or traps closes the connection with 1011, as the SDK does.
#[test]
fn failure_closes_with_1011() -> TestResult {
    let server = Server::start("ws-echo", &[])?;
    for command in ["fail", "panic"] {
        let mut socket = open(&server, &[])?;
        socket.send(Message::text(command))?;
        assert_eq!(close_code(&mut socket)?, CloseCode::Error, "{command}");
    }
    server.expect_log("websocket handler failed")?;
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
