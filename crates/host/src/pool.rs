//! The worker pool: a tokio runtime of its own on which all guest code runs.

use std::future::Future;

use tokio::runtime::{Builder, Runtime};

/// The runtime that runs guest calls, separate from whatever runtime submits them, so a guest
/// can never starve the caller's accept loop or health checks.
#[derive(Debug)]
pub struct WorkerPool {
    runtime: Option<Runtime>,
}

impl WorkerPool {
    /// Starts `threads` worker threads.
    pub fn new(threads: usize) -> std::io::Result<Self> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("wasm-agent-worker")
            .enable_all()
            .build()?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    /// Runs `future` on the pool.
    pub fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if let Some(runtime) = &self.runtime {
            runtime.spawn(future);
        }
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
