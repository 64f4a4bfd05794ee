//! The worker pool: a tokio runtime of its own on which all guest code runs.

use std::future::Future;

use tokio::runtime::{Builder, Runtime};

/// The runtime that runs guest calls, separate from whatever runtime submits them, so a guest
/// can never starve the caller's accept loop or health checks.
#[derive(Debug)]
pub(crate) struct WorkerPool {
    runtime: Option<Runtime>,
}

impl WorkerPool {
    /// Starts `threads` worker threads.
    pub(crate) fn new(threads: usize) -> std::io::Result<Self> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("wasm-agent-worker")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    /// Runs `future` on the pool.
    pub(crate) fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if let Some(runtime) = &self.runtime {
            runtime.spawn(future);
        }
    }
}

/// Guest threads yield the CPU to everything else in the process: when spinning guests keep
/// every core busy, the kernel still runs the control runtime (`/ping`, accepting connections)
/// the moment it has work, instead of at the end of a guest's time slice.
fn lower_priority() {
    /// Niceness of the worker threads relative to the rest of the process.
    const WORKER_NICENESS: libc::c_int = 10;
    // SAFETY: setpriority only reads its integer arguments; on Linux, PRIO_PROCESS with id 0
    // applies to the calling thread alone.
    let result = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, WORKER_NICENESS) };
    if result != 0 {
        tracing::debug!("cannot lower the worker thread's priority");
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        // A runtime may not be dropped from inside another runtime's async context, where the
        // host usually is; shutting down in the background is allowed anywhere.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Guest threads run at a lower priority than the thread that created the pool.
    #[test]
    fn workers_run_at_lower_priority() -> Result<(), Box<dyn std::error::Error>> {
        // SAFETY: getpriority only reads its integer arguments.
        let ours = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let pool = WorkerPool::new(1)?;
        let (sender, receiver) = std::sync::mpsc::channel();
        pool.spawn(async move {
            // SAFETY: as above.
            let _ = sender.send(unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) });
        });
        let theirs = receiver.recv_timeout(std::time::Duration::from_secs(30))?;
        assert!(theirs > ours, "worker niceness {theirs}, caller {ours}");
        Ok(())
    }
}
