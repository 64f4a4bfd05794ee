//! What a handler hands the server is bounded and, past a bound, refused by name: one result,
//! one event, the data of one call into the host, async tasks per instance. Whatever went wrong,
//! the caller reads a sentence, never wasmtime's text or a backtrace.

use std::time::Duration;

use crate::server::Server;
use crate::support::{TestResult, eventually, guest};

const MIB: usize = 1 << 20;

/// Words of wasmtime's own errors and backtraces, which a caller must never read.
const INTERNALS: &[&str] = &[
    "wasm",
    "backtrace",
    "hostcall",
    "fuel allocated",
    "0x",
    "wasm_agent",
    "__",
];

/// Checks a refusal: a 500 whose JSON error says `expected` and leaks nothing internal.
fn assert_refused(response: &crate::server::Response, expected: &str) -> TestResult {
    assert_eq!(response.status, 500, "{}", response.text());
    let error = response.json()?["error"]
        .as_str()
        .ok_or("no error field")?
        .to_owned();
    assert!(error.contains(expected), "{error}");
    for word in INTERNALS {
        assert!(
            !error.to_lowercase().contains(word),
            "the error leaks `{word}`: {error}"
        );
    }
    Ok(())
}

/// A result at the limit is sent whole; one byte more is refused, naming the limit.
#[test]
fn a_result_over_its_limit_is_refused_by_name() -> TestResult {
    let server = Server::start("excess", &["--max-result-size", "1MiB"])?;
    let at_limit = server.invoke(&format!(r#"{{"result": {MIB}}}"#))?;
    assert_eq!(at_limit.status, 200);
    assert_eq!(at_limit.body.len(), MIB);
    let over = server.invoke(&format!(r#"{{"result": {}}}"#, MIB + 1))?;
    assert_refused(
        &over,
        "the handler's output is too large: the result is larger than the 1 MiB the server \
         takes (1048577 bytes)",
    )?;
    server.expect_log("kind=OutputTooLarge")?;
    // The instance is not at fault beyond its answer: the server serves on.
    assert_eq!(server.invoke(r#"{"result": 2}"#)?.status, 200);
    Ok(())
}

/// A result larger than anything the server takes in one piece (wasmtime refuses to copy it
/// out of the guest) is the same kind of refusal, not an internal error.
#[test]
fn a_result_past_every_limit_is_refused_without_internals() -> TestResult {
    let server = Server::start("excess", &[])?;
    let huge = server.invoke(&format!(r#"{{"result": {}}}"#, 100 * MIB))?;
    assert_refused(
        &huge,
        "it handed the server more than 16.1 MiB in one call (a result may be 16 MiB, an event \
         4 MiB)",
    )?;
    server.expect_log("kind=OutputTooLarge")?;
    Ok(())
}

/// An event over its limit fails the invocation by name; one far past every limit leaks no
/// backtrace (it used to send one whole).
#[test]
fn an_event_over_its_limit_is_refused_by_name() -> TestResult {
    let server = Server::start("excess", &["--max-event-size", "64KiB"])?;
    let at_limit = server.invoke(r#"{"event": 65536}"#)?;
    assert_eq!(at_limit.status, 200, "{}", at_limit.text());
    assert!(
        at_limit
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/event-stream"))
    );
    let over = server.invoke(r#"{"event": 65537}"#)?;
    assert_refused(
        &over,
        "the handler's output is too large: an event is larger than the 64 KiB the server takes \
         (65537 bytes)",
    )?;
    let huge = server.invoke(&format!(r#"{{"event": {}}}"#, 64 * MIB))?;
    assert_refused(
        &huge,
        "in one call (a result may be 16 MiB, an event 64 KiB)",
    )?;
    Ok(())
}

/// An event refused after others were sent ends the stream with the SDK's error event, which
/// names the limit.
#[test]
fn an_event_refused_mid_stream_ends_the_stream() -> TestResult {
    let server = Server::start("excess", &["--max-event-size", "1KiB"])?;
    let response = server.invoke(r#"{"event": 2048, "before": 2}"#)?;
    assert_eq!(response.status, 200);
    let text = response.text();
    let frames: Vec<&str> = text.split("\n\n").filter(|f| !f.is_empty()).collect();
    assert_eq!(frames.len(), 3, "{text}");
    assert_eq!(frames[0], "data: {\"before\":0}");
    assert!(
        frames[2].contains("an event is larger than the 1 KiB the server takes (2048 bytes)"),
        "{text}"
    );
    assert!(!text.to_lowercase().contains("wasm"), "{text}");
    Ok(())
}

/// Async tasks are bounded per instance: a session that opens more than its share fails the
/// invocation that does it; its instance is dropped, and with it its tasks, so `/ping` is
/// `Healthy` again rather than busy for ever.
#[test]
fn async_tasks_are_bounded_per_instance() -> TestResult {
    let server = Server::start("excess", &["--max-async-tasks", "10"])?;
    let first = server.invoke_in("session-a", r#"{"tasks": 10}"#)?;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(server.ping()?.0, "HealthyBusy");
    let one_more = server.invoke_in("session-a", r#"{"tasks": 1}"#)?;
    assert_refused(
        &one_more,
        "the handler opened more than 10 async tasks without completing them",
    )?;
    server.expect_log("async task refused")?;
    assert!(
        eventually(Duration::from_secs(10), || server
            .ping()
            .is_ok_and(|(status, _)| status == "Healthy")),
        "the dropped instance's tasks should be completed"
    );
    // In one line, however many there were.
    server.expect_log("completing the tasks a dropped instance left open")?;
    let completions = server
        .log()
        .matches("completing the tasks a dropped instance left open")
        .count();
    assert_eq!(
        completions, 1,
        "lines completing the dropped instance's tasks"
    );
    // Each instance has its own bound: a fresh one may open ten, not eleven.
    assert_eq!(server.invoke(r#"{"tasks": 10}"#)?.status, 200);
    assert_refused(
        &server.invoke(r#"{"tasks": 11}"#)?,
        "opened more than 10 async tasks",
    )?;
    Ok(())
}

/// A task's name and metadata are small: the host keeps every open task.
#[test]
fn task_metadata_is_bounded() -> TestResult {
    let server = Server::start("excess", &[])?;
    let small = server.invoke(r#"{"tasks": 1, "metadata": 4000}"#)?;
    assert_eq!(small.status, 200, "{}", small.text());
    let large = server.invoke(r#"{"tasks": 1, "metadata": 5000}"#)?;
    assert_refused(
        &large,
        "an async task (its name and metadata) is larger than the 4 KiB the server takes",
    )?;
    Ok(())
}

/// A trap with no panic message to explain it is told in the server's words; wasmtime's own
/// account, backtrace and all, is logged at debug level for whoever debugs the handler.
#[test]
fn a_trap_is_told_in_plain_words() -> TestResult {
    let server = Server::start_env(
        &guest("excess"),
        &[],
        &[("WASM_AGENT_LOG", "info,wasm_agent_host::classify=debug")],
    )?;
    let aborted = server.invoke(r#"{"abort": true}"#)?;
    assert_refused(
        &aborted,
        "the handler trapped: it reached an `unreachable` instruction (an abort)",
    )?;
    server.expect_log("the guest's call ended in a trap or host error")?;
    server.expect_log("wasm backtrace")?;
    Ok(())
}
