//! `serve --watch`: a changed handler file is served to new invocations while running ones
//! finish on the old code; sessions start afresh; a file that does not load leaves the old
//! handler serving, and the log says why.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::server::{Server, chat_history, read_body, read_head, send};
use crate::support::{TestResult, eventually, guest, scratch};

/// The request id header, so the test can find its long call's line in the log.
const REQUEST_ID_HEADER: &str = "X-Amzn-Bedrock-AgentCore-Runtime-Request-Id";

/// Puts `guest_name`'s component at `path` as a build tool would: written beside it and renamed
/// over it, so the server never sees half a file.
fn install(guest_name: &str, path: &Path) -> std::io::Result<()> {
    install_bytes(&std::fs::read(guest(guest_name))?, path)
}

fn install_bytes(bytes: &[u8], path: &Path) -> std::io::Result<()> {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, path)
}

/// The chat guest's history in `session` after it is told `message`.
fn say(
    server: &Server,
    session: &str,
    message: &str,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let response = server.invoke_in(session, &format!(r#"{{"message": "{message}"}}"#))?;
    if response.status != 200 {
        return Err(format!("status {}: {}", response.status, response.text()).into());
    }
    let reply = response.json()?;
    Ok(chat_history(&reply)
        .into_iter()
        .map(str::to_owned)
        .collect())
}

/// `guest_name`'s component copied into a scratch directory, and a server watching it.
fn watched(guest_name: &str, test: &str) -> Result<(PathBuf, Server), Box<dyn std::error::Error>> {
    let handler = scratch(test)?.join("handler.wasm");
    install(guest_name, &handler)?;
    let server = Server::start_path(&handler, &["--watch"])?;
    server.expect_log("watching the handler's file")?;
    Ok((handler, server))
}

/// The byte offset of the first log line holding every one of `parts`.
fn log_position(log: &str, parts: &[&str]) -> Option<usize> {
    let mut offset = 0;
    for line in log.split_inclusive('\n') {
        if parts.iter().all(|part| line.contains(part)) {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}

/// A new file serves the next invocation, while the invocation running when it changed ends on
/// the code it started with.
#[test]
fn new_code_serves_new_invocations_and_running_ones_finish_on_the_old() -> TestResult {
    let (handler, server) = watched("sleep", "watch-code")?;

    // Streamed (an event first), so the test knows the old code is running before it changes
    // the file; ten seconds is far longer than loading a component takes.
    let mut long = server.connect()?;
    let headers = [(REQUEST_ID_HEADER, "the-long-call")];
    let payload = br#"{"ms": 10000, "emit_first": true}"#;
    send(&mut long, "POST", "/invocations", &headers, payload)?;
    let mut long = BufReader::new(long);
    let head = read_head(&mut long)?;
    assert_eq!(head.status, 200);
    server.expect_log("sleeping 10000 ms")?;

    install("echo", &handler)?;
    server.expect_log("handler reloaded")?;
    let reply = server.invoke(r#"{"new": "code"}"#)?;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()?["payload"]["new"], "code", "echo's reply");
    // The long call still runs in the old handler, which stays loaded for it.
    server.assert_not_logged("previous handler unloaded");

    let body = String::from_utf8(read_body(&mut long, &head)?)?;
    assert!(
        body.contains("slept_ms"),
        "the sleep guest's result: {body}"
    );
    // The call's line is written once its reply has gone.
    let long_call = ["invocation ended", "the-long-call"];
    eventually(Duration::from_secs(10), || {
        log_position(&server.log(), &long_call).is_some()
    });
    let log = server.log();
    let reloaded = log_position(&log, &["handler reloaded"]).ok_or("no reload line")?;
    let ended = log_position(&log, &long_call).ok_or("no line for the long call")?;
    assert!(
        reloaded < ended,
        "the long call ended after the reload, on the old code"
    );
    // With its last call over, the old handler is let go.
    server.expect_log("previous handler unloaded")?;
    Ok(())
}

/// Sessions start afresh on the new code, with the number dropped in the log; a file that does
/// not load is logged with its reason, and the old handler, sessions and all, goes on serving.
#[test]
fn sessions_start_afresh_and_a_file_that_fails_keeps_the_old_handler() -> TestResult {
    let (handler, server) = watched("chat", "watch-sessions")?;
    say(&server, "session-a", "one")?;
    assert_eq!(say(&server, "session-a", "two")?, ["one", "two"]);

    // The same code, freshly written: a reload all the same.
    install("chat", &handler)?;
    server.expect_log("sessions_dropped=1")?;
    assert_eq!(say(&server, "session-a", "three")?, ["three"]);
    server.expect_log("previous handler unloaded")?;

    install("not-a-handler", &handler)?;
    server.expect_log("reload failed: still serving the previous handler")?;
    assert_eq!(say(&server, "session-a", "four")?, ["three", "four"]);
    let log = server.log();
    let failed = log
        .lines()
        .find(|line| line.contains("reload failed"))
        .ok_or("no failure line")?;
    assert!(failed.contains("handler.wasm"), "names the file: {failed}");
    assert!(
        failed.contains("not a handler") || failed.contains("does not export"),
        "says why: {failed}"
    );

    install_bytes(b"not WebAssembly", &handler)?;
    server.expect_log("the file is not WebAssembly")?;
    assert_eq!(
        say(&server, "session-a", "five")?,
        ["three", "four", "five"]
    );
    assert_eq!(server.log().matches("handler reloaded").count(), 1);
    Ok(())
}
