//! `/metrics` through the real server: scraped after known work, its counts are exact and its
//! text is Prometheus's exposition format; and it answers while every worker spins.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::mock_model::{MockConfig, MockModel};
use crate::server::{Server, send};
use crate::support::{TestResult, eventually};

/// The content type of Prometheus's text format, version 0.0.4.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One scrape: each series (`name{labels}` as written) and its value.
type Samples = HashMap<String, f64>;

/// Scrapes `/metrics`, checks its content type and format, and returns its samples.
fn scrape(server: &Server) -> Result<Samples, Box<dyn std::error::Error>> {
    let response = server.request("GET", "/metrics", &[], b"")?;
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some(CONTENT_TYPE));
    Ok(parse(&response.text())?)
}

/// The value of `series` in `samples`, or an error naming it.
fn value(samples: &Samples, series: &str) -> Result<f64, String> {
    samples
        .get(series)
        .copied()
        .ok_or_else(|| format!("no series {series}"))
}

/// Parses Prometheus's text exposition format, strictly: every sample is `name{labels} value`
/// (labels optional) with a valid name, quoted label values and a number, and belongs to a
/// family whose `# HELP` and `# TYPE` lines came before it; no series appears twice.
fn parse(text: &str) -> Result<Samples, String> {
    let mut helped = Vec::new();
    let mut typed: Vec<(String, String)> = Vec::new();
    let mut samples = Samples::new();
    for line in text.lines() {
        let error = |why: &str| format!("{why}: {line:?}");
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or_default();
            check_name(name).map_err(|why| error(&why))?;
            helped.push(name.to_owned());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').ok_or_else(|| error("no type"))?;
            if !helped.iter().any(|h| h == name) {
                return Err(error("TYPE before HELP"));
            }
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(error("unknown type"));
            }
            typed.push((name.to_owned(), kind.to_owned()));
        } else if line.starts_with('#') || line.is_empty() {
            continue;
        } else {
            let (series, number) = line.rsplit_once(' ').ok_or_else(|| error("no value"))?;
            number
                .parse::<f64>()
                .map_err(|_| error("value is not a number"))?;
            let name = match series.split_once('{') {
                Some((name, labels)) => {
                    let labels = labels.strip_suffix('}').ok_or_else(|| error("no `}`"))?;
                    check_labels(labels).map_err(|why| error(&why))?;
                    name
                }
                None => series,
            };
            check_name(name).map_err(|why| error(&why))?;
            let family = typed.iter().rev().find(|(family, kind)| {
                name == family
                    || (kind == "histogram"
                        && ["_bucket", "_sum", "_count"]
                            .iter()
                            .any(|suffix| name.strip_suffix(suffix) == Some(family.as_str())))
            });
            if family.is_none() {
                return Err(error("sample of no family typed before it"));
            }
            let value = number.parse().map_err(|_| error("bad value"))?;
            if samples.insert(series.to_owned(), value).is_some() {
                return Err(error("series written twice"));
            }
        }
    }
    Ok(samples)
}

/// A metric or label name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let first = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    if first && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        Ok(())
    } else {
        Err(format!("bad name {name:?}"))
    }
}

/// `name="value",...`, values quoted with `\\`, `\"` and `\n` escaped.
fn check_labels(mut labels: &str) -> Result<(), String> {
    while !labels.is_empty() {
        let (name, rest) = labels.split_once("=\"").ok_or("a label without =\"")?;
        check_name(name)?;
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => {
                    chars.next();
                }
                Some((at, '"')) => break at,
                Some(_) => {}
                None => return Err("an unterminated label value".into()),
            }
        };
        labels = &rest[end + 1..];
        labels = match labels.strip_prefix(',') {
            Some(next) if !next.is_empty() => next,
            Some(_) => return Err("a trailing comma".into()),
            None if labels.is_empty() => labels,
            None => return Err("labels not separated by commas".into()),
        };
    }
    Ok(())
}

