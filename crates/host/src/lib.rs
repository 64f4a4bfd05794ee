//! Runs wasm-agent handlers: WebAssembly components of the `wasm-agent:handler` world.
//!
//! This crate knows nothing of HTTP. It loads a component once ([`Host::load`]), checks it against
//! the world, and runs invocations on a worker pool of its own ([`Host::invoke`]), each in a fresh
//! store under a deadline, an optional fuel budget and a memory limit. Events a guest emits and
//! the invocation's outcome come back over channels ([`RunningInvocation`]), so the caller's
//! runtime never runs guest code. What the host counts as it runs (admission refusals, session
//! evictions, background runs, outbound requests by destination, the compile cache's answer)
//! is read by the caller when it likes, from atomics and locks no guest call holds: the
//! server's metrics never wait on a guest.
//!
//! Modules, from the top down; each uses only those below it (no circle):
//! - `host`: [`Host`], loading a component and the one way in for every caller
//!   ([`Host::invoke`], [`Host::connect`]); it decides once which instance an invocation runs
//!   in and admits it;
//! - `jobs`: what runs on the worker pool: an invocation in its session's instance or a fresh
//!   one, the background work it scheduled, a WebSocket handler;
//! - `run`: one call into one store (instantiate if new, call, supervise the deadline and
//!   cancellation), and `classify`, which decides how an ended call failed ([`InvokeError`]);
//! - `inner`: what `host` shares with `jobs` and `run`, behind methods: the engine, the prepared
//!   component, `admission` (the bound on fresh instances and their queue, and its refusals),
//!   `sessions` (the session table, with `instance`, an instance kept between calls, and the
//!   instances dropped, by cause), the worker `pool`;
//! - `state`: what a store holds for its instance and the call in progress; `imports`, the
//!   host functions guests call, which check what a guest hands over with
//!   `wasm_agent_contract::guest`; `events`, the bounded channel of a guest's events; `socket`,
//!   a WebSocket's two channels; `stdio`, guest output to the log; `limits`, memory limits and
//!   the process-wide budget; `shared`, what every store of a host shares;
//! - `tasks`: the async tasks guests register ([`AsyncTasks`]), which `/ping` reports, and the
//!   background runs counted as they are scheduled and end;
//! - [`outbound`]: HTTP requests guests make (`wasi:http`), the rules that allow them, the
//!   credentials the host attaches, and the requests counted by destination;
//! - `component` (loading, checking and describing a component), `compiled` (where its machine
//!   code comes from), `cache` (the compile cache on disk), `engine` (the wasmtime `Engine`,
//!   pooling allocator and epoch ticker), `bindings` (generated from `wit/`), `wasm_kind`
//!   (what a file's first bytes say it is);
//! - at the bottom, what everything uses: [`config`] (limits and their defaults), `error`
//!   ([`LoadError`], [`InvokeError`]), `invocation` (what a caller submits and gets back:
//!   [`Invocation`], [`RunningInvocation`]) and `trace` (the spans of a guest call and its
//!   outbound requests, under the caller's [`TraceParent`]).
//!
//! wasmtime types do not appear in the public API.

mod admission;
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
mod invocation;
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
mod tasks;
mod trace;
mod wasm_kind;

pub use admission::AdmissionRefusals;
pub use cache::CompileCacheLookup;
pub use component::ComponentInfo;
pub use config::{HostConfig, InstanceScope};
pub use error::{InvokeError, LoadError};
pub use events::Event;
pub use host::{Admitted, Host, Inspection, PayloadCheck};
pub use invocation::{
    Completion, Context, Invocation, ReplyHead, RunningInvocation, Usage, UsageReport,
};
pub use outbound::{DestinationCounts, OutboundConfig, OutboundSnapshot};
pub use sessions::SessionEvictions;
pub use shared::GuestStatus;
pub use socket::{Message, RunningSocket, SocketInput};
pub use tasks::{AsyncTasks, BackgroundRuns, TaskInfo};
pub use trace::{MAX_STATUS_MESSAGE, TraceParent};
pub use wasm_kind::WasmKind;
