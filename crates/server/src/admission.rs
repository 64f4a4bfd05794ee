//! Admission: at most N invocations hold an instance, at most M wait; past that, 503 at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The bound on invocations in progress and on those waiting for one to finish.
#[derive(Debug)]
pub struct Admission {
    running: Arc<Semaphore>,
    max_concurrency: usize,
    waiting: AtomicUsize,
    max_queue: usize,
}

/// Refused: too many invocations are running and waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

impl Admission {
    /// Admits `max_concurrency` at once and queues `max_queue` more.
    pub fn new(max_concurrency: usize, max_queue: usize) -> Self {
        Self {
            running: Arc::new(Semaphore::new(max_concurrency)),
            max_concurrency,
            waiting: AtomicUsize::new(0),
            max_queue,
        }
    }

    /// A permit to run, waiting at most `patience` in the queue if there is room in it.
    pub async fn admit(&self, patience: Duration) -> Result<OwnedSemaphorePermit, Full> {
        if let Ok(permit) = self.running.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Full);
        }
        let _in_queue = Waiting(&self.waiting);
        match tokio::time::timeout(patience, self.running.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Full),
        }
    }

    /// Invocations admitted and running now.
    pub fn running(&self) -> usize {
        self.max_concurrency - self.running.available_permits()
    }

    /// Invocations waiting now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }
}

/// Leaves the queue when dropped, however the wait ends (including the client going away).
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
    #[tokio::test]
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
        Ok(())
    }

    /// A waiter that runs out of patience is refused and leaves the queue.
    #[tokio::test]
    async fn impatient_waiter_leaves_the_queue() -> Result<(), Full> {
        let admission = Admission::new(1, 4);
        let _running = admission.admit(Duration::from_secs(1)).await?;
        assert_eq!(
            admission.admit(Duration::from_millis(10)).await.err(),
            Some(Full)
        );
        assert_eq!(admission.waiting(), 0);
        Ok(())
    }
}
