//! What every route shares.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use wasm_agent_contract::{PingClock, PingStatus};
use wasm_agent_host::{GuestStatus, Host};

use crate::config::ServerConfig;
use crate::counts::Counts;
use crate::metrics::Metrics;
use crate::stats::Stats;
use crate::websockets::WebSockets;

/// The server's shared state: the host (which `serve --watch` replaces), the limits, the ping
/// clock, the open WebSocket connections, the connections' counts and the metrics. `/ping`, the
/// metrics and the stats read the current host only.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    // Read by every request without a lock; replaced whole when the handler is reloaded.
    host: ArcSwap<Host>,
    // Hosts replaced while calls in them may still be in progress: kept here, so that shutdown
    // can stop them and the last of them is let go by `release_retired`, off the control
    // runtime, rather than by whichever request ends last.
    retired: Mutex<Vec<Host>>,
    config: ServerConfig,
    ping: PingClock,
    websockets: WebSockets,
    connections: Arc<Counts>,
    metrics: Metrics,
    // The status a debug action forced: 0 none, 1 Healthy, 2 HealthyBusy.
    forced: AtomicU8,
}

impl AppState {
    /// State for serving `host` with `config`.
    pub fn new(host: Host, config: ServerConfig) -> Self {
        let connections = Arc::new(Counts::new(config.max_connections));
        Self {
            inner: Arc::new(Shared {
                host: ArcSwap::from_pointee(host),
                retired: Mutex::default(),
                config,
                ping: PingClock::default(),
                websockets: WebSockets::default(),
                connections,
                metrics: Metrics::default(),
                forced: AtomicU8::new(0),
            }),
        }
    }

    /// The loaded handler: the one new invocations run in.
    pub fn host(&self) -> Host {
        Host::clone(&self.inner.host.load())
    }

    /// Serves `host` from now on. The host it replaces is kept until the calls already started
    /// in it have ended ([`release_retired`](Self::release_retired)); its sessions are not
    /// carried over. Refused, giving `host` back, once the server is stopping.
    pub fn replace_host(&self, host: Host) -> Result<(), Host> {
        // Under the lock `cancel_all` takes: a host swapped in is either stopped with the rest
        // or refused.
        let mut retired = self.retired();
        if self.inner.host.load().is_stopping() {
            return Err(host);
        }
        let old = self.inner.host.swap(Arc::new(host));
        retired.push(Host::clone(&old));
        Ok(())
    }

    /// Takes out the replaced hosts nothing else holds any more, for the caller to unload
    /// where dropping them blocks no one.
    pub fn release_retired(&self) -> Vec<Host> {
        let mut retired = self.retired();
        let (idle, busy) = retired.drain(..).partition(|host| !host.is_in_use());
        *retired = busy;
        idle
    }

    /// Stops every host still loaded (at shutdown): the current one, and any replaced one
    /// whose calls are still in progress.
    pub(crate) fn cancel_all(&self) {
        let retired = self.retired();
        self.inner.host.load().cancel_all();
        for host in retired.iter() {
            host.cancel_all();
        }
    }

    fn retired(&self) -> MutexGuard<'_, Vec<Host>> {
        self.inner
            .retired
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The limits.
    pub(crate) fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The open WebSocket connections, which shutdown closes.
    pub(crate) fn websockets(&self) -> &WebSockets {
        &self.inner.websockets
    }

    /// The connections' slots under the limit, and what became of them.
    pub(crate) fn connection_counts(&self) -> &Arc<Counts> {
        &self.inner.connections
    }

    /// The server's metrics.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The status `/ping` reports now: forced by a debug action, else set by a guest, else
    /// `HealthyBusy` while any async task is open (the SDK's order). Reads atomics only.
    pub(crate) fn ping_status(&self) -> PingStatus {
        if let Some(forced) = self.forced_status() {
            return forced;
        }
        let host = self.inner.host.load();
        match host.guest_status() {
            Some(GuestStatus::Healthy) => PingStatus::Healthy,
            Some(GuestStatus::HealthyBusy) => PingStatus::HealthyBusy,
            None if host.tasks().is_busy() => PingStatus::HealthyBusy,
            None => PingStatus::Healthy,
        }
    }

    /// Takes the status as `/ping` reports it, with the time of its last change (which this
    /// observation may be).
    pub(crate) fn observe_ping(&self) -> (PingStatus, u64) {
        let status = self.ping_status();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        (status, self.inner.ping.observe(status, now))
    }

    /// The status a debug action forced, if any.
    pub(crate) fn forced_status(&self) -> Option<PingStatus> {
        match self.inner.forced.load(Ordering::Acquire) {
            1 => Some(PingStatus::Healthy),
            2 => Some(PingStatus::HealthyBusy),
            _ => None,
        }
    }

    /// Forces the status, or with `None` stops forcing it.
    pub(crate) fn force_status(&self, status: Option<PingStatus>) {
        let code = match status {
            None => 0,
            Some(PingStatus::Healthy) => 1,
            Some(PingStatus::HealthyBusy) => 2,
        };
        self.inner.forced.store(code, Ordering::Release);
    }
}

impl AppState {
    /// What the server holds now.
    pub fn stats(&self) -> Stats {
        let host = self.host();
        let admitted = host.admitted();
        Stats {
            live_instances: host.live_instances(),
            sessions: host.sessions(),
            async_tasks: host.tasks().open_count(),
            invocations_running: admitted.running,
            invocations_waiting: admitted.waiting,
            websockets: self.websockets().open_count(),
            guest_memory: host.memory_in_use(),
            pool_warm_bytes: host.pool_warm_bytes(),
        }
    }
}
