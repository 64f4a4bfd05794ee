//! Running counts of the outbound requests guests made, by destination host and outcome, for
//! the log at shutdown and the metrics.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// Destination hosts counted apart; requests to any host past them share one row. A guest
/// chooses the hosts it asks for, denied ones included, so without a bound a looping guest
/// could grow the table (and every scrape of the metrics) without end; an agent's models and
/// tools are a handful of hosts, far under it.
pub const MAX_DESTINATIONS: usize = 100;

/// The row of requests to hosts past [`MAX_DESTINATIONS`]. Parentheses cannot appear in a
/// host name, so the row is never mistaken for a host.
pub const OTHER_DESTINATIONS: &str = "(other)";

/// The row of requests with no host of their own: refused before a rule allowed a host (a
/// CONNECT, credentials in the URL, a host no rule allows, an address its rule does not reach,
/// the invocation's request limit).
pub const NO_DESTINATION: &str = "(none)";

/// How a request ended, as it is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Its response was relayed (or the guest stopped reading it).
    Completed,
    /// It failed: a timeout, a connection error, a limit, or the guest dropping it.
    Failed,
    /// A rule or an address check refused it.
    Denied,
}

/// Running counts of outbound requests.
#[derive(Debug, Default)]
pub(crate) struct OutboundStats {
    // Taken once as each request ends, never across an await: a guest cannot hold it.
    destinations: Mutex<HashMap<Box<str>, Counts>>,
    bytes: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    completed: u64,
    failed: u64,
    denied: u64,
}

/// Outbound requests counted since the host started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboundSnapshot {
    /// Requests whose response was relayed whole.
    pub completed: u64,
    /// Requests that failed (timeouts, connection errors, limits).
    pub failed: u64,
    /// Requests a rule or an address check refused.
    pub denied: u64,
    /// Response body bytes relayed to guests.
    pub bytes: u64,
}

/// The outbound requests to one destination host counted since the host started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationCounts {
    /// The host, lowercase; or [`OTHER_DESTINATIONS`], or [`NO_DESTINATION`].
    pub host: String,
    /// Requests whose response was relayed whole.
    pub completed: u64,
    /// Requests that failed.
    pub failed: u64,
    /// Requests a rule or an address check refused.
    pub denied: u64,
}

impl OutboundStats {
    /// Counts a request to `host` (none if it was refused before one was attributed) that
    /// ended as `outcome`.
    pub(crate) fn count(&self, host: Option<&str>, outcome: Outcome) {
        let mut table = self.lock();
        let key = match host {
            None => NO_DESTINATION,
            Some(host) if table.len() < MAX_DESTINATIONS || table.contains_key(host) => host,
            Some(_) => OTHER_DESTINATIONS,
        };
        let counts = match table.get_mut(key) {
            Some(counts) => counts,
            None => table.entry(key.into()).or_default(),
        };
        match outcome {
            Outcome::Completed => counts.completed += 1,
            Outcome::Failed => counts.failed += 1,
            Outcome::Denied => counts.denied += 1,
        }
    }

    /// Counts a request refused by a limit: to `host` if a rule allowed it first.
    pub(crate) fn count_failure(&self, host: Option<&str>) {
        self.count(host, Outcome::Failed);
    }

    /// Counts a request no rule allows. Its host is not recorded: the guest chose it, and
    /// hosts it may not reach would otherwise take the table's rows from those it may (the
    /// log line of the refusal names it).
    pub(crate) fn count_denied(&self) {
        self.count(None, Outcome::Denied);
    }

    /// Counts response body bytes relayed to a guest.
    pub(crate) fn count_bytes(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The totals over every destination.
    pub(crate) fn snapshot(&self) -> OutboundSnapshot {
        let mut snapshot = OutboundSnapshot {
            bytes: self.bytes.load(Ordering::Relaxed),
            ..OutboundSnapshot::default()
        };
        for counts in self.lock().values() {
            snapshot.completed += counts.completed;
            snapshot.failed += counts.failed;
            snapshot.denied += counts.denied;
        }
        snapshot
    }

    /// The counts of each destination, in no particular order.
    pub(crate) fn destinations(&self) -> Vec<DestinationCounts> {
        self.lock()
            .iter()
            .map(|(host, counts)| DestinationCounts {
                host: host.to_string(),
                completed: counts.completed,
                failed: counts.failed,
                denied: counts.denied,
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Counts>> {
        // Each critical section is one map operation and leaves the map consistent.
        self.destinations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Requests are counted by host and outcome, the totals are the rows' sums, and a request
    /// with no host has a row of its own.
    #[test]
    fn requests_are_counted_by_destination() {
        let stats = OutboundStats::default();
        stats.count(Some("api.example.com"), Outcome::Completed);
        stats.count(Some("api.example.com"), Outcome::Completed);
        stats.count(Some("api.example.com"), Outcome::Failed);
        stats.count_denied();
        stats.count_denied();
        stats.count_failure(None);
        stats.count_bytes(10);
        let mut rows = stats.destinations();
        rows.sort_by(|a, b| a.host.cmp(&b.host));
        let row = |host: &str, completed, failed, denied| DestinationCounts {
            host: host.into(),
            completed,
            failed,
            denied,
        };
        assert_eq!(
            rows,
            vec![
                row(NO_DESTINATION, 0, 1, 2),
                row("api.example.com", 2, 1, 0),
            ]
        );
        let totals = OutboundSnapshot {
            completed: 2,
            failed: 2,
            denied: 2,
            bytes: 10,
        };
        assert_eq!(stats.snapshot(), totals);
    }

    /// Past the bound, new hosts share the "(other)" row while hosts already counted keep
    /// their own.
    #[test]
    fn hosts_past_the_bound_share_one_row() {
        let stats = OutboundStats::default();
        for n in 0..MAX_DESTINATIONS + 5 {
            stats.count_failure(Some(&format!("host-{n}.example")));
        }
        stats.count(Some("host-0.example"), Outcome::Completed);
        let rows = stats.destinations();
        assert_eq!(rows.len(), MAX_DESTINATIONS + 1);
        let other = rows.iter().find(|row| row.host == OTHER_DESTINATIONS);
        assert_eq!(other.map(|row| row.failed), Some(5));
        let first = rows.iter().find(|row| row.host == "host-0.example");
        assert_eq!(first.map(|row| (row.completed, row.failed)), Some((1, 1)));
    }
}
