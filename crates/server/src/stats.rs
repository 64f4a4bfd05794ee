//! [`Stats`]: what the server holds at one moment (instances, sessions, tasks, invocations,
//! WebSockets), logged as one `server stats` line when the binary asks (at SIGUSR1), so an
//! operator or a soak test can watch for leaks in a running process without a metrics endpoint.

/// What the server holds now. Each count is read from an atomic or a short lock; none waits
/// on a guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Instances allocated from the pool (fresh, session, background and WebSocket ones), if
    /// the engine reports them.
    pub live_instances: Option<u64>,
    /// Sessions that exist, with or without a live instance.
    pub sessions: usize,
    /// Async tasks open (guests' own, and background work in progress).
    pub async_tasks: usize,
    /// Invocations admitted and holding an instance.
    pub invocations_running: usize,
    /// Invocations waiting for admission.
    pub invocations_waiting: usize,
    /// WebSocket connections open.
    pub websockets: usize,
    /// Bytes of linear memory all guests hold, if a process-wide budget is set.
    pub guest_memory: Option<u64>,
    /// Bytes the instance pool keeps warm in slots no instance holds.
    pub pool_warm_bytes: Option<u64>,
}

impl Stats {
    /// Logs the stats as one INFO line, `server stats`; a count the server cannot give is
    /// logged as `-`.
    pub fn log(&self) {
        tracing::info!(
            live_instances = %Maybe(self.live_instances),
            sessions = self.sessions,
            async_tasks = self.async_tasks,
            invocations_running = self.invocations_running,
            invocations_waiting = self.invocations_waiting,
            websockets = self.websockets,
            guest_memory_bytes = %Maybe(self.guest_memory),
            pool_warm_bytes = %Maybe(self.pool_warm_bytes),
            "server stats"
        );
    }
}

/// A count, or `-` when there is none.
struct Maybe(Option<u64>);

impl std::fmt::Display for Maybe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(count) => write!(f, "{count}"),
            None => f.write_str("-"),
        }
    }
}
