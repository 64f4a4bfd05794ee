//! What became of the connections, counted by the accept loop and each connection's watchdog,
//! for the one line logged at shutdown. Below both `connections` and `connection`.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::watchdog::Expiry;

/// What became of the connections, for the log at shutdown.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pub accepted: AtomicU64,
    pub refused: AtomicU64,
    pub slow_heads: AtomicU64,
    pub idle: AtomicU64,
}

impl Counts {
    /// A connection's watchdog closed it.
    pub(crate) fn expired(&self, expiry: Expiry) {
        let count = match expiry {
            Expiry::SlowHead => &self.slow_heads,
            Expiry::Idle => &self.idle,
        };
        count.fetch_add(1, Ordering::Relaxed);
    }
}
