//! What every route shares.

use std::sync::Arc;

use wasm_agent_contract::PingClock;
use wasm_agent_host::Host;

use crate::admission::Admission;
use crate::config::ServerConfig;

/// The server's shared state: the host, the limits, admission and the ping clock.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    host: Host,
    config: ServerConfig,
    admission: Admission,
    ping: PingClock,
}

impl AppState {
    /// State for serving `host` with `config`.
    pub fn new(host: Host, config: ServerConfig) -> Self {
        let admission = Admission::new(config.max_concurrency, config.max_queue);
        Self {
            inner: Arc::new(Shared {
                host,
                config,
                admission,
                ping: PingClock::default(),
            }),
        }
    }

    /// The loaded handler.
    pub fn host(&self) -> &Host {
        &self.inner.host
    }

    /// The limits.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    pub(crate) fn admission(&self) -> &Admission {
        &self.inner.admission
    }

    pub(crate) fn ping(&self) -> &PingClock {
        &self.inner.ping
    }
}
