//! The server's connections in numbers: the slots under the connection limit (so how many are
//! open), and what became of them, counted by the accept loop and each connection's watchdog.
//! Held by the server's state, so the log at shutdown and the metrics read the same counts.
//! Below both `connections` and `connection`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Semaphore;

use crate::watchdog::Expiry;

/// The server's connections: their slots under the limit, and what became of them.
#[derive(Debug)]
pub(crate) struct Counts {
    /// One permit for each connection served at once; an open connection holds one, an
    /// upgraded one (a WebSocket) included.
    pub slots: Arc<Semaphore>,
    /// The limit: the slots there are.
    pub max: usize,
    pub accepted: AtomicU64,
    pub refused: AtomicU64,
    pub slow_heads: AtomicU64,
    pub idle: AtomicU64,
}

impl Counts {
    /// No connection yet, under a limit of `max`.
    pub(crate) fn new(max: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max)),
            max,
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            slow_heads: AtomicU64::new(0),
            idle: AtomicU64::new(0),
        }
    }

    /// Connections open now.
    pub(crate) fn open(&self) -> usize {
        self.max.saturating_sub(self.slots.available_permits())
    }

    /// A connection's watchdog closed it.
    pub(crate) fn expired(&self, expiry: Expiry) {
        let count = match expiry {
            Expiry::SlowHead => &self.slow_heads,
            Expiry::Idle => &self.idle,
        };
        count.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection is open for as long as it holds its slot.
    #[test]
    fn open_connections_are_the_slots_held() {
        let counts = Counts::new(4);
        assert_eq!(counts.open(), 0);
        let first = counts.slots.clone().try_acquire_owned();
        let second = counts.slots.clone().try_acquire_owned();
        assert_eq!(counts.open(), 2);
        drop(first);
        assert_eq!(counts.open(), 1);
        drop(second);
        assert_eq!(counts.open(), 0);
    }
}
