//! Session-scoped instances: state kept per session and nowhere else, invocations of a session
//! in order and sessions in parallel, and every way a session's instance is dropped.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::server::{SESSION_HEADER, Server, chat_history, one_load_test_at_a_time, send};
use crate::support::{TestResult, binary, eventually, guest, run, stderr};

/// The chat guest's reply to `message` in `session` (or in no session if empty).
fn say(server: &Server, session: &str, message: &str) -> Result<Value, Box<dyn std::error::Error>> {
    let body = format!(r#"{{"message": "{message}"}}"#);
    let response = if session.is_empty() {
        server.invoke(&body)?
    } else {
        server.invoke_in(session, &body)?
    };
    if response.status != 200 {
        return Err(format!("status {}: {}", response.status, response.text()).into());
    }
    Ok(response.json()?)
}

/// A session's globals persist between its invocations; no other session and no invocation
/// without a session sees them.
#[test]
fn conversation_persists_in_its_session_only() -> TestResult {
    let server = Server::start("chat", &[])?;
    say(&server, "session-a", "one")?;
    assert_eq!(
        chat_history(&say(&server, "session-a", "two")?),
        ["one", "two"]
    );
    assert_eq!(
        chat_history(&say(&server, "session-b", "hello")?),
        ["hello"]
    );
    assert_eq!(chat_history(&say(&server, "", "alone")?), ["alone"]);
    assert_eq!(
        chat_history(&say(&server, "", "again")?),
        ["again"],
        "no session: fresh"
    );
    let a = say(&server, "session-a", "three")?;
    assert_eq!(chat_history(&a), ["one", "two", "three"]);
    assert_eq!(a["session_id"], "session-a");
    Ok(())
}

/// With `--instance-scope request`, every invocation starts from nothing, session or not.
#[test]
fn request_scope_gives_every_invocation_a_fresh_instance() -> TestResult {
    let server = Server::start("chat", &["--instance-scope", "request"])?;
    say(&server, "session-a", "one")?;
    assert_eq!(chat_history(&say(&server, "session-a", "two")?), ["two"]);
    Ok(())
}

/// A trap drops its session's instance (the next invocation starts fresh, and the log says so)
/// and leaves every other session's state as it was.
#[test]
fn trap_resets_its_session_and_no_other() -> TestResult {
    let server = Server::start("chat", &[])?;
    say(&server, "session-a", "one")?;
    say(&server, "session-b", "kept")?;
    let trapped = server.invoke_in("session-a", r#"{"panic": true}"#)?;
    assert_eq!(trapped.status, 500);
    assert!(
        trapped.text().contains("asked to panic"),
        "{}",
        trapped.text()
    );
    assert_eq!(chat_history(&say(&server, "session-a", "two")?), ["two"]);
    assert_eq!(
        chat_history(&say(&server, "session-b", "more")?),
        ["kept", "more"]
    );
    server.expect_log("next invocation starts in a fresh instance")?;
    Ok(())
}

/// Runs `bodies` at once, each in its session, and returns the replies (in the order given)
/// and how long they all took.
fn concurrently(
    server: &Server,
    requests: &[(&str, &str)],
) -> Result<(Vec<Value>, Duration), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let replies = std::thread::scope(|scope| {
        let handles: Vec<_> = requests
            .iter()
            .enumerate()
            .map(|(i, (session, body))| {
                // Staggered, so arrival order is known.
                std::thread::sleep(Duration::from_millis(if i == 0 { 0 } else { 100 }));
                scope.spawn(move || {
                    server
                        .invoke_in(session, body)
                        .map_err(|e| e.to_string())
                        .and_then(|r| r.json().map_err(|e| e.to_string()))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| "panicked".to_owned()).and_then(|r| r))
            .collect::<Result<Vec<_>, _>>()
    })?;
    Ok((replies, started.elapsed()))
}

/// Invocations of one session run one at a time in arrival order; different sessions run in
/// parallel.
#[test]
fn one_session_is_serial_and_sessions_are_parallel() -> TestResult {
    let _load = one_load_test_at_a_time();
    let server = Server::start("chat", &[])?;
    let (_, parallel) = concurrently(
        &server,
        &[
            ("session-a", r#"{"sleep_ms": 1000, "message": "a"}"#),
            ("session-b", r#"{"sleep_ms": 1000, "message": "b"}"#),
        ],
    )?;
    assert!(
        parallel < Duration::from_millis(1900),
        "two sessions took {parallel:?}"
    );
    let (replies, serial) = concurrently(
        &server,
        &[
            ("session-c", r#"{"sleep_ms": 1000, "message": "first"}"#),
            ("session-c", r#"{"sleep_ms": 1000, "message": "second"}"#),
        ],
    )?;
    assert!(
        serial >= Duration::from_secs(2),
        "one session took {serial:?}"
    );
    assert_eq!(chat_history(&replies[0]), ["first"]);
    assert_eq!(
        chat_history(&replies[1]),
        ["first", "second"],
        "in arrival order"
    );
    Ok(())
}

/// Past the per-session queue, an invocation is refused at once with 503 and Retry-After.
#[test]
fn full_session_queue_is_a_503() -> TestResult {
    let _load = one_load_test_at_a_time();
    let flags = [
        "--session-queue",
        "1",
        "--max-concurrency",
        "1",
        "--max-queue",
        "0",
    ];
    let server = Server::start("chat", &flags)?;
    std::thread::scope(|scope| -> TestResult {
        let slow = r#"{"sleep_ms": 2000}"#;
        let running = scope.spawn(|| server.invoke_in("session-a", slow).map(|r| r.status).ok());
        server.expect_log("guest: sleeping 2000 ms")?;
        let waiting = scope.spawn(|| server.invoke_in("session-a", slow).map(|r| r.status).ok());
        std::thread::sleep(Duration::from_millis(300));
        let refused = server.invoke_in("session-a", "{}")?;
        assert_eq!(refused.status, 503, "{}", refused.text());
        assert_eq!(refused.header("retry-after"), Some("1"));
        assert!(
            refused.text().contains("session is busy"),
            "{}",
            refused.text()
        );
        assert_eq!(
            server.invoke_in("session-b", "{}")?.status,
            200,
            "others go on"
        );
        assert_eq!(running.join().ok().flatten(), Some(200));
        assert_eq!(waiting.join().ok().flatten(), Some(200));
        Ok(())
    })
}

/// An idle session survives a third of the idle timeout and is gone at three times it.
#[test]
fn idle_session_is_dropped() -> TestResult {
    let server = Server::start("chat", &["--session-idle-timeout", "1s"])?;
    say(&server, "session-a", "one")?;
    std::thread::sleep(Duration::from_millis(333));
    assert_eq!(
        chat_history(&say(&server, "session-a", "two")?),
        ["one", "two"]
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        chat_history(&say(&server, "session-a", "three")?),
        ["three"]
    );
    server.expect_log("idle timeout")?;
    Ok(())
}

/// A session kept busy without a break, so the reaper never finds it idle, is still dropped at
/// its maximum lifetime: between two of its invocations.
#[test]
fn busy_session_is_dropped_at_its_maximum_lifetime() -> TestResult {
    let _load = one_load_test_at_a_time();
    let server = Server::start("chat", &["--session-max-lifetime", "1s"])?;
    say(&server, "session-a", "first")?;
    // Two clients, each always with an invocation in the session, so one always waits.
    let reset = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..2)
            .map(|client| {
                let server = &server;
                scope.spawn(move || {
                    std::thread::sleep(Duration::from_millis(150 * client));
                    (0..10).any(|turn| {
                        let body = format!(r#"{{"sleep_ms": 300, "message": "{client}-{turn}"}}"#);
                        server
                            .invoke_in("session-a", &body)
                            .ok()
                            .and_then(|reply| reply.json().ok())
                            .is_some_and(|reply| chat_history(&reply).first() != Some(&"first"))
                    })
                })
            })
            .collect();
        clients.into_iter().any(|c| c.join().unwrap_or(false))
    });
    assert!(
        reset,
        "the session outlived three times its maximum lifetime"
    );
    server.expect_log("maximum lifetime")?;
    Ok(())
}

/// A client that goes away while its invocation runs cancels it; a guest that does not return
/// within the cancel grace is cut off mid-call, so its session starts again from nothing.
#[test]
fn disconnect_past_the_cancel_grace_resets_the_session() -> TestResult {
    let server = Server::start("chat", &["--cancel-grace", "200ms"])?;
    say(&server, "session-a", "one")?;
    let mut stream = server.connect()?;
    let body = br#"{"sleep_ms": 5000}"#;
    send(
        &mut stream,
        "POST",
        "/invocations",
        &[(SESSION_HEADER, "session-a")],
        body,
    )?;
    server.expect_log("guest: sleeping 5000 ms")?;
    drop(stream);
    server.expect_log("next invocation starts in a fresh instance")?;
    assert_eq!(chat_history(&say(&server, "session-a", "two")?), ["two"]);
    Ok(())
}

/// At `--max-sessions`, a new session pushes out the least recently used one.
#[test]
fn least_recently_used_session_makes_room() -> TestResult {
    let server = Server::start("chat", &["--max-sessions", "2"])?;
    say(&server, "session-a", "a1")?;
    say(&server, "session-b", "b1")?;
    say(&server, "session-a", "a2")?;
    say(&server, "session-c", "c1")?;
    assert_eq!(
        chat_history(&say(&server, "session-a", "a3")?),
        ["a1", "a2", "a3"]
    );
    assert_eq!(
        chat_history(&say(&server, "session-b", "b2")?),
        ["b2"],
        "b was evicted"
    );
    server.expect_log("least recently used")?;
    Ok(())
}

/// An async task left open by a session instance is completed when the instance is dropped,
/// so `/ping` does not stay busy, and the log says so.
#[test]
fn dropped_instance_completes_its_open_tasks() -> TestResult {
    let server = Server::start("chat", &["--session-idle-timeout", "1s"])?;
    server.invoke_in("session-a", r#"{"open_task": true}"#)?;
    assert_eq!(server.ping()?.0, "HealthyBusy");
    assert!(eventually(Duration::from_secs(10), || {
        server.ping().is_ok_and(|(status, _)| status == "Healthy")
    }));
    server.expect_log("completing the tasks a dropped instance left open")?;
    Ok(())
}

/// A pool the address space cannot hold is refused at start with exit status 64, naming the
/// flags to lower, not at the thousandth session.
#[test]
fn impossible_pool_is_a_startup_error() -> TestResult {
    let output = run(binary().arg("serve").arg(guest("chat")).args([
        "--port",
        "0",
        "--max-sessions",
        "1000000",
    ]))?;
    assert_eq!(output.status.code(), Some(64), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("--max-sessions"),
        "{}",
        stderr(&output)
    );
    Ok(())
}
