//! [`Watchdog`]: what one connection is doing, and when it must be closed because its client is
//! not using it: a request head not sent within the header timeout, or no request within the
//! keep-alive timeout.
//!
//! hyper's own `header_read_timeout` is not used for this: it starts when a connection goes idle,
//! so it would close kept-alive connections after the header timeout as well; and it starts
//! only once hyper-util's auto builder has read enough bytes to tell h2c from HTTP/1.1, so a
//! client that connects and sends nothing, or the first bytes of the h2c preface, escapes it.
//! The clock here starts at accept.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// The time a client has to use its connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// To send a request's head: from accept for the first request, from its first byte for
    /// the next ones.
    pub header: Duration,
    /// To start another request once none is in progress.
    pub keep_alive: Duration,
}

/// Why a connection was closed by its watchdog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// A request's head did not arrive within the header timeout.
    SlowHead,
    /// No request came within the keep-alive timeout.
    Idle,
}

/// One connection's requests in progress, and when it went quiet; see [`Watchdog::expired`].
#[derive(Debug)]
pub(crate) struct Watchdog {
    timeouts: Timeouts,
    state: Mutex<State>,
    // Set while an HTTP/1 connection is quiet and no byte of a next request has come, so that
    // the read that brings one starts the header clock; every other read checks only this.
    awaiting_head: AtomicBool,
    changed: Notify,
}

#[derive(Debug, Clone, Copy)]
struct State {
    in_flight: usize,
    served: bool,
    multiplexed: bool,
    quiet_since: Instant,
    head_since: Option<Instant>,
}

impl State {
    /// When the connection must be closed if nothing changes, and why; `None` while a request
    /// is in progress (its own deadlines bound it).
    fn deadline(&self, timeouts: Timeouts) -> Option<(Instant, Expiry)> {
        if self.in_flight > 0 {
            return None;
        }
        if !self.served {
            return Some((self.quiet_since + timeouts.header, Expiry::SlowHead));
        }
        // HTTP/2 frames come and go on an idle connection (pings, settings, window updates):
        // a byte there is no request's head.
        match self.head_since {
            Some(head) if !self.multiplexed => Some((head + timeouts.header, Expiry::SlowHead)),
            _ => Some((self.quiet_since + timeouts.keep_alive, Expiry::Idle)),
        }
    }
}

impl Watchdog {
    /// The watchdog of a connection accepted now.
    pub(crate) fn new(timeouts: Timeouts) -> Self {
        Self {
            timeouts,
            state: Mutex::new(State {
                in_flight: 0,
                served: false,
                multiplexed: false,
                quiet_since: Instant::now(),
                head_since: None,
            }),
            awaiting_head: AtomicBool::new(false),
            changed: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is a few plain fields written whole: one a panic left is still consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The client sent bytes.
    pub(crate) fn on_read(&self) {
        if self.awaiting_head.load(Ordering::Relaxed)
            && self.awaiting_head.swap(false, Ordering::AcqRel)
        {
            self.state().head_since = Some(Instant::now());
            self.changed.notify_one();
        }
    }

    /// A request's head has been read; it is in progress until the returned guard is dropped
    /// (with the response's body).
    pub(crate) fn request(self: &Arc<Self>, multiplexed: bool) -> InFlight {
        self.awaiting_head.store(false, Ordering::Release);
        let mut state = self.state();
        state.in_flight += 1;
        state.served = true;
        state.multiplexed |= multiplexed;
        state.head_since = None;
        InFlight(self.clone())
    }

    /// Whether the connection is HTTP/1 with no request in progress: closing it now loses
    /// nothing (a request half sent is the client's to send again).
    pub(crate) fn is_quiet_http1(&self) -> bool {
        let state = self.state();
        state.in_flight == 0 && !state.multiplexed
    }

    /// Completes when the connection must be closed: its deadline has passed with no request
    /// in progress. Re-arms whenever a request starts or ends or the next head begins.
    pub(crate) async fn expired(&self) -> Expiry {
        loop {
            let changed = self.changed.notified();
            let deadline = self.state().deadline(self.timeouts);
            match deadline {
                None => changed.await,
                Some((deadline, _)) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline) => {}
                        () = changed => continue,
                    }
                }
            }
            // A request may have started as the timer fired.
            let now = Instant::now();
            if let Some((deadline, expiry)) = self.state().deadline(self.timeouts)
                && deadline <= now
            {
                return expiry;
            }
        }
    }
}

