//! Who stopped an invocation: the host at shutdown ([`Host::cancel_all`]) or its caller. Only the
//! first is the server's to answer for, so it ends in its own error whatever the guest did next.

mod common;

use std::time::Duration;

use common::{TestResult, guest};
use wasm_agent_host::{Context, Host, HostConfig, Invocation, InvokeError};

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
