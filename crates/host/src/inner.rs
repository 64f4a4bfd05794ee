//! `Inner`: what a [`Host`](crate::Host) shares with the jobs it runs (engine, prepared
//! component, admission, sessions, worker pool), in a module of its own so that `host`, `jobs`
//! and `run` all depend on it and not on each other. Its fields are its own; the modules above
//! it go through its methods.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::{CancellationToken, DropGuard};
use wasmtime::Engine;

use crate::admission::{Admission, AdmissionRefusals, Full};
use crate::cache::CompileCacheLookup;
use crate::component::{ComponentInfo, Prepared};
use crate::config::{HostConfig, InstanceScope};
use crate::engine::EpochTicker;
use crate::error::InvokeError;
use crate::invocation::Context;
use crate::pool::WorkerPool;
use crate::sessions::Sessions;
use crate::shared::Shared;

pub(crate) struct Inner {
    engine: Engine,
    prepared: Prepared,
    shared: Arc<Shared>,
    sessions: Arc<Sessions>,
    info: ComponentInfo,
    admission: Admission,
    // Every invocation's cancellation is a child of this one, so the host can stop them all.
    root: CancellationToken,
    pool: WorkerPool,
    websockets: Arc<Semaphore>,
    compile_cache: CompileCacheLookup,
    // Held for their drop: the session reaper and the epoch ticker stop with the host.
    _reaper: DropGuard,
    _ticker: EpochTicker,
}

/// What [`Inner::new`] is made of: the parts `Host::load` built.
pub(crate) struct Parts {
    pub(crate) engine: Engine,
    pub(crate) prepared: Prepared,
    pub(crate) shared: Arc<Shared>,
    pub(crate) sessions: Arc<Sessions>,
    pub(crate) info: ComponentInfo,
    pub(crate) pool: WorkerPool,
    pub(crate) compile_cache: CompileCacheLookup,
    pub(crate) reaper: DropGuard,
    pub(crate) ticker: EpochTicker,
}

impl Inner {
    pub(crate) fn new(parts: Parts) -> Self {
        let config = &parts.shared.config;
        Self {
            admission: Admission::new(config.max_concurrency as usize, config.max_queue),
            websockets: Arc::new(Semaphore::new(config.max_websockets as usize)),
            engine: parts.engine,
            prepared: parts.prepared,
            shared: parts.shared,
            sessions: parts.sessions,
            info: parts.info,
            root: CancellationToken::new(),
            pool: parts.pool,
            compile_cache: parts.compile_cache,
            _reaper: parts.reaper,
            _ticker: parts.ticker,
        }
    }

    pub(crate) fn config(&self) -> &HostConfig {
        &self.shared.config
    }

    /// What every store of this host shares.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(crate) fn prepared(&self) -> &Prepared {
        &self.prepared
    }

    pub(crate) fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    pub(crate) fn info(&self) -> &ComponentInfo {
        &self.info
    }

    /// The session whose instance an invocation with `context` runs in, if any: decided here
    /// once, for every caller.
    pub(crate) fn session_of<'a>(&self, context: &'a Context) -> Option<&'a str> {
        match self.config().scope {
            InstanceScope::Session => context.session_id.as_deref(),
            InstanceScope::Request => None,
        }
    }

    /// A permit to run in a fresh instance, waiting at most `patience` for one. Refused at once
    /// when the queue is full, and when the host stops while it waits: nothing admitted then
    /// could run in time.
    pub(crate) async fn admit(
        &self,
        patience: Duration,
    ) -> Result<OwnedSemaphorePermit, InvokeError> {
        if self.is_stopping() {
            return Err(InvokeError::ShuttingDown);
        }
        // Biased: a permit had at once never registers with the root token, which every
        // waiting call would otherwise contend on.
        tokio::select! {
            biased;
            permit = self.admission.admit(patience) => permit.map_err(|Full| InvokeError::Busy),
            () = self.root.cancelled() => Err(InvokeError::ShuttingDown),
        }
    }

    /// Invocations running in fresh instances, and waiting for one, now.
    pub(crate) fn admitted(&self) -> (usize, usize) {
        (self.admission.running(), self.admission.waiting())
    }

    /// Invocations admission refused since the host started.
    pub(crate) fn admission_refusals(&self) -> AdmissionRefusals {
        self.admission.refusals()
    }

    /// What the compile cache gave when the component was loaded.
    pub(crate) fn compile_cache(&self) -> CompileCacheLookup {
        self.compile_cache
    }

    /// A WebSocket connection's slot, if one is free.
    pub(crate) fn websocket_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.websockets.clone().try_acquire_owned().ok()
    }

    /// A cancellation for a new call, which [`stop`](Self::stop) cancels too.
    pub(crate) fn call_token(&self) -> CancellationToken {
        self.root.child_token()
    }

    /// The host's own cancellation, cancelled when it stops.
    pub(crate) fn stop_token(&self) -> &CancellationToken {
        &self.root
    }

    /// Stops every call in progress and refuses new ones.
    pub(crate) fn stop(&self) {
        self.root.cancel();
    }

    /// Whether the host has been stopped ([`Host::cancel_all`](crate::Host::cancel_all)): every
    /// call it cancels from then on was cancelled by the shutdown, not by its caller.
    pub(crate) fn is_stopping(&self) -> bool {
        self.root.is_cancelled()
    }

    /// Runs `future` on the worker pool.
    pub(crate) fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.pool.spawn(future);
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
