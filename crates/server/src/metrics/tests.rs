use std::time::Duration;

use wasm_agent_host::outbound::DestinationCounts;
use wasm_agent_host::{AdmissionRefusals, BackgroundRuns, CompileCacheLookup, SessionEvictions};

use super::levels::{Connections, Levels};
use super::*;
use crate::ended::Outcome;
use crate::stats::Stats;

/// An invocation that ended as `outcome`, of `kind`, with `status`, after `millis`.
fn ended(
    outcome: Outcome,
    kind: Option<&'static str>,
    status: Option<u16>,
    millis: u64,
    first_event: Option<u64>,
) -> Ended<'static> {
    Ended {
        request_id: "r",
        session_id: None,
        outcome,
        kind,
        error: None,
        status: status.and_then(|s| StatusCode::from_u16(s).ok()),
        duration: Duration::from_millis(millis),
        first_event: first_event.map(Duration::from_millis),
        events: u64::from(first_event.is_some()),
        usage: None,
    }
}

/// Levels of an idle server with no memory budget and nothing counted.
fn idle() -> Levels {
    Levels {
        stats: Stats {
            live_instances: Some(0),
            sessions: 0,
            async_tasks: 0,
            invocations_running: 0,
            invocations_waiting: 0,
            websockets: 0,
            guest_memory: None,
            pool_warm_bytes: Some(0),
        },
        admission: AdmissionRefusals::default(),
        connections: Connections::default(),
        evictions: SessionEvictions::default(),
        background: BackgroundRuns::default(),
        instance_slots: 256,
        memory_budget: None,
        outbound: Vec::new(),
        outbound_bytes: 0,
        compile_cache: CompileCacheLookup::Skipped,
    }
}

/// The sample lines of `text` (no comments), for exact comparison.
fn samples(text: &str) -> Vec<&str> {
    text.lines().filter(|line| !line.starts_with('#')).collect()
}

/// Panics unless `text` has the sample line `line` exactly.
#[track_caller]
fn assert_sample(text: &str, line: &str) {
    assert!(samples(text).contains(&line), "no `{line}` in:\n{text}");
}

