//! `Inner`: what a [`Host`](crate::Host) shares with the jobs it runs (engine, prepared
//! component, sessions, worker pool), in a module of its own so that `host`, `jobs` and `run`
//! all depend on it and not on each other.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio_util::sync::{CancellationToken, DropGuard};
use wasmtime::Engine;

use crate::component::{ComponentInfo, Prepared};
use crate::engine::EpochTicker;
use crate::pool::WorkerPool;
use crate::sessions::Sessions;
use crate::shared::Shared;

pub(crate) struct Inner {
    pub engine: Engine,
    pub prepared: Prepared,
    pub shared: Arc<Shared>,
    pub sessions: Arc<Sessions>,
    pub info: ComponentInfo,
    // Every invocation's cancellation is a child of this one, so the host can stop them all.
    pub root: CancellationToken,
    pub pool: WorkerPool,
    pub websockets: Arc<Semaphore>,
    // Held for their drop: the session reaper and the epoch ticker stop with the host.
    pub _reaper: DropGuard,
    pub _ticker: EpochTicker,
}

impl Inner {
    /// Whether the host has been stopped ([`Host::cancel_all`](crate::Host::cancel_all)): every
    /// call it cancels from then on was cancelled by the shutdown, not by its caller.
    pub fn is_stopping(&self) -> bool {
        self.root.is_cancelled()
    }
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("config", &self.shared.config)
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}
