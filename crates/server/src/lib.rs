//! The HTTP front end of wasm-agent: the AgentCore Runtime contract over a loaded handler.
//!
//! It adapts HTTP to the host: requests are parsed, admitted and answered here, on the caller's
//! (control) runtime; guest code, and any work whose size a client controls, runs on the host's
//! worker pool. `/ping` reads in-memory state only and never waits on the pool, admission or a
//! lock a guest can hold. It depends on the host and the contract crate, never on wasmtime.
//!
//! Modules:
//! - [`config`]: the server's limits, with their defaults;
//! - `routes`: one file per route, and [`router`] that builds them all;
//! - `admission`: the bound on invocations holding an instance, and the bounded queue;
//! - `payload`: reading and checking a request body;
//! - `stream`: the SSE body of a streaming reply;
//! - `error`: [`ApiError`], the one place an HTTP status is decided;
//! - `listen`: [`listen`], the listening socket with a backlog for bursts, and
//!   [`raise_open_files_limit`];
//! - `serve`: [`serve`], with graceful shutdown.

mod admission;
pub mod config;
mod error;
mod listen;
mod payload;
mod routes;
mod serve;
mod state;
mod stream;

pub use config::ServerConfig;
pub use error::ApiError;
pub use listen::{LISTEN_BACKLOG, listen, raise_open_files_limit};
pub use routes::router;
pub use serve::serve;
pub use state::AppState;