/// Invocations are counted by outcome, kind and status class; a kind or status an invocation
/// does not have is left out rather than written empty.
#[test]
fn invocations_are_counted_by_outcome_kind_and_status_class() {
    let metrics = Metrics::default();
    metrics.invocation_ended(&ended(Outcome::Completed, None, Some(200), 3, None));
    metrics.invocation_ended(&ended(Outcome::Completed, None, Some(201), 40, Some(20)));
    metrics.invocation_ended(&ended(Outcome::Failed, Some("Guest"), Some(418), 2, None));
    metrics.invocation_ended(&ended(Outcome::Refused, Some("Busy"), Some(503), 0, None));
    metrics.invocation_ended(&ended(Outcome::ClientGone, None, None, 7, None));
    let text = encode(&metrics, idle());
    for line in [
        r#"wasm_agent_invocations_total{outcome="completed",status="2xx"} 2"#,
        r#"wasm_agent_invocations_total{outcome="failed",kind="Guest",status="4xx"} 1"#,
        r#"wasm_agent_invocations_total{outcome="refused",kind="Busy",status="5xx"} 1"#,
        r#"wasm_agent_invocations_total{outcome="client_gone"} 1"#,
        r#"wasm_agent_invocation_duration_seconds_count{outcome="completed"} 2"#,
        r#"wasm_agent_invocation_duration_seconds_bucket{outcome="completed",le="0.005"} 1"#,
        r#"wasm_agent_invocation_duration_seconds_bucket{outcome="completed",le="0.05"} 2"#,
        r#"wasm_agent_invocation_duration_seconds_bucket{outcome="completed",le="+Inf"} 2"#,
        "wasm_agent_invocation_first_event_seconds_count 1",
        r#"wasm_agent_invocation_first_event_seconds_bucket{le="0.01"} 0"#,
        r#"wasm_agent_invocation_first_event_seconds_bucket{le="0.025"} 1"#,
    ] {
        assert_sample(&text, line);
    }
    assert!(
        text.contains("# TYPE wasm_agent_invocations_total counter\n"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE wasm_agent_invocation_duration_seconds histogram\n"),
        "{text}"
    );
}

/// Statuses fall into six classes, whatever status a guest chose.
#[test]
fn statuses_fall_into_classes() -> Result<(), axum::http::status::InvalidStatusCode> {
    for (status, class) in [
        (101, "1xx"),
        (200, "2xx"),
        (308, "3xx"),
        (499, "4xx"),
        (503, "5xx"),
        (799, "other"),
    ] {
        assert_eq!(status_class(StatusCode::from_u16(status)?), class);
    }
    Ok(())
}

/// Levels and the host's counts are written with their labels: evictions by cause, outbound
/// requests by host and outcome, admission refusals by reason, the compile cache by result.
#[test]
fn levels_are_written_with_their_labels() {
    let mut levels = idle();
    levels.stats.sessions = 2;
    levels.stats.invocations_running = 3;
    levels.stats.invocations_waiting = 1;
    levels.stats.guest_memory = Some(1 << 20);
    levels.memory_budget = Some(1 << 30);
    levels.admission.queue_full = 4;
    levels.connections = Connections {
        open: 5,
        accepted: 9,
        refused: 1,
        slow_heads: 2,
        idle: 3,
    };
    levels.evictions.idle = 6;
    levels.evictions.failure = 1;
    levels.background = BackgroundRuns {
        scheduled: 3,
        ended: 2,
    };
    levels.outbound = vec![
        DestinationCounts {
            host: "z.example".into(),
            completed: 0,
            failed: 1,
            denied: 0,
        },
        DestinationCounts {
            host: "api.example.com".into(),
            completed: 2,
            failed: 0,
            denied: 0,
        },
    ];
    levels.compile_cache = CompileCacheLookup::Hit;
    let text = encode(&Metrics::default(), levels);
    for line in [
        "wasm_agent_invocations_running 3",
        "wasm_agent_invocations_waiting 1",
        r#"wasm_agent_admission_refusals_total{reason="queue_full"} 4"#,
        r#"wasm_agent_admission_refusals_total{reason="wait_expired"} 0"#,
        "wasm_agent_connections_open 5",
        "wasm_agent_connections_accepted_total 9",
        "wasm_agent_connections_refused_total 1",
        r#"wasm_agent_connections_closed_total{reason="slow_head"} 2"#,
        r#"wasm_agent_connections_closed_total{reason="idle"} 3"#,
        "wasm_agent_sessions 2",
        r#"wasm_agent_session_evictions_total{cause="idle"} 6"#,
        r#"wasm_agent_session_evictions_total{cause="capacity"} 0"#,
        r#"wasm_agent_session_evictions_total{cause="failure"} 1"#,
        "wasm_agent_background_runs_scheduled_total 3",
        "wasm_agent_background_runs_ended_total 2",
        "wasm_agent_background_runs_in_progress 1",
        "wasm_agent_instance_slots 256",
        "wasm_agent_guest_memory_bytes 1048576",
        "wasm_agent_guest_memory_budget_bytes 1073741824",
        r#"wasm_agent_outbound_requests_total{host="api.example.com",outcome="completed"} 2"#,
        r#"wasm_agent_outbound_requests_total{host="z.example",outcome="failed"} 1"#,
        r#"wasm_agent_compile_cache_lookups_total{result="hit"} 1"#,
        r#"wasm_agent_compile_cache_lookups_total{result="miss"} 0"#,
    ] {
        assert_sample(&text, line);
    }
    // Hosts in order, so successive scrapes list them alike.
    let api = text.find(r#"host="api.example.com""#);
    let z = text.find(r#"host="z.example""#);
    assert!(api < z, "{text}");
}

/// Without a memory budget there is no memory to report: neither gauge is written, rather
/// than a zero that would read as an empty budget.
#[test]
fn memory_is_written_only_under_a_budget() {
    let text = encode(&Metrics::default(), idle());
    assert!(!text.contains("wasm_agent_guest_memory"), "{text}");
    assert_sample(&text, "wasm_agent_instances_live 0");
}

/// Every family is announced by its HELP and TYPE lines once, before its samples.
#[test]
fn every_family_has_help_and_type_once() {
    let metrics = Metrics::default();
    metrics.invocation_ended(&ended(Outcome::Completed, None, Some(200), 1, Some(1)));
    let text = encode(&metrics, idle());
    let mut typed = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap_or_default();
            assert!(!typed.contains(&name), "{name} typed twice:\n{text}");
            assert!(
                text.contains(&format!("# HELP {name} ")),
                "no HELP for {name}"
            );
            typed.push(name);
        } else if !line.starts_with('#') {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            let family = typed
                .iter()
                .any(|family| name.strip_prefix(family).is_some_and(is_sample_suffix));
            assert!(family, "{name} sampled before its TYPE:\n{text}");
        }
    }
}

/// What may follow a family's name in one of its samples' names.
fn is_sample_suffix(suffix: &str) -> bool {
    matches!(suffix, "" | "_bucket" | "_sum" | "_count")
}
