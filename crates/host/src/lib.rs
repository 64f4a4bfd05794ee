//! Runs wasm-agent handlers: WebAssembly components of the `wasm-agent:handler` world.
//!
//! This crate knows nothing of HTTP. It loads a component once ([`Host::load`]), checks it against
//! the world, and runs invocations on a worker pool of its own ([`Host::invoke`]), each in a fresh
//! store under a deadline, an optional fuel budget and a memory limit. Events a guest emits and
//! the invocation's outcome come back over channels ([`RunningInvocation`]), so the caller's
//! runtime never runs guest code.
//!
//! Modules:
//! - [`config`]: the limits and pool sizes, with their defaults;
//! - `engine`: the wasmtime `Engine` (pooling allocator, epochs, fuel) and the epoch ticker;
//! - `component`: loading, checking and describing a component; [`WasmKind`], what a file's
//!   first bytes say it is;
//! - `host`: [`Host`], and `inner`, the state it shares with `jobs` (sessions, background runs,
//!   WebSockets on the pool) and `run` (one call in one store);
//! - [`invocation`]: what a caller submits and gets back;
//! - `run`: one invocation in one store, and the classification of its failure ([`InvokeError`]);
//!   `instance`, an instance kept between a session's calls;
//! - `state`, `imports`, `events`, `stdio`, `limits`: what a store holds and the host functions
//!   (which check what a guest hands over with `wasm_agent_contract::guest`);
//! - [`tasks`]: the async tasks guests register, which `/ping` reports;
//! - [`outbound`]: HTTP requests guests make (`wasi:http`), the rules that allow them and the
//!   credentials the host attaches.
//!
//! wasmtime types do not appear in the public API.

mod bindings;
mod cache;
mod classify;
mod compiled;
mod component;
pub mod config;
mod engine;
mod error;
mod events;
mod host;
mod imports;
mod inner;
mod instance;
pub mod invocation;
mod jobs;
mod limits;
pub mod outbound;
mod pool;
mod run;
mod sessions;
mod shared;
mod socket;
mod state;
mod stdio;
pub mod tasks;
mod wasm_kind;

pub use component::ComponentInfo;
pub use config::{HostConfig, InstanceScope};
pub use error::{InvokeError, LoadError};
pub use events::Event;
pub use host::{Host, Inspection};
pub use invocation::{Completion, Context, Invocation, ReplyHead, RunningInvocation};
pub use outbound::{OutboundConfig, OutboundSnapshot};
pub use shared::GuestStatus;
pub use socket::{Message, RunningSocket, SocketInput};
pub use tasks::AsyncTasks;
pub use wasm_kind::WasmKind;
