//! The `/ping` reply: its status, its compact body, and the clock behind `time_of_last_update`.

use std::sync::atomic::{AtomicU64, Ordering};

/// The health a runtime reports on `/ping`; AgentCore defines no unhealthy value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingStatus {
    /// Ready to accept new work.
    Healthy,
    /// Working on background tasks; AgentCore keeps the session alive while this is reported.
    HealthyBusy,
}

impl PingStatus {
    /// Returns the status as it is spelled on the wire: `Healthy` or `HealthyBusy`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "Healthy",
            Self::HealthyBusy => "HealthyBusy",
        }
    }

    /// The two low bits that stand for this status inside [`PingClock`]; 0 means "never observed".
    fn code(self) -> u64 {
        match self {
            Self::Healthy => 1,
            Self::HealthyBusy => 2,
        }
    }
}

/// Returns the compact `/ping` body, e.g. `{"status":"Healthy","time_of_last_update":1795749617}`.
///
/// `time_of_last_update` is whole Unix seconds, normally from [`PingClock::observe`].
pub fn body(status: PingStatus, time_of_last_update: u64) -> String {
    format!(
        r#"{{"status":"{}","time_of_last_update":{time_of_last_update}}}"#,
        status.as_str()
    )
}

/// Bits of the packed state that hold the status code; the timestamp sits above them.
const STATUS_BITS: u32 = 2;

/// Mask selecting the status code from the packed state.
const STATUS_MASK: u64 = (1 << STATUS_BITS) - 1;

/// The largest timestamp the packed state can hold (2^62 - 1 seconds, far beyond any real clock).
const MAX_SECS: u64 = u64::MAX >> STATUS_BITS;

/// The time of the last `/ping` status change, as the SDK tracks it.
///
/// The first observation counts as a change; afterwards the timestamp moves only when the observed
/// status differs from the previously observed one. It is never "now" on every ping: that would
/// stop AgentCore's idle timeout from ever firing. Lock-free, so concurrent pings never wait: the
/// status and timestamp live together in one atomic word and change together.
#[derive(Debug, Default)]
pub struct PingClock {
    /// `secs << STATUS_BITS | status code`, or 0 before the first observation.
    state: AtomicU64,
}

impl PingClock {
    /// Records that `status` was observed at `now_secs` and returns the resulting
    /// `time_of_last_update`: `now_secs` on the first call or on a change of status, otherwise the
    /// time of the last change. Timestamps above 2^62 - 1 are clamped.
    pub fn observe(&self, status: PingStatus, now_secs: u64) -> u64 {
        let changed = (now_secs.min(MAX_SECS) << STATUS_BITS) | status.code();
        // One word is the whole state and publishes no other memory, so Relaxed suffices.
        let mut current = self.state.load(Ordering::Relaxed);
        loop {
            // The never-observed state 0 carries code 0, which matches no status.
            if current & STATUS_MASK == status.code() {
                return current >> STATUS_BITS;
            }
            match self.state.compare_exchange_weak(
                current,
                changed,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return changed >> STATUS_BITS,
                Err(actual) => current = actual,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// The body matches the observed bytes and lengths: 53 for Healthy, 57 for HealthyBusy.
    #[test]
    fn body_golden() {
        let healthy = body(PingStatus::Healthy, 1_795_749_617);
        assert_eq!(
            healthy,
            r#"{"status":"Healthy","time_of_last_update":1795749617}"#
        );
        assert_eq!(healthy.len(), 53);
        let busy = body(PingStatus::HealthyBusy, 1_795_749_617);
        assert_eq!(
            busy,
            r#"{"status":"HealthyBusy","time_of_last_update":1795749617}"#
        );
        assert_eq!(busy.len(), 57);
    }

    /// The wire spellings are the SDK's enum values.
    #[test]
    fn status_spelling() {
        assert_eq!(PingStatus::Healthy.as_str(), "Healthy");
        assert_eq!(PingStatus::HealthyBusy.as_str(), "HealthyBusy");
    }

    /// The first observation sets the time; repeating the status keeps it.
    #[test]
    fn first_observation_sets_time_and_repeat_keeps_it() {
        let clock = PingClock::default();
        assert_eq!(clock.observe(PingStatus::Healthy, 100), 100);
        assert_eq!(clock.observe(PingStatus::Healthy, 200), 100);
        assert_eq!(clock.observe(PingStatus::Healthy, 300), 100);
    }

    /// A first observation of HealthyBusy counts as a change too.
    #[test]
    fn first_observation_busy() {
        let clock = PingClock::default();
        assert_eq!(clock.observe(PingStatus::HealthyBusy, 5), 5);
        assert_eq!(clock.observe(PingStatus::HealthyBusy, 6), 5);
    }

    /// A change of status moves the time, and changing back moves it again.
    #[test]
    fn change_and_change_back_move_time() {
        let clock = PingClock::default();
        assert_eq!(clock.observe(PingStatus::Healthy, 100), 100);
        assert_eq!(clock.observe(PingStatus::HealthyBusy, 150), 150);
        assert_eq!(clock.observe(PingStatus::HealthyBusy, 170), 150);
        assert_eq!(clock.observe(PingStatus::Healthy, 200), 200);
        assert_eq!(clock.observe(PingStatus::Healthy, 250), 200);
    }

    /// Time zero is a real observation, distinct from "never observed".
    #[test]
    fn zero_time_is_an_observation() {
        let clock = PingClock::default();
        assert_eq!(clock.observe(PingStatus::Healthy, 0), 0);
        assert_eq!(clock.observe(PingStatus::Healthy, 9), 0);
    }

    /// Timestamps beyond the packed range are clamped rather than corrupting the status.
    #[test]
    fn huge_time_is_clamped() {
        let clock = PingClock::default();
        assert_eq!(clock.observe(PingStatus::HealthyBusy, u64::MAX), MAX_SECS);
        assert_eq!(clock.observe(PingStatus::HealthyBusy, 1), MAX_SECS);
    }

    /// Concurrent observers of one status agree on a single time of change.
    #[test]
    fn concurrent_same_status_agree() -> Result<(), Box<dyn std::error::Error>> {
        let clock = Arc::new(PingClock::default());
        let handles: Vec<_> = (0..8u64)
            .map(|i| {
                let clock = Arc::clone(&clock);
                std::thread::spawn(move || {
                    (0..1000)
                        .map(|_| clock.observe(PingStatus::Healthy, 1000 + i))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut seen = Vec::new();
        for handle in handles {
            seen.extend(handle.join().map_err(|_| "observer thread panicked")?);
        }
        let first = seen[0];
        assert!(seen.iter().all(|&t| t == first), "observers disagreed");
        assert_eq!(clock.observe(PingStatus::Healthy, 9999), first);
        Ok(())
    }
}
