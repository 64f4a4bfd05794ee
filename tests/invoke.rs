//! `wasm-agent invoke`: one invocation from the command line, with every kind of guest.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{TestResult, binary, guest, run, scratch, stderr, stdout, wait_status};

/// Runs `invoke` on a guest and returns (exit code, stdout, stderr).
fn invoke(
    name: &str,
    args: &[&str],
) -> Result<(Option<i32>, String, String), Box<dyn std::error::Error>> {
    let output = run(binary().arg("invoke").arg(guest(name)).args(args))?;
    Ok((output.status.code(), stdout(&output), stderr(&output)))
}

/// The echo guest sees the payload, and the context `serve` would build from the same headers
/// (names lowercased, as the SDK forwards them).
#[test]
fn echo_round_trips_payload_and_context() -> TestResult {
    let payload = json!({"text": "héllo 世界", "n": [1, 2.5, null, true]});
    let (code, out, err) = invoke(
        "echo",
        &[
            &payload.to_string(),
            "--session-id",
            "session-1",
            "--request-id",
            "request-1",
            "-H",
            "X-Custom: value: with colon",
        ],
    )?;
    assert_eq!(code, Some(0), "{err}");
    let echoed: Value = serde_json::from_str(out.trim())?;
    assert_eq!(echoed["payload"], payload);
    let context = &echoed["context"];
    assert_eq!(context["session_id"], "session-1");
    assert_eq!(context["request_id"], "request-1");
    assert_eq!(
        context["headers"],
        json!([["x-custom", "value: with colon"]])
    );
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as u64;
    let deadline_ms = context["deadline_ms"].as_u64().ok_or("no deadline")?;
    assert!(
        deadline_ms > now_ms + 10 * 60 * 1000,
        "the default deadline is 15 minutes away"
    );
    Ok(())
}

/// Without a request id, the guest gets a fresh UUID.
#[test]
fn request_id_defaults_to_a_uuid() -> TestResult {
    let (code, out, err) = invoke("echo", &[])?;
    assert_eq!(code, Some(0), "{err}");
    let echoed: Value = serde_json::from_str(out.trim())?;
    let id = echoed["context"]["request_id"]
        .as_str()
        .ok_or("no request id")?;
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(id.matches('-').count(), 4, "{id}");
    Ok(())
}

