//! The HTTP front end of wasm-agent: the AgentCore Runtime contract over a loaded handler.
//!
//! It adapts HTTP to the host: a request is read, handed to [`Host::invoke`] (which admits it,
//! or refuses it when the server is busy) and answered here, on the caller's (control) runtime;
//! guest code, and any work whose size a client controls, runs on the host's worker pool.
//! `/ping` reads in-memory state only and never waits on the pool, the admission queue or a
//! lock a guest can hold. It depends on the host and the contract crate, never on wasmtime.
//!
//! [`Host::invoke`]: wasm_agent_host::Host::invoke
//!
//! Modules:
//! - [`config`]: the server's limits, with their defaults;
//! - `routes`: one file per route, [`router`] that builds them all, and the router of a
//!   `/metrics` listener of its own;
//! - `payload`: reading a request body within the payload limit and the minimum rate, and
//!   having the host check it;
//! - `stream`: the SSE body of a streaming reply;
//! - `ended`: how an invocation ended, the one record its log line, metrics and span are
//!   written from;
//! - `invocation_log`: the one log line each invocation ends with, however it ends, which also
//!   counts it in the metrics and ends its span;
//! - `metrics`: the Prometheus metrics served on `/metrics`, the invocations counted as they
//!   end and the levels read at each scrape;
//! - `trace`: an invocation's OpenTelemetry span, continuing the caller's trace, and
//!   [`enable_traces`], which turns them on;
//! - `error`: [`ApiError`], the one place an HTTP status is decided, and what outcome an
//!   invocation that fails with it is logged with;
//! - `listen`: [`listen`], the listening socket with a backlog for bursts, and
//!   [`raise_open_files_limit`];
//! - `connections`: the accept loop, the limit on connections, and their drain at shutdown;
//! - `connection`: one connection served by hyper (HTTP/1.1, h2c, upgrades), with its slot
//!   under the limit;
//! - `counts`: the connections' slots under the limit and what became of them, for the log
//!   at shutdown and the metrics;
//! - `watchdog`: when a connection is closed because its client is slow to send a head, or
//!   has gone idle;
//! - `serve`: [`serve`], with graceful shutdown, and [`serve_metrics`] for `--metrics-addr`;
//! - `stats`: [`Stats`], what the server holds now, for the `server stats` log line and the
//!   metrics;
//! - `websockets`: the open WebSocket connections, so shutdown can close them.

pub mod config;
mod connection;
mod connections;
mod counts;
mod ended;
mod error;
mod invocation_log;
mod listen;
mod metrics;
mod payload;
mod routes;
mod serve;
mod state;
mod stats;
mod stream;
mod trace;
mod watchdog;
mod websockets;

pub use config::ServerConfig;
pub use error::ApiError;
pub use listen::{LISTEN_BACKLOG, listen, raise_open_files_limit};
pub use routes::router;
pub use serve::{serve, serve_metrics};
pub use state::AppState;
pub use stats::Stats;
pub use trace::enable_traces;