/// A fresh directory for a compile cache, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("wasm-agent-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// After known work (three invocations completed, one failed, one refused, one outbound
/// request allowed and one denied, a session dropped at its idle timeout) every count is
/// exact, the text parses as the exposition format, and a second start reads the compile
/// cache the first filled.
#[test]
fn counts_after_known_work_are_exact() -> TestResult {
    let model = MockModel::start(MockConfig::default())?;
    let rule = model.url();
    let cache = Scratch::new("metrics-cache");
    let cache_dir = cache.0.to_str().ok_or("path")?;
    let flags = [
        "--allow-outbound",
        &rule,
        "--session-idle-timeout",
        "300ms",
        "--cache-dir",
        cache_dir,
    ];
    let server = Server::start("fetch", &flags)?;
    let allowed = json!({"url": format!("{rule}/status/201")}).to_string();
    let reply = server.invoke(&allowed)?;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()?["status"], 201, "{}", reply.text());
    let reply = server.invoke(&json!({"url": "http://example.invalid/"}).to_string())?;
    assert_eq!(reply.json()?["error"]["kind"], "Denied", "{}", reply.text());
    let reply = server.invoke_in("metrics-session", r#"{"env": true}"#)?;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let failed = server.invoke("{}")?;
    assert_eq!(failed.status, 400, "{}", failed.text());
    let refused = server.invoke("{not json")?;
    assert_eq!(refused.status, 400, "{}", refused.text());

    let idle = r#"wasm_agent_session_evictions_total{cause="idle"}"#;
    eventually(Duration::from_secs(10), || {
        scrape(&server).is_ok_and(|samples| samples.get(idle) == Some(&1.0))
    });
    let samples = scrape(&server)?;

    for (series, expected) in [
        (
            r#"wasm_agent_invocations_total{outcome="completed",status="2xx"}"#,
            3.0,
        ),
        (
            r#"wasm_agent_invocations_total{outcome="failed",kind="Guest",status="4xx"}"#,
            1.0,
        ),
        (
            r#"wasm_agent_invocations_total{outcome="refused",kind="InvalidJson",status="4xx"}"#,
            1.0,
        ),
        (
            r#"wasm_agent_invocation_duration_seconds_count{outcome="completed"}"#,
            3.0,
        ),
        (
            r#"wasm_agent_invocation_duration_seconds_bucket{outcome="completed",le="+Inf"}"#,
            3.0,
        ),
        (
            r#"wasm_agent_outbound_requests_total{host="127.0.0.1",outcome="completed"}"#,
            1.0,
        ),
        (
            r#"wasm_agent_outbound_requests_total{host="127.0.0.1",outcome="denied"}"#,
            0.0,
        ),
        // A host no rule allows is not a row of its own: a guest could fill the table.
        (
            r#"wasm_agent_outbound_requests_total{host="(none)",outcome="denied"}"#,
            1.0,
        ),
        (idle, 1.0),
        (
            r#"wasm_agent_session_evictions_total{cause="capacity"}"#,
            0.0,
        ),
        (
            r#"wasm_agent_session_evictions_total{cause="failure"}"#,
            0.0,
        ),
        ("wasm_agent_sessions", 0.0),
        ("wasm_agent_invocations_running", 0.0),
        ("wasm_agent_invocations_waiting", 0.0),
        (
            r#"wasm_agent_admission_refusals_total{reason="queue_full"}"#,
            0.0,
        ),
        ("wasm_agent_async_tasks", 0.0),
        ("wasm_agent_background_runs_scheduled_total", 0.0),
        ("wasm_agent_websockets", 0.0),
        (
            r#"wasm_agent_compile_cache_lookups_total{result="miss"}"#,
            1.0,
        ),
        (
            r#"wasm_agent_compile_cache_lookups_total{result="hit"}"#,
            0.0,
        ),
    ] {
        assert_eq!(value(&samples, series)?, expected, "{series}");
    }
    // Two destinations, three outcomes each: nothing else was counted.
    let outbound = samples
        .keys()
        .filter(|series| series.starts_with("wasm_agent_outbound_requests_total"))
        .count();
    assert_eq!(outbound, 6, "{samples:?}");
    // Every request came on a connection of its own; this scrape's is still open.
    assert!(value(&samples, "wasm_agent_connections_accepted_total")? >= 6.0);
    assert!(value(&samples, "wasm_agent_connections_open")? >= 1.0);
    let budget = value(&samples, "wasm_agent_guest_memory_budget_bytes")?;
    assert!(budget > 0.0);
    assert!(value(&samples, "wasm_agent_guest_memory_bytes")? <= budget);
    let slots = value(&samples, "wasm_agent_instance_slots")?;
    assert!(value(&samples, "wasm_agent_instances_live")? <= slots);
    drop(server);

    let again = Server::start("fetch", &flags)?;
    let samples = scrape(&again)?;
    let hit = r#"wasm_agent_compile_cache_lookups_total{result="hit"}"#;
    assert_eq!(value(&samples, hit)?, 1.0);
    Ok(())
}

