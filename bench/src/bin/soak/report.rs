//! The soak's report: the checks that decide whether it passed, a table for people and a JSON
//! document for tools.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::process::Snapshot;

/// Growth allowed after warm-up, in the full run: 5%.
pub(crate) const GROWTH_ALLOWED: f64 = 0.05;

/// A measurement of the server at rest, between phases of the load.
#[derive(Debug, Clone)]
pub(crate) struct Checkpoint {
    pub name: &'static str,
    pub at_secs: f64,
    pub snapshot: Snapshot,
    /// Whether it came to rest within the bounds before the wait ran out.
    pub settled: bool,
}

/// The four quantities whose growth is checked, by name.
pub(crate) fn quantities(snapshot: &Snapshot) -> [(&'static str, u64); 4] {
    [
        ("rss_kib", snapshot.usage.rss_kib),
        ("fds", snapshot.usage.fds),
        ("threads", snapshot.usage.threads),
        ("live_instances", snapshot.counts.live_instances),
    ]
}

/// Growth from `base` to `now` as a fraction (0.05 is 5%); zero to zero is no growth.
pub(crate) fn growth(base: u64, now: u64) -> f64 {
    match (base, now) {
        (_, 0) => 0.0,
        (0, _) => f64::INFINITY,
        (base, now) => now as f64 / base as f64 - 1.0,
    }
}

/// Whether `now` is within the growth allowed over `base`, in every quantity.
pub(crate) fn within_growth(base: &Snapshot, now: &Snapshot) -> bool {
    quantities(base)
        .iter()
        .zip(quantities(now))
        .all(|((_, b), (_, n))| growth(*b, n) <= GROWTH_ALLOWED)
}

/// Whether descriptors and live instances are back to the baseline's (the short run's check).
pub(crate) fn back_to_baseline(base: &Snapshot, now: &Snapshot) -> bool {
    now.usage.fds <= base.usage.fds && now.counts.live_instances <= base.counts.live_instances
}

/// The checkpoints as JSON, with each one's growth over `start`.
pub(crate) fn checkpoints_json(checkpoints: &[Checkpoint]) -> Value {
    let start = checkpoints.iter().find(|c| c.name == "start");
    let entries: serde_json::Map<String, Value> = checkpoints
        .iter()
        .map(|checkpoint| {
            let mut value = checkpoint.snapshot.to_json();
            value["at_secs"] = json!((checkpoint.at_secs * 10.0).round() / 10.0);
            value["settled"] = json!(checkpoint.settled);
            if let Some(start) = start {
                let growths: serde_json::Map<String, Value> = quantities(&start.snapshot)
                    .iter()
                    .zip(quantities(&checkpoint.snapshot))
                    .map(|((name, b), (_, n))| {
                        let percent = growth(*b, n) * 100.0;
                        (name.to_string(), json!((percent * 10.0).round() / 10.0))
                    })
                    .collect();
                value["growth_percent_over_start"] = Value::Object(growths);
            }
            (checkpoint.name.to_owned(), value)
        })
        .collect();
    Value::Object(entries)
}

/// The report for people, from the JSON one.
pub(crate) fn table(report: &Value) -> String {
    let mut out = String::new();
    let requests = &report["requests"];
    let _ = writeln!(
        out,
        "soak: {} s of load ({}), {} well-behaved and {} hostile clients",
        report["secs"], report["mode"], report["clients"], report["hostile_clients"]
    );
    for class in ["well_behaved", "hostile"] {
        let _ = writeln!(out, "\n{class} requests by outcome:");
        if let Some(kinds) = requests[class].as_object() {
            for (kind, outcomes) in kinds {
                let outcomes: Vec<String> = outcomes
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .map(|(outcome, n)| format!("{outcome}: {n}"))
                            .collect()
                    })
                    .unwrap_or_default();
                let _ = writeln!(out, "  {kind:<22} {}", outcomes.join(", "));
            }
        }
    }
    let latency = &requests["latency_ms"];
    let _ = writeln!(
        out,
        "\nwell-behaved: {} requests, {} failed; latency p50 {} ms, p99 {} ms, max {} ms",
        requests["well_behaved_requests"],
        requests["well_behaved_failures"],
        latency["p50"],
        latency["p99"],
        latency["max"]
    );
    if let Some(details) = requests["failure_details"].as_array() {
        for detail in details {
            let _ = writeln!(out, "  failure: {}", detail.as_str().unwrap_or_default());
        }
    }
    let pings = &report["pings"];
    let _ = writeln!(
        out,
        "pings: {} sent, {} failed, {} over 100 ms; p50 {} ms, p99 {} ms, max {} ms",
        pings["sent"],
        pings["failed"],
        pings["slow_over_100ms"],
        pings["p50_ms"],
        pings["p99_ms"],
        pings["max_ms"]
    );
    if let Some(details) = pings["details"].as_array() {
        for detail in details {
            let _ = writeln!(out, "  ping: {}", detail.as_str().unwrap_or_default());
        }
    }
    let _ = writeln!(
        out,
        "\n{:<10} {:>7} {:>10} {:>6} {:>8} {:>10} {:>9}  growth over start (rss/fds/threads/instances)",
        "checkpoint", "at s", "RSS KiB", "fds", "threads", "instances", "sessions"
    );
    for name in ["initial", "start", "middle", "end"] {
        let c = &report["checkpoints"][name];
        if c.is_object() {
            let g = &c["growth_percent_over_start"];
            let _ = writeln!(
                out,
                "{name:<10} {:>7} {:>10} {:>6} {:>8} {:>10} {:>9}  {}% / {}% / {}% / {}%{}",
                c["at_secs"],
                c["rss_kib"],
                c["fds"],
                c["threads"],
                c["live_instances"],
                c["sessions"],
                g["rss_kib"],
                g["fds"],
                g["threads"],
                g["live_instances"],
                if c["settled"] == true {
                    ""
                } else {
                    "  (not settled)"
                }
            );
        }
    }
    if let Some(points) = report["under_load"]["points"].as_array() {
        let rss: Vec<String> = points
            .iter()
            .step_by(points.len().div_ceil(20).max(1))
            .map(|p| format!("{}s {}M", p[0], p[1].as_u64().unwrap_or(0) / 1024))
            .collect();
        let _ = writeln!(out, "RSS under load: {}", rss.join(", "));
    }
    let shutdown = &report["shutdown"];
    let _ = writeln!(
        out,
        "\nshutdown: exit {} after {} ms (limit {} ms)",
        shutdown["exit_code"], shutdown["exit_after_ms"], shutdown["limit_ms"]
    );
    if let Some(probes) = shutdown["probes"].as_object() {
        for (name, result) in probes {
            let _ = writeln!(out, "  {name:<32} {result}");
        }
    }
    let misses = report["misses"].as_array().cloned().unwrap_or_default();
    if misses.is_empty() {
        let _ = writeln!(out, "\nPASSED: every check held");
    } else {
        let _ = writeln!(out, "\nMISSED:");
        for miss in misses {
            let _ = writeln!(out, "  {}", miss.as_str().unwrap_or_default());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Growth is a fraction of the base; nothing from nothing is none; something from nothing
    /// is unbounded.
    #[test]
    fn growth_is_a_fraction_of_the_base() {
        assert!((growth(100, 105) - 0.05).abs() < 1e-9);
        assert!(growth(100, 90) < 0.0);
        assert_eq!(growth(0, 0), 0.0);
        assert!(growth(0, 1).is_infinite());
    }
}
