//! Session instances as the pooling allocator counts them: kept between invocations, and
//! returned to the pool when dropped.

use std::time::{Duration, Instant};

use wasm_agent_host::{Context, Host, HostConfig, Invocation};
use wasm_agent_testkit::{TestResult, guest, wait_for};

/// A chat message in the session `session`.
fn in_session(session: &str) -> Invocation {
    Invocation::new(
        r#"{"message": "hi"}"#,
        Context::new("test").in_session(session),
    )
}

/// Each session holds one instance of the pool between invocations; eviction and the idle
/// timeout give them back.
#[tokio::test]
async fn dropped_sessions_return_their_instances() -> TestResult {
    let config = HostConfig {
        max_sessions: 2,
        session_idle_timeout: Duration::from_millis(300),
        ..HostConfig::default()
    };
    let host = Host::load_file(&guest("chat"), config)?;
    host.invoke(in_session("a")).await?.outcome().await?;
    host.invoke(in_session("b")).await?.outcome().await?;
    assert_eq!(host.live_instances(), Some(2), "kept between invocations");
    host.invoke(in_session("c")).await?.outcome().await?;
    assert_eq!(host.live_instances(), Some(2), "the least recent made room");
    assert_eq!(host.sessions(), 2);
    assert!(
        wait_for(Duration::from_secs(10), || host.live_instances() == Some(0)).await,
        "idle sessions were not returned: {:?} live",
        host.live_instances()
    );
    assert_eq!(host.sessions(), 0);
    Ok(())
}

/// A session's second invocation reuses its instance: the history is there.
#[tokio::test]
async fn second_invocation_reuses_the_instance() -> TestResult {
    let host = Host::load_file(&guest("chat"), HostConfig::default())?;
    host.invoke(in_session("a")).await?.outcome().await?;
    let second = host.invoke(in_session("a")).await?.outcome().await?;
    assert!(
        second
            .result
            .as_deref()
            .is_some_and(|r| r.contains(r#""turns":2"#)),
        "{second:?}"
    );
    Ok(())
}

/// When the process-wide memory budget is nearly full, idle sessions make room: a new session
/// refused for memory is admitted once the least recently used ones are dropped.
#[tokio::test]
async fn idle_sessions_make_room_in_the_memory_budget() -> TestResult {
    let config = HostConfig {
        max_total_memory: Some(12 << 20),
        ..HostConfig::default()
    };
    let host = Host::load_file(&guest("chat"), config)?;
    let mut refused = None;
    for session in 0..64 {
        if let Err(error) = host
            .invoke(in_session(&format!("s{session}")))
            .await?
            .outcome()
            .await
        {
            refused = Some((session, error));
            break;
        }
    }
    let (session, error) = refused.ok_or("the budget never filled")?;
    assert!(
        matches!(error, wasm_agent_host::InvokeError::MemoryBudget(_)),
        "{error:?}"
    );
    let started = Instant::now();
    loop {
        let retried = host
            .invoke(in_session(&format!("s{session}")))
            .await?
            .outcome()
            .await;
        if retried.is_ok() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "idle sessions did not make room: {retried:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
