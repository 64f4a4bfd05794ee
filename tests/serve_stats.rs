//! SIGUSR1: the server logs one `server stats` line with what it holds now (live instances,
//! sessions, invocations running), and goes on serving.

use std::time::Duration;

use crate::server::{SESSION_HEADER, Server, send};
use crate::support::{TestResult, eventually};

/// The `server stats` lines the server has logged so far.
fn stats_lines(server: &Server) -> Vec<String> {
    server
        .log()
        .lines()
        .filter(|line| line.contains("server stats"))
        .map(str::to_owned)
        .collect()
}

/// The value of `name=` in a log line (up to the next space).
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {name}="))? + name.len() + 2;
    line[start..].split(' ').next()
}

/// Sends SIGUSR1 and waits for the stats line it makes; returns that line.
fn stats(server: &Server) -> Result<String, Box<dyn std::error::Error>> {
    let before = stats_lines(server).len();
    let status = std::process::Command::new("kill")
        .args(["-USR1", &server.child.id().to_string()])
        .status()?;
    if !status.success() {
        return Err("kill -USR1 failed".into());
    }
    if !eventually(Duration::from_secs(10), || {
        stats_lines(server).len() > before
    }) {
        return Err(format!("no `server stats` line:\n{}", server.log()).into());
    }
    Ok(stats_lines(server)[before].clone())
}

/// Two sessions keep an instance each, and an invocation in flight holds a third: the line
/// counts three live instances, two sessions and one invocation running. The server is still
/// serving afterwards.
#[test]
fn sigusr1_logs_live_instances_sessions_and_invocations() -> TestResult {
    let server = Server::start("sleep", &["--timeout", "60s"])?;
    let idle = stats(&server)?;
    assert_eq!(field(&idle, "live_instances"), Some("0"), "{idle}");
    assert_eq!(field(&idle, "sessions"), Some("0"), "{idle}");
    assert!(idle.contains(" INFO "), "{idle}");

    for session in ["stats-1", "stats-2"] {
        let reply = server.invoke_in(session, r#"{"ms": 0}"#)?;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    let mut sleeping = server.connect()?;
    send(
        &mut sleeping,
        "POST",
        "/invocations",
        &[],
        br#"{"ms": 60000}"#,
    )?;
    server.expect_log("sleeping 60000 ms")?;
    let busy = stats(&server)?;
    assert_eq!(field(&busy, "live_instances"), Some("3"), "{busy}");
    assert_eq!(field(&busy, "sessions"), Some("2"), "{busy}");
    assert_eq!(field(&busy, "invocations_running"), Some("1"), "{busy}");
    assert_eq!(field(&busy, "invocations_waiting"), Some("0"), "{busy}");
    assert_eq!(field(&busy, "websockets"), Some("0"), "{busy}");

    drop(sleeping);
    let header = [(SESSION_HEADER, "stats-1")];
    let reply = server.request("POST", "/invocations", &header, br#"{"ms": 0}"#)?;
    assert_eq!(reply.status, 200, "{}", reply.text());
    Ok(())
}
