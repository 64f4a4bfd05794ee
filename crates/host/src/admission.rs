//! Admission: at most N invocations hold a fresh instance, at most M wait for one; past that,
//! refused at once. A session's invocations are bounded by their session instead (its queue,
//! and the count of sessions), so they never wait here. Refusals are counted by reason, for
//! the metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The bound on invocations running in fresh instances and on those waiting for one to end.
#[derive(Debug)]
pub(crate) struct Admission {
    running: Arc<Semaphore>,
    max_running: usize,
    waiting: AtomicUsize,
    max_waiting: usize,
    queue_full: AtomicU64,
    wait_expired: AtomicU64,
}

/// Invocations [`Admission`] refused since the host started, by reason: the first says the
/// queue is too short for the bursts, the second that too few run at once for the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AdmissionRefusals {
    /// Refused at once: as many were running and waiting as the host allows.
    pub queue_full: u64,
    /// Waited in the queue until their own deadline, and got no instance.
    pub wait_expired: u64,
}

/// Refused: as many invocations are running and waiting as the host allows, or the wait ran
/// past the invocation's own deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full;

impl Admission {
    /// Admits `max_running` at once and queues `max_waiting` more.
    pub(crate) fn new(max_running: usize, max_waiting: usize) -> Self {
        Self {
            running: Arc::new(Semaphore::new(max_running)),
            max_running,
            waiting: AtomicUsize::new(0),
            max_waiting,
            queue_full: AtomicU64::new(0),
            wait_expired: AtomicU64::new(0),
        }
    }

    /// A permit to run, waiting at most `patience` in the queue if there is room in it.
    pub(crate) async fn admit(&self, patience: Duration) -> Result<OwnedSemaphorePermit, Full> {
        if let Ok(permit) = self.running.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            self.queue_full.fetch_add(1, Ordering::Relaxed);
            return Err(Full);
        }
        let _in_queue = Waiting(&self.waiting);
        match tokio::time::timeout(patience, self.running.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                self.wait_expired.fetch_add(1, Ordering::Relaxed);
                Err(Full)
            }
        }
    }

    /// Invocations admitted and running now.
    pub(crate) fn running(&self) -> usize {
        self.max_running - self.running.available_permits()
    }

    /// Invocations waiting now.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// Invocations refused since the host started.
    pub(crate) fn refusals(&self) -> AdmissionRefusals {
        AdmissionRefusals {
            queue_full: self.queue_full.load(Ordering::Relaxed),
            wait_expired: self.wait_expired.load(Ordering::Relaxed),
        }
    }
}

/// Leaves the queue when dropped, however the wait ends (including the caller going away).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Past the running and waiting bounds the next caller is refused at once; when a permit is
    /// returned a waiter gets it.
    #[tokio::test(start_paused = true)]
    async fn refuses_past_the_queue_and_admits_waiters_in_turn() -> Result<(), Full> {
        let admission = Arc::new(Admission::new(1, 1));
        let running = admission.admit(Duration::from_secs(1)).await?;
        let queued = {
            let admission = admission.clone();
            tokio::spawn(async move { admission.admit(Duration::from_secs(30)).await })
        };
        while admission.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            admission.admit(Duration::from_secs(30)).await.err(),
            Some(Full)
        );
        drop(running);
        assert!(matches!(queued.await, Ok(Ok(_))));
        assert_eq!(admission.waiting(), 0);
        assert_eq!(admission.running(), 0);
        let refused = AdmissionRefusals {
            queue_full: 1,
            wait_expired: 0,
        };
        assert_eq!(admission.refusals(), refused);
        Ok(())
    }

    /// A waiter that runs out of patience is refused and leaves the queue; the clock is paused,
    /// so the patience is the subject and not the machine's speed.
    #[tokio::test(start_paused = true)]
    async fn impatient_waiter_leaves_the_queue() -> Result<(), Full> {
        let admission = Admission::new(1, 4);
        let _running = admission.admit(Duration::from_secs(1)).await?;
        let started = tokio::time::Instant::now();
        assert_eq!(
            admission.admit(Duration::from_secs(60)).await.err(),
            Some(Full)
        );
        assert_eq!(started.elapsed(), Duration::from_secs(60));
        assert_eq!(admission.waiting(), 0);
        assert_eq!(admission.running(), 1);
        let refused = AdmissionRefusals {
            queue_full: 0,
            wait_expired: 1,
        };
        assert_eq!(admission.refusals(), refused);
        Ok(())
    }
}
