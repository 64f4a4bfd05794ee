//! Who stopped an invocation: the host at shutdown ([`Host::cancel_all`]) or its caller. Only the
//! first is the server's to answer for, so it ends in its own error whatever the guest did next.

use std::time::Duration;

use wasm_agent_host::{Context, Host, HostConfig, Invocation, InvokeError};
use wasm_agent_testkit::{TestResult, guest};

/// The example guest `name` with a short cancel grace, so that a guest is cut off soon.
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
    let mut sleeping = host
        .invoke(Invocation::new(
            r#"{"ms": 30000, "emit_first": true}"#,
            Context::new("shutdown-test"),
        ))
        .await?;
    assert!(sleeping.next_event().await.is_some(), "no first event");
    let streaming = load("stream")?;
    let mut emitting = streaming
        .invoke(Invocation::new(
            r#"{"count": 1000000}"#,
            Context::new("shutdown-test"),
        ))
        .await?;
    assert!(emitting.next_event().await.is_some(), "no first event");
    host.cancel_all();
    streaming.cancel_all();
    assert_eq!(sleeping.outcome().await, Err(InvokeError::ShuttingDown));
    assert_eq!(emitting.outcome().await, Err(InvokeError::ShuttingDown));
    let late = host
        .invoke(Invocation::new(
            r#"{"ms": 1}"#,
            Context::new("shutdown-test"),
        ))
        .await;
    assert_eq!(late.err(), Some(InvokeError::ShuttingDown));
    Ok(())
}

/// An invocation its caller cancels, the host still running, is `Cancelled`.
#[tokio::test]
async fn a_caller_cancel_is_not_a_shutdown() -> TestResult {
    let host = load("sleep")?;
    let mut sleeping = host
        .invoke(Invocation::new(
            r#"{"ms": 30000, "emit_first": true}"#,
            Context::new("shutdown-test"),
        ))
        .await?;
    assert!(sleeping.next_event().await.is_some(), "no first event");
    sleeping.cancel();
    assert_eq!(sleeping.outcome().await, Err(InvokeError::Cancelled));
    Ok(())
}
