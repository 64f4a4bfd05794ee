//! Who stopped an invocation: the host at shutdown ([`Host::cancel_all`]) or its caller. Only the
//! first is the server's to answer for, so it ends in its own error whatever the guest did next.

use std::path::{Path, PathBuf};
use std::time::Duration;

use wasm_agent_host::{Context, Host, HostConfig, Invocation, InvokeError};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn guest(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../guest-examples/dist")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run `make guests`",
        path.display()
    );
    path
}

fn invocation(payload: &str) -> Invocation {
    Invocation {
        payload: payload.into(),
        context: Context {
            request_id: "shutdown-test".into(),
            ..Context::default()
        },
        timeout: Duration::from_secs(30),
        stream_timeout: None,
    }
}

fn load(name: &str) -> Result<Host, Box<dyn std::error::Error>> {
    let config = HostConfig {
        cancel_grace: Duration::from_millis(100),
        ..HostConfig::default()
    };
    Ok(Host::load_file(&guest(name), config)?)
}

/// A guest cut off after the host was stopped, and one that failed because it was (its `emit`
/// refused: the SDK's 499), both end in `ShuttingDown`; an invocation submitted afterwards is
/// not started.
#[tokio::test]
async fn a_stopped_host_ends_its_invocations_as_shutting_down() -> TestResult {
    let host = load("sleep")?;
    let mut sleeping = host.invoke(invocation(r#"{"ms": 30000, "emit_first": true}"#));
    assert!(sleeping.next_event().await.is_some(), "no first event");
    let streaming = load("stream")?;
    let mut emitting = streaming.invoke(invocation(r#"{"count": 1000000}"#));
    assert!(emitting.next_event().await.is_some(), "no first event");
    host.cancel_all();
    streaming.cancel_all();
    assert_eq!(sleeping.outcome().await, Err(InvokeError::ShuttingDown));
    assert_eq!(emitting.outcome().await, Err(InvokeError::ShuttingDown));
    let late = host.invoke(invocation(r#"{"ms": 1}"#));
    assert_eq!(late.outcome().await, Err(InvokeError::ShuttingDown));
    Ok(())
}

/// An invocation its caller cancels, the host still running, is `Cancelled`.
#[tokio::test]
async fn a_caller_cancel_is_not_a_shutdown() -> TestResult {
    let host = load("sleep")?;
    let mut sleeping = host.invoke(invocation(r#"{"ms": 30000, "emit_first": true}"#));
    assert!(sleeping.next_event().await.is_some(), "no first event");
    sleeping.cancel();
    assert_eq!(sleeping.outcome().await, Err(InvokeError::Cancelled));
    Ok(())
}