/// A request in progress on a connection; the connection goes quiet when the last is dropped.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Watchdog>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let watchdog = &self.0;
        let mut state = watchdog.state();
        state.in_flight -= 1;
        if state.in_flight == 0 {
            state.quiet_since = Instant::now();
            state.head_since = None;
            watchdog
                .awaiting_head
                .store(!state.multiplexed, Ordering::Release);
            drop(state);
            watchdog.changed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUTS: Timeouts = Timeouts {
        header: Duration::from_secs(10),
        keep_alive: Duration::from_secs(75),
    };

    fn at(start: Instant, secs: u64) -> Instant {
        start + Duration::from_secs(secs)
    }

    /// A new connection has the header timeout from accept; a served one the keep-alive
    /// timeout from its last reply, then the header timeout from the next head's first byte.
    #[test]
    fn deadlines_follow_the_connections_life() {
        let start = Instant::now();
        let mut state = State {
            in_flight: 0,
            served: false,
            multiplexed: false,
            quiet_since: start,
            head_since: None,
        };
        assert_eq!(
            state.deadline(TIMEOUTS),
            Some((at(start, 10), Expiry::SlowHead))
        );
        state.served = true;
        state.in_flight = 1;
        assert_eq!(state.deadline(TIMEOUTS), None);
        state.in_flight = 0;
        state.quiet_since = at(start, 100);
        assert_eq!(
            state.deadline(TIMEOUTS),
            Some((at(start, 175), Expiry::Idle))
        );
        state.head_since = Some(at(start, 130));
        assert_eq!(
            state.deadline(TIMEOUTS),
            Some((at(start, 140), Expiry::SlowHead))
        );
        state.multiplexed = true;
        assert_eq!(
            state.deadline(TIMEOUTS),
            Some((at(start, 175), Expiry::Idle)),
            "an HTTP/2 frame is no request head"
        );
    }

    /// Requests hold the connection busy until the last one ends; then bytes start the header
    /// clock, once.
    #[tokio::test]
    async fn requests_and_reads_move_the_deadline() {
        let watchdog = Arc::new(Watchdog::new(TIMEOUTS));
        watchdog.on_read();
        assert_eq!(
            watchdog.state().head_since,
            None,
            "the first head's clock runs from accept"
        );
        let first = watchdog.request(false);
        let second = watchdog.request(false);
        drop(first);
        assert_eq!(watchdog.state().deadline(TIMEOUTS), None);
        assert!(!watchdog.is_quiet_http1());
        drop(second);
        assert!(watchdog.is_quiet_http1());
        assert_eq!(
            watchdog.state().deadline(TIMEOUTS).map(|(_, why)| why),
            Some(Expiry::Idle)
        );
        watchdog.on_read();
        let head = watchdog.state().head_since;
        assert!(head.is_some());
        watchdog.on_read();
        assert_eq!(
            watchdog.state().head_since,
            head,
            "only the first byte starts the clock"
        );
    }

    /// The watchdog fires at the deadline, and not while a request is in progress. The clock
    /// is paused, so the margins are exact rather than the machine's.
    #[tokio::test(start_paused = true)]
    async fn expires_only_when_quiet() -> Result<(), tokio::time::error::Elapsed> {
        let short = Timeouts {
            header: Duration::from_millis(50),
            keep_alive: Duration::from_millis(50),
        };
        let watchdog = Arc::new(Watchdog::new(short));
        let busy = watchdog.request(false);
        let waited = tokio::time::timeout(Duration::from_millis(200), watchdog.expired()).await;
        assert!(waited.is_err(), "a request is in progress");
        drop(busy);
        let quiet = Instant::now();
        let expiry = tokio::time::timeout(Duration::from_secs(30), watchdog.expired()).await?;
        assert_eq!(expiry, Expiry::Idle);
        assert_eq!(
            quiet.elapsed(),
            Duration::from_millis(50),
            "the keep-alive timeout"
        );
        Ok(())
    }
}
