//! What the criterion benches share: a guest loaded from `guest-examples/dist`, a runtime to
//! drive it, and an invocation of it.

use std::path::Path;
use std::time::Duration;

use wasm_agent_host::{Context, Host, HostConfig, Invocation};

/// The example guest `name`, loaded with the default configuration.
pub fn host(name: &str) -> Host {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../guest-examples/dist")
        .join(format!("{name}.wasm"));
    Host::load_file(&path, HostConfig::default()).expect("run `make guests` first")
}

/// A runtime on the bench's own thread, where `block_on` runs what a bench awaits.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// An invocation with `payload`, a fixed request id and a deadline far away.
pub fn invocation(payload: &str) -> Invocation {
    Invocation {
        payload: payload.into(),
        context: Context {
            request_id: "bench".into(),
            ..Context::default()
        },
        timeout: Duration::from_secs(60),
        stream_timeout: None,
    }
}
