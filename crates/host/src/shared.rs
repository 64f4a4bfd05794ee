//! What every instance of a host shares: the limits, the async-task registry, the status a
//! guest set for `/ping`, and the slots for background work.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::config::HostConfig;
use crate::invocation::Context;
use crate::limits::MemoryBudget;
use crate::outbound::Outbound;
use crate::tasks::{AsyncTasks, TrackedTask};

/// The status a guest reports for `/ping` through `set-ping-status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestStatus {
    /// Ready for new work.
    Healthy,
    /// Busy: the platform must keep the session alive.
    HealthyBusy,
}

/// Shared by every store of one host.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: HostConfig,
    pub tasks: Arc<AsyncTasks>,
    pub memory: Option<Arc<MemoryBudget>>,
    /// Slots for background runs, if the component exports `background`.
    pub background: Option<Arc<Semaphore>>,
    /// Outbound HTTP: the rules, the client and the host's credentials.
    pub outbound: Arc<Outbound>,
    // Background work to start at once, scheduled by a call no caller waits on.
    launcher: mpsc::UnboundedSender<Launch>,
    // Live instances that set each status; read by `/ping` without a lock.
    busy_claims: AtomicUsize,
    healthy_claims: AtomicUsize,
}

/// The status one instance set, counted in [`Shared`] for as long as the instance lives: a
/// dropped instance (a trap, an evicted session) cannot hold `/ping` at `HealthyBusy`.
#[derive(Debug)]
pub(crate) struct StatusClaim {
    shared: Arc<Shared>,
    status: Option<GuestStatus>,
}

impl StatusClaim {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            status: None,
        }
    }

    /// Sets or clears this instance's status; true if it changed.
    pub(crate) fn set(&mut self, status: Option<GuestStatus>) -> bool {
        if self.status == status {
            return false;
        }
        if let Some(claims) = status.map(|s| self.shared.claims(s)) {
            claims.fetch_add(1, Ordering::AcqRel);
        }
        if let Some(claims) = self.status.map(|s| self.shared.claims(s)) {
            claims.fetch_sub(1, Ordering::AcqRel);
        }
        self.status = status;
        true
    }
}

impl Drop for StatusClaim {
    fn drop(&mut self) {
        self.set(None);
    }
}

/// Background work to start now, with the context of the invocation that scheduled it.
#[derive(Debug)]
pub(crate) struct Launch {
    pub work: Scheduled,
    pub context: Arc<Context>,
}

/// Background work a guest scheduled, holding its slot and its open async task until it has run.
#[derive(Debug)]
pub(crate) struct Scheduled {
    pub task: String,
    pub input: String,
    // Both released when the work has run (or is dropped).
    pub _slot: OwnedSemaphorePermit,
    pub _tracked: TrackedTask,
}

impl Shared {
    pub(crate) fn new(
        config: HostConfig,
        has_background: bool,
        launcher: mpsc::UnboundedSender<Launch>,
        outbound: Arc<Outbound>,
    ) -> Self {
        let background =
            has_background.then(|| Arc::new(Semaphore::new(config.max_background as usize)));
        Self {
            memory: config.max_total_memory.map(MemoryBudget::new),
            config,
            tasks: AsyncTasks::new(),
            background,
            outbound,
            launcher,
            busy_claims: AtomicUsize::new(0),
            healthy_claims: AtomicUsize::new(0),
        }
    }

    /// The status live instances set: `HealthyBusy` if any says so, else `Healthy` if any says
    /// so, else none (the automatic status applies).
    pub(crate) fn guest_status(&self) -> Option<GuestStatus> {
        if self.busy_claims.load(Ordering::Acquire) > 0 {
            Some(GuestStatus::HealthyBusy)
        } else if self.healthy_claims.load(Ordering::Acquire) > 0 {
            Some(GuestStatus::Healthy)
        } else {
            None
        }
    }

    /// Starts background work now. If the host is gone, the work is dropped with it.
    pub(crate) fn launch(&self, launch: Launch) {
        let _ = self.launcher.send(launch);
    }

    fn claims(&self, status: GuestStatus) -> &AtomicUsize {
        match status {
            GuestStatus::Healthy => &self.healthy_claims,
            GuestStatus::HealthyBusy => &self.busy_claims,
        }
    }
}