/// While the only worker runs a guest that never yields to the host (`spin`, one worker, one
/// slot, no queue), `/metrics` answers at once and shows it running; the next invocation is
/// refused as busy and counted so; and once its client leaves, the spinning one is counted as
/// ended without a client.
#[test]
fn metrics_answer_while_every_worker_spins() -> TestResult {
    let flags = [
        "--workers",
        "1",
        "--max-concurrency",
        "1",
        "--max-queue",
        "0",
        "--timeout",
        "60s",
        "--cancel-grace",
        "100ms",
    ];
    let server = Server::start("spin", &flags)?;
    let mut spinning = server.connect()?;
    send(&mut spinning, "POST", "/invocations", &[], b"{}")?;
    server.expect_log("spinning")?;

    let started = Instant::now();
    let samples = scrape(&server)?;
    // A scrape that waited on the guest would take the whole 60 s timeout.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(value(&samples, "wasm_agent_invocations_running")?, 1.0);
    assert_eq!(value(&samples, "wasm_agent_invocations_in_flight")?, 1.0);

    let busy = server.invoke("{}")?;
    assert_eq!(busy.status, 503, "{}", busy.text());
    let samples = scrape(&server)?;
    for (series, expected) in [
        (
            r#"wasm_agent_admission_refusals_total{reason="queue_full"}"#,
            1.0,
        ),
        (
            r#"wasm_agent_admission_refusals_total{reason="wait_expired"}"#,
            0.0,
        ),
        (
            r#"wasm_agent_invocations_total{outcome="refused",kind="Busy",status="5xx"}"#,
            1.0,
        ),
        ("wasm_agent_invocations_running", 1.0),
    ] {
        assert_eq!(value(&samples, series)?, expected, "{series}");
    }

    drop(spinning);
    let gone = |samples: &Samples| -> f64 {
        samples
            .iter()
            .filter(|(series, _)| {
                series.starts_with(r#"wasm_agent_invocations_total{outcome="client_gone""#)
            })
            .map(|(_, value)| value)
            .sum()
    };
    eventually(Duration::from_secs(20), || {
        scrape(&server).is_ok_and(|samples| {
            gone(&samples) == 1.0 && samples.get("wasm_agent_invocations_running") == Some(&0.0)
        })
    });
    let samples = scrape(&server)?;
    assert_eq!(gone(&samples), 1.0, "{samples:?}");
    assert_eq!(value(&samples, "wasm_agent_invocations_running")?, 0.0);
    assert_eq!(value(&samples, "wasm_agent_invocations_in_flight")?, 0.0);
    Ok(())
}

/// The parser refuses what the format does not allow, so the tests above can rely on it.
#[test]
fn the_parser_refuses_broken_exposition() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\",y=\"q\\\"\"} 2\n";
    assert!(parse(good).is_ok());
    for broken in [
        "a_total 1\n",
        "# TYPE a gauge\na 1\n",
        "# HELP a A.\n# TYPE a gauge\na one\n",
        "# HELP a A.\n# TYPE a gauge\na{x=1} 1\n",
        "# HELP a A.\n# TYPE a gauge\na{x=\"1\",} 1\n",
        "# HELP a A.\n# TYPE a gauge\na 1\na 2\n",
        "# HELP a A.\n# TYPE a gauge\n1a 1\n",
    ] {
        assert!(parse(broken).is_err(), "{broken:?}");
    }
}
