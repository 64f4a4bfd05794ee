//! `/ping` beyond the automatic status: background work that keeps it `HealthyBusy`, a status
//! a guest sets, and the SDK's debug actions.

use std::time::Duration;

use serde_json::json;

use crate::server::Server;
use crate::support::{TestResult, eventually};

/// `Healthy` → `HealthyBusy` while background work runs → `Healthy`, with the timestamp moving
/// only at the two transitions (each more than a second after the last, since it counts whole
/// seconds).
#[test]
fn ping_is_busy_while_background_work_runs() -> TestResult {
    let server = Server::start("background", &[])?;
    let (status, before) = server.ping()?;
    assert_eq!(status, "Healthy");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        server.ping()?,
        ("Healthy".to_owned(), before),
        "no change, same time"
    );
    let reply = server.invoke(r#"{"jobs": 1, "work_ms": 2500}"#)?;
    assert_eq!(reply.json()?, json!({"scheduled": 1, "refused": null}));
    let (status, busy_since) = server.ping()?;
    assert_eq!(status, "HealthyBusy");
    assert!(busy_since > before, "{busy_since} after {before}");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(server.ping()?, ("HealthyBusy".to_owned(), busy_since));
    let mut healthy_since = 0;
    assert!(eventually(Duration::from_secs(10), || {
        server.ping().is_ok_and(|(status, time)| {
            healthy_since = time;
            status == "Healthy"
        })
    }));
    assert!(
        healthy_since > busy_since,
        "{healthy_since} after {busy_since}"
    );
    server.expect_log("background work completed")?;
    Ok(())
}

/// Past `--max-background`, scheduling returns an error to the guest, which can say so.
#[test]
fn background_limit_refuses_scheduling() -> TestResult {
    let server = Server::start("background", &["--max-background", "2"])?;
    let reply = server.invoke(r#"{"jobs": 3, "work_ms": 200}"#)?.json()?;
    assert_eq!(reply["scheduled"], 2);
    assert!(
        reply["refused"]
            .as_str()
            .is_some_and(|r| r.contains("already scheduled")),
        "{reply}"
    );
    Ok(())
}

/// A failing background run is logged with the request and session id of the invocation that
/// scheduled it.
#[test]
fn background_failure_is_logged_with_its_ids() -> TestResult {
    let server = Server::start("background", &[])?;
    let reply = server.invoke_in(
        "session-for-the-log",
        r#"{"jobs": 1, "work_ms": 10, "fail": true}"#,
    )?;
    let request_id = reply
        .header("x-amzn-bedrock-agentcore-runtime-request-id")
        .ok_or("no request id")?
        .to_owned();
    assert!(
        eventually(Duration::from_secs(10), || {
            server.log().lines().any(|line| {
                line.contains("background work failed")
                    && line.contains("the job failed on purpose")
                    && line.contains(&request_id)
                    && line.contains("session-for-the-log")
            })
        }),
        "no `background work failed` line naming the job's error, request and session"
    );
    Ok(())
}

/// Background work runs under `--task-timeout`: past it, it is stopped and the failure logged,
/// and `/ping` is `Healthy` again.
#[test]
fn background_work_stops_at_the_task_timeout() -> TestResult {
    let server = Server::start("background", &["--task-timeout", "300ms"])?;
    server.invoke(r#"{"jobs": 1, "work_ms": 60000}"#)?;
    assert_eq!(server.ping()?.0, "HealthyBusy");
    server.expect_log("deadline of 300ms")?;
    assert!(eventually(Duration::from_secs(10), || {
        server.ping().is_ok_and(|(status, _)| status == "Healthy")
    }));
    Ok(())
}

/// A component without a background export cannot schedule: the guest is told, nothing runs.
#[test]
fn scheduling_without_a_background_export_is_refused() -> TestResult {
    let server = Server::start("chat", &[])?;
    let reply = server.invoke(r#"{"schedule": true}"#)?.json()?;
    assert_eq!(
        reply["scheduled"],
        "the component has no background function"
    );
    assert_eq!(server.ping()?.0, "Healthy");
    Ok(())
}

/// A guest sets and clears the status of its session's instance; a status forced by a debug
/// action takes precedence; and an instance that is dropped (a trap) takes its status with it.
#[test]
fn guest_status_and_forced_status() -> TestResult {
    let server = Server::start("status", &["--debug"])?;
    let set = |status: &str| server.invoke_in("session-s", &format!(r#"{{"status": {status}}}"#));
    assert_eq!(server.ping()?.0, "Healthy");
    set(r#""HealthyBusy""#)?;
    assert_eq!(server.ping()?.0, "HealthyBusy");
    set("null")?;
    assert_eq!(server.ping()?.0, "Healthy");
    server.invoke(r#"{"_agent_core_app_action": "force_busy"}"#)?;
    set(r#""Healthy""#)?;
    assert_eq!(
        server.ping()?.0,
        "HealthyBusy",
        "forced wins over the guest"
    );
    server.invoke(r#"{"_agent_core_app_action": "clear_forced_status"}"#)?;
    assert_eq!(server.ping()?.0, "Healthy", "the guest's status again");
    set(r#""HealthyBusy""#)?;
    assert_eq!(server.ping()?.0, "HealthyBusy");
    assert_eq!(
        server.invoke_in("session-s", r#"{"panic": true}"#)?.status,
        500
    );
    assert_eq!(
        server.ping()?.0,
        "Healthy",
        "the dropped instance's status is gone"
    );
    Ok(())
}

/// With `--debug`, the SDK's debug actions get the SDK's replies, byte for byte; without it the
/// key is the handler's like any other.
#[test]
fn debug_actions_reply_as_the_sdk() -> TestResult {
    let server = Server::start("background", &["--debug"])?;
    let action = |name: &str| server.invoke(&format!(r#"{{"_agent_core_app_action": "{name}"}}"#));
    assert_eq!(
        action("force_busy")?.text(),
        r#"{"forced_status":"HealthyBusy"}"#
    );
    assert_eq!(server.ping()?.0, "HealthyBusy");
    let (_, since) = server.ping()?;
    assert_eq!(
        action("ping_status")?.text(),
        format!(r#"{{"status":"HealthyBusy","time_of_last_update":{since}}}"#)
    );
    assert_eq!(
        action("force_healthy")?.text(),
        r#"{"forced_status":"Healthy"}"#
    );
    assert_eq!(
        action("clear_forced_status")?.text(),
        r#"{"forced_status":"Cleared"}"#
    );
    assert_eq!(
        action("job_status")?.text(),
        r#"{"active_count":0,"running_jobs":[]}"#
    );
    server.invoke(r#"{"jobs": 1, "work_ms": 3000}"#)?;
    let jobs = action("job_status")?.json()?;
    assert_eq!(jobs["active_count"], 1);
    assert_eq!(jobs["running_jobs"][0]["name"], "background:job");
    assert!(jobs["running_jobs"][0]["duration"].as_f64().is_some());
    let unknown = action("reboot")?;
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.text(), r#"{"error":"Unknown action: reboot"}"#);
    assert_eq!(unknown.header("content-type"), Some("application/json"));

    let plain = Server::start("echo", &[])?;
    let reply = plain
        .invoke(r#"{"_agent_core_app_action": "force_busy"}"#)?
        .json()?;
    assert_eq!(reply["payload"]["_agent_core_app_action"], "force_busy");
    assert_eq!(plain.ping()?.0, "Healthy");
    Ok(())
}
