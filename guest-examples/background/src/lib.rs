//! Answers at once and finishes its work in the background: the SDK's fire-and-forget task.
//! `/ping` reports `HealthyBusy` while the work runs.
//!
//! Payload: `{"jobs": N, "work_ms": MS, "fail": bool}` schedules N jobs that each sleep MS
//! milliseconds and then succeed or fail; the reply says how many were scheduled and why the
//! rest were refused.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use wasm_agent_sdk::{Context, Failure, handler};

#[derive(Deserialize)]
struct Job {
    work_ms: u64,
    fail: bool,
}

fn start(payload: Value, ctx: &Context) -> Result<Value, Failure> {
    let jobs = payload["jobs"].as_u64().unwrap_or(1);
    let input = json!({
        "work_ms": payload["work_ms"].as_u64().unwrap_or(1000),
        "fail": payload["fail"] == true,
    });
    let mut scheduled = 0;
    let mut refused = None;
    for _ in 0..jobs {
        match ctx.schedule("job", &input) {
            Ok(()) => scheduled += 1,
            Err(error) => {
                refused = Some(error.to_string());
                break;
            }
        }
    }
    Ok(json!({ "scheduled": scheduled, "refused": refused }))
}

fn work(_task: &str, job: Job, _ctx: &Context) -> Result<(), Failure> {
    std::thread::sleep(Duration::from_millis(job.work_ms));
    if job.fail {
        return Err(Failure::internal("the job failed on purpose").with_error_type("JobError"));
    }
    println!("job done after {} ms", job.work_ms);
    Ok(())
}

handler!(start, background: work);
