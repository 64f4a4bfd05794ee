//! Tests of [`Host`](super::Host) on real guests: time slicing, cancellation, deadlines,
//! capacity and the memory budget.

use std::time::Duration;

use wasm_agent_testkit::{TestResult, guest, wait_for};

use super::*;
use crate::invocation::Context;

/// How long a test waits for a condition: far beyond what any takes on a busy machine.
const LIMIT: Duration = Duration::from_secs(60);

/// A spinning guest yields its only worker thread at every epoch tick, so another guest on
/// the same thread completes while it spins.
#[tokio::test]
async fn spinning_guest_shares_its_worker_thread() -> TestResult {
    let config = HostConfig {
        workers: 1,
        ..HostConfig::default()
    };
    let spin = Host::load_file(&guest("spin"), config.clone())?;
    let echo = Host::load_file(&guest("echo"), config)?;
    let spinning = spin
        .invoke(Invocation::new("{}", Context::new("test")))
        .await?;
    assert!(
        wait_for(LIMIT, || spin.live_instances() == Some(1)).await,
        "the spinner never started"
    );
    let echoed = echo
        .invoke(Invocation::new("[1]", Context::new("test")))
        .await?
        .outcome()
        .await?;
    assert!(echoed.result.is_some_and(|r| r.contains("\"payload\":[1]")));
    // The spinner is still running: its outcome is not ready yet.
    let mut spinning = spinning;
    assert!(spinning.outcome.try_recv().is_err());
    Ok(())
}

/// A cancelled guest that never calls the host is cut off after the grace period, and its
/// instance goes back to the pool.
#[tokio::test]
async fn cancelled_spinner_is_cut_off_and_freed() -> TestResult {
    let config = HostConfig {
        cancel_grace: Duration::from_millis(100),
        ..HostConfig::default()
    };
    let host = Host::load_file(&guest("spin"), config)?;
    let running = host
        .invoke(Invocation::new("{}", Context::new("test")))
        .await?;
    assert!(
        wait_for(LIMIT, || host.live_instances() == Some(1)).await,
        "the spinner never started"
    );
    running.cancel();
    assert_eq!(running.outcome().await, Err(InvokeError::Cancelled));
    assert_eq!(host.live_instances(), Some(0));
    Ok(())
}