/// Events arrive in order, each while the guest is still running: with 500 ms between events,
/// event i arrives at least (remaining pauses × 250 ms) before the process ends.
#[test]
fn stream_events_arrive_before_the_guest_returns() -> TestResult {
    const COUNT: u64 = 4;
    const PAUSE_MS: u64 = 500;
    let mut child = binary()
        .arg("invoke")
        .arg(guest("stream"))
        .arg(json!({"count": COUNT, "pause_ms": PAUSE_MS}).to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let reader = BufReader::new(child.stdout.take().ok_or("no stdout")?);
    let mut arrivals = Vec::new();
    for line in reader.lines() {
        arrivals.push((Instant::now(), serde_json::from_str::<Value>(&line?)?));
    }
    let ended = Instant::now();
    assert!(wait_status(&mut child, Duration::from_secs(60))?.success());
    let values: Vec<&Value> = arrivals.iter().map(|(_, v)| v).collect();
    let expected: Vec<Value> = (0..COUNT)
        .map(|i| json!({"index": i}))
        .chain([json!({"events": COUNT})])
        .collect();
    assert_eq!(values, expected.iter().collect::<Vec<_>>());
    for (index, (at, _)) in arrivals.iter().take(COUNT as usize).enumerate() {
        let pauses_left = COUNT - 1 - index as u64;
        let early = ended.duration_since(*at);
        assert!(
            early >= Duration::from_millis(pauses_left * PAUSE_MS / 2),
            "event {index} arrived only {early:?} before the end; {pauses_left} pauses were left"
        );
    }
    Ok(())
}

/// A guest that floods events at a reader that never reads is held by backpressure: the
/// process stays small and ends by its deadline with a timeout.
#[test]
fn flood_with_a_stalled_reader_stays_bounded_and_times_out() -> TestResult {
    let mut child = binary()
        .arg("invoke")
        .arg(guest("flood"))
        .arg(json!({"size": 65536}).to_string())
        .args(["--timeout", "2s"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped()) // never read
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let mut peak_kib = 0u64;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        peak_kib = peak_kib.max(rss_kib(pid).unwrap_or(0));
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "flood did not end by its deadline"
        );
        std::thread::sleep(Duration::from_millis(25));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().ok_or("no stderr")?, &mut err)?;
    assert_eq!(status.code(), Some(1));
    assert!(
        err.contains("did not finish within its deadline of 2s"),
        "{err}"
    );
    // Unbounded buffering of 64 KiB events would reach gigabytes in two seconds.
    assert!(peak_kib < 256 * 1024, "peak RSS {peak_kib} KiB");
    Ok(())
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Each adversarial guest fails with its own classified error, and only that.
#[test]
fn adversarial_guests_fail_with_their_own_error() -> TestResult {
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "spin",
            &["{}", "--timeout", "1s"],
            "did not finish within its deadline of 1s",
        ),
        (
            "sleep",
            &[r#"{"ms": 60000}"#, "--timeout", "1s"],
            "did not finish within its deadline of 1s",
        ),
        (
            "grow",
            &["{}", "--max-memory", "64MiB"],
            "ran out of memory (limit 64 MiB)",
        ),
        ("deep", &["{}"], "overflowed its stack (wasm stack limit"),
        (
            "deep",
            &[r#"{"mode": "shadow"}"#],
            "overflowed its stack (its shadow stack",
        ),
        (
            "trap",
            &[r#"{"message": "kaboom"}"#],
            "trapped: panicked at trap/src/lib.rs:",
        ),
        (
            "spin",
            &["{}", "--fuel", "1000000", "--timeout", "60s"],
            "ran out of fuel (budget 1000000)",
        ),
        (
            "stream",
            &[r#"{"emit_raw": "NaN"}"#],
            "produced invalid output: an event is not one JSON document",
        ),
    ];
    for (name, args, expected) in cases {
        let (code, out, err) = invoke(name, args)?;
        assert_eq!(code, Some(1), "{name} {args:?}: {err}");
        let last = err.lines().last().unwrap_or_default();
        assert!(last.starts_with("error: "), "{name} {args:?}: {err}");
        assert!(
            last.contains(expected),
            "{name} {args:?}: expected {expected:?} in {last:?}"
        );
        assert!(out.is_empty(), "{name} printed {out:?}");
    }
    let (_, _, err) = invoke("trap", &[r#"{"message": "kaboom"}"#])?;
    assert!(
        err.lines().last().unwrap_or_default().ends_with(": kaboom"),
        "{err}"
    );
    Ok(())
}

/// A guest's own failure is reported with its status, type and message.
#[test]
fn guest_failure_is_reported_with_its_status() -> TestResult {
    let (code, out, err) = invoke(
        "fail",
        &[r#"{"status": 422, "message": "no good", "error_type": "ValidationError"}"#],
    )?;
    assert_eq!(code, Some(1));
    assert!(out.is_empty());
    assert!(
        err.contains("error: the handler failed with status 422 (ValidationError): no good"),
        "{err}"
    );
    Ok(())
}

/// The payload may come from a file or standard input; invalid JSON is refused before loading.
#[test]
fn payload_sources_and_invalid_payload() -> TestResult {
    let dir = scratch("invoke")?;
    let file = dir.join("payload.json");
    std::fs::write(&file, r#"{"from": "file"}"#)?;
    let (code, out, err) = invoke("echo", &[&format!("@{}", file.display())])?;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(out.trim())?["payload"],
        json!({"from": "file"})
    );

    let mut child = binary()
        .arg("invoke")
        .arg(guest("echo"))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    std::io::Write::write_all(&mut child.stdin.take().ok_or("no stdin")?, b"[1, 2, 3]")?;
    let output = crate::support::wait_with_limit(child, crate::support::COMMAND_LIMIT)?;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        serde_json::from_str::<Value>(stdout(&output).trim())?["payload"],
        json!([1, 2, 3])
    );

    let (code, _, err) = invoke("echo", &["{not json"])?;
    assert_eq!(code, Some(64));
    assert!(err.contains("the payload is not valid JSON"), "{err}");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Background work the handler scheduled runs to its end before `invoke` exits.
#[test]
fn invoke_waits_for_background_work() -> TestResult {
    let (code, out, err) = invoke("background", &[r#"{"jobs": 2, "work_ms": 300}"#])?;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out)?,
        json!({"scheduled": 2, "refused": null})
    );
    assert_eq!(err.matches("job done after 300 ms").count(), 2, "{err}");
    Ok(())
}
