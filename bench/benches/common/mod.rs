//! What the criterion benches share: a guest loaded from `guest-examples/dist`, and a runtime
//! to drive it.

use wasm_agent_host::{Host, HostConfig};

/// The example guest `name`, loaded with the default configuration.
pub(crate) fn host(name: &str) -> Host {
    Host::load_file(&wasm_agent_testkit::guest(name), HostConfig::default())
        .expect("the guest loads")
}

/// A runtime on the bench's own thread, where `block_on` runs what a bench awaits.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}