/// Cancelling a streaming guest makes its `emit` fail, so it returns on its own within the
/// grace period rather than being cut off.
#[tokio::test]
async fn cancelled_streamer_sees_emit_fail() -> TestResult {
    let config = HostConfig {
        cancel_grace: Duration::from_secs(30),
        ..HostConfig::default()
    };
    let host = Host::load_file(&guest("stream"), config)?;
    let mut running = host
        .invoke(Invocation::new(
            r#"{"count": 1000, "pause_ms": 10}"#,
            Context::new("test"),
        ))
        .await?;
    let first = running.next_event().await.ok_or("no event")?;
    assert_eq!(first.data(), r#"{"index":0}"#);
    running.cancel();
    match running.outcome().await {
        Err(InvokeError::Guest {
            status: 499,
            error_type,
            ..
        }) => {
            assert_eq!(error_type.as_deref(), Some("Closed"));
        }
        other => {
            return Err(format!("expected the guest's own Closed failure, got {other:?}").into());
        }
    }
    Ok(())
}

/// Dropping the caller's handle cancels the invocation too.
#[tokio::test]
async fn dropped_handle_cancels() -> TestResult {
    let config = HostConfig {
        cancel_grace: Duration::from_millis(50),
        ..HostConfig::default()
    };
    let host = Host::load_file(&guest("sleep"), config)?;
    drop(
        host.invoke(Invocation::new(r#"{"ms": 60000}"#, Context::new("test")))
            .await?,
    );
    assert!(
        wait_for(LIMIT, || host.live_instances() == Some(0)).await,
        "the instance was not freed"
    );
    Ok(())
}

/// A guest that waits in a host call past its deadline is stopped there, where no epoch
/// reaches it.
#[tokio::test]
async fn deadline_holds_inside_a_host_call() -> TestResult {
    let host = Host::load_file(&guest("sleep"), HostConfig::default())?;
    let outcome = host
        .invoke(
            Invocation::new(r#"{"ms": 60000}"#, Context::new("test"))
                .with_timeout(Duration::from_millis(200)),
        )
        .await?
        .outcome()
        .await;
    assert_eq!(
        outcome,
        Err(InvokeError::Timeout(Duration::from_millis(200)))
    );
    Ok(())
}

/// Once the guest has emitted, the stream timeout applies instead of the request timeout.
#[tokio::test]
async fn stream_timeout_applies_after_the_first_event() -> TestResult {
    let host = Host::load_file(&guest("stream"), HostConfig::default())?;
    let streaming = Invocation::new(r#"{"count": 3, "pause_ms": 300}"#, Context::new("test"))
        .with_timeout(Duration::from_millis(200))
        .with_stream_timeout(LIMIT);
    let completion = host.invoke(streaming).await?.outcome().await?;
    assert_eq!(completion.result.as_deref(), Some(r#"{"events":3}"#));
    Ok(())
}

/// Past `max_concurrency` running in fresh instances an invocation waits its turn in the
/// queue; past the queue it is refused at once as busy, not trapped or left waiting.
#[tokio::test]
async fn past_concurrency_invocations_queue_then_are_refused() -> TestResult {
    let config = HostConfig {
        max_concurrency: 1,
        max_queue: 1,
        scope: InstanceScope::Request,
        ..HostConfig::default()
    };
    let host = Host::load_file(&guest("sleep"), config)?;
    let holding = host
        .invoke(Invocation::new(r#"{"ms": 300}"#, Context::new("test")))
        .await?;
    let queued = {
        let host = host.clone();
        tokio::spawn(async move {
            let running = host
                .invoke(Invocation::new(r#"{"ms": 1}"#, Context::new("test")))
                .await?;
            running.outcome().await
        })
    };
    assert!(
        wait_for(LIMIT, || host.admitted().waiting > 0).await,
        "the second invocation never queued"
    );
    let refused = host
        .invoke(Invocation::new(r#"{"ms": 1}"#, Context::new("test")))
        .await;
    assert_eq!(refused.err(), Some(InvokeError::Busy));
    holding.outcome().await?;
    queued.await??;
    assert_eq!(
        host.admitted(),
        Admitted {
            running: 0,
            waiting: 0
        }
    );
    Ok(())
}

/// A guest refused memory by the process-wide budget, not its own limit, is told so.
#[tokio::test]
async fn exhausted_budget_is_not_the_guests_fault() -> TestResult {
    let config = HostConfig {
        max_total_memory: Some(32 << 20),
        ..HostConfig::default()
    };
    let host = Host::load_file(&guest("grow"), config)?;
    let outcome = host
        .invoke(Invocation::new("{}", Context::new("test")))
        .await?
        .outcome()
        .await;
    assert_eq!(outcome, Err(InvokeError::MemoryBudget(32 << 20)));
    assert_eq!(
        host.memory_in_use(),
        Some(0),
        "the instance gave its share back"
    );
    Ok(())
}

/// `inspect` describes a non-handler instead of failing outright.
#[test]
fn inspect_reports_a_non_handler() -> TestResult {
    let bytes = std::fs::read(guest("not-a-handler"))?;
    let inspection = Host::inspect(&bytes, &HostConfig::default())?;
    assert!(
        inspection
            .info
            .exports
            .iter()
            .any(|e| e.starts_with("wasi:cli/run"))
    );
    assert!(matches!(
        inspection.verdict,
        Err(LoadError::NotAHandler { .. })
    ));
    Ok(())
}

/// The event stream ends only once the outcome has been sent, so a reader that waits for the
/// end of the stream is woken once and finds the outcome already there, streaming or not.
#[tokio::test]
async fn the_outcome_is_ready_when_the_event_stream_ends() -> TestResult {
    for (name, payload) in [("echo", "[1]"), ("stream", r#"{"count":3}"#)] {
        let host = Host::load_file(&guest(name), HostConfig::default())?;
        for _ in 0..20 {
            let mut running = host
                .invoke(Invocation::new(payload, Context::new("test")))
                .await?;
            while running.next_event().await.is_some() {}
            assert!(
                running.outcome.try_recv().is_ok(),
                "{name}: the stream ended before the outcome was sent"
            );
        }
    }
    Ok(())
}
