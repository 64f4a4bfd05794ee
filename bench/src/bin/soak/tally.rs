//! What came of every request: counts by kind and outcome, the well-behaved failures with
//! their details, and the well-behaved latencies.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::well::Ending;

/// Failures whose details the report lists; the rest are only counted.
const DETAILS_KEPT: usize = 50;
/// A request written this long before the shutdown signal, or later, may still have been in
/// the listener's queue, not accepted, when the listener closed: no reply is then its due.
/// One written earlier was accepted, and owes a reply.
pub(crate) const ACCEPT_MARGIN: Duration = Duration::from_secs(1);

/// The counts of the whole run.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    inner: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    /// (well-behaved?, kind, outcome) → requests.
    outcomes: BTreeMap<(bool, String, String), u64>,
    failures: u64,
    details: Vec<String>,
    /// Latencies of the well-behaved requests that completed before shutdown, in µs.
    latencies: Vec<u64>,
}

impl Tally {
    /// Counts a well-behaved request of `kind` that ended with `ending` after `took`; `signal`
    /// is when the server was told to shut down, if it has been. Returns whether it failed.
    pub(crate) fn well(
        &self,
        kind: &str,
        ending: Ending,
        took: Duration,
        signal: Option<Instant>,
    ) -> bool {
        let ended = Instant::now();
        let at_shutdown = signal.is_some_and(|signal| ended >= signal);
        let (outcome, failure) = match ending {
            Ending::Ok => ("ok".to_owned(), None),
            Ending::Retryable(what) if at_shutdown => {
                (format!("retryable at shutdown ({what})"), None)
            }
            Ending::Retryable(what) => (
                "failed".to_owned(),
                Some(format!("{what} without a shutdown")),
            ),
            Ending::NoReply { sent, .. }
                if signal.is_some_and(|signal| sent + ACCEPT_MARGIN >= signal) =>
            {
                ("no reply, sent as the server stopped".to_owned(), None)
            }
            Ending::NoReply { error, .. } => {
                ("failed".to_owned(), Some(format!("no reply: {error}")))
            }
            Ending::Failed(error) => ("failed".to_owned(), Some(error)),
        };
        let Ok(mut counts) = self.inner.lock() else {
            return true;
        };
        *counts
            .outcomes
            .entry((true, kind.to_owned(), outcome.clone()))
            .or_default() += 1;
        if outcome == "ok" && !at_shutdown {
            counts.latencies.push(took.as_micros() as u64);
        }
        match failure {
            Some(detail) => {
                counts.failures += 1;
                if counts.details.len() < DETAILS_KEPT {
                    counts.details.push(format!("{kind}: {detail}"));
                }
                true
            }
            None => false,
        }
    }

    /// Counts a hostile request of `kind` that got `outcome`.
    pub(crate) fn hostile(&self, kind: &str, outcome: String) {
        if let Ok(mut counts) = self.inner.lock() {
            *counts
                .outcomes
                .entry((false, kind.to_owned(), outcome))
                .or_default() += 1;
        }
    }

    /// Well-behaved failures so far.
    pub(crate) fn failures(&self) -> u64 {
        self.inner.lock().map(|c| c.failures).unwrap_or(u64::MAX)
    }

    /// The counts as JSON: outcomes by class and kind, failures, latency percentiles.
    pub(crate) fn to_json(&self) -> Value {
        let Ok(counts) = self.inner.lock() else {
            return json!({ "error": "the tally's lock was poisoned" });
        };
        let mut well = serde_json::Map::new();
        let mut hostile = serde_json::Map::new();
        for ((is_well, kind, outcome), count) in &counts.outcomes {
            let class = if *is_well { &mut well } else { &mut hostile };
            let entry = class.entry(kind.clone()).or_insert_with(|| json!({}));
            entry[outcome] = json!(count);
        }
        let mut latencies = counts.latencies.clone();
        latencies.sort_unstable();
        json!({
            "well_behaved": well,
            "hostile": hostile,
            "well_behaved_requests": counts.outcomes.iter().filter(|((w, _, _), _)| *w).map(|(_, n)| n).sum::<u64>(),
            "hostile_requests": counts.outcomes.iter().filter(|((w, _, _), _)| !*w).map(|(_, n)| n).sum::<u64>(),
            "well_behaved_failures": counts.failures,
            "failure_details": counts.details,
            "latency_ms": {
                "count": latencies.len(),
                "p50": percentile(&latencies, 0.50),
                "p99": percentile(&latencies, 0.99),
                "max": percentile(&latencies, 1.0),
            },
        })
    }
}

/// The `q` quantile of sorted µs values, in ms.
pub(crate) fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index.min(sorted.len() - 1)] as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No reply is a failure during the load, and not for a request sent as the server stops;
    /// the retryable answer counts only once the server was told to stop.
    #[test]
    fn shutdown_decides_what_no_reply_means() {
        let tally = Tally::default();
        let error = || "reset".to_owned();
        let now = Instant::now();
        let early = now.checked_sub(Duration::from_secs(5)).unwrap_or(now);
        assert!(tally.well(
            "json",
            Ending::NoReply {
                sent: now,
                error: error()
            },
            Duration::ZERO,
            None
        ));
        assert!(!tally.well(
            "json",
            Ending::NoReply {
                sent: now,
                error: error()
            },
            Duration::ZERO,
            Some(now)
        ));
        assert!(tally.well(
            "json",
            Ending::NoReply {
                sent: early,
                error: error()
            },
            Duration::ZERO,
            Some(now)
        ));
        assert!(tally.well("json", Ending::Retryable("503"), Duration::ZERO, None));
        assert!(!tally.well("json", Ending::Retryable("503"), Duration::ZERO, Some(now)));
        assert_eq!(tally.failures(), 3);
    }
}
