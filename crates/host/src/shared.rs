//! What every instance of a host shares: the limits, the async-task registry, the status a
//! guest set for `/ping`, and the slots for background work.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::HostConfig;
use crate::limits::MemoryBudget;
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
pub struct Shared {
    pub config: HostConfig,
    pub tasks: Arc<AsyncTasks>,
    pub memory: Option<Arc<MemoryBudget>>,
    /// Slots for background runs, if the component exports `background`.
    pub background: Option<Arc<Semaphore>>,
    // 0: none set, 1: Healthy, 2: HealthyBusy; read by `/ping` without a lock.
    status: AtomicU8,
}

/// Background work a guest scheduled, holding its slot and its open async task until it has run.
#[derive(Debug)]
pub struct Scheduled {
    pub task: String,
    pub input: String,
    // Both released when the work has run (or is dropped).
    pub _slot: OwnedSemaphorePermit,
    pub _tracked: TrackedTask,
}

impl Shared {
    pub fn new(config: HostConfig, has_background: bool) -> Self {
        let background =
            has_background.then(|| Arc::new(Semaphore::new(config.max_background as usize)));
        Self {
            memory: config.max_total_memory.map(MemoryBudget::new),
            config,
            tasks: AsyncTasks::new(),
            background,
            status: AtomicU8::new(0),
        }
    }

    /// The status a guest set, if any.
    pub fn guest_status(&self) -> Option<GuestStatus> {
        match self.status.load(Ordering::Acquire) {
            1 => Some(GuestStatus::Healthy),
            2 => Some(GuestStatus::HealthyBusy),
            _ => None,
        }
    }

    /// Sets or clears the guest's status.
    pub fn set_guest_status(&self, status: Option<GuestStatus>) {
        let value = match status {
            None => 0,
            Some(GuestStatus::Healthy) => 1,
            Some(GuestStatus::HealthyBusy) => 2,
        };
        self.status.store(value, Ordering::Release);
    }
}
