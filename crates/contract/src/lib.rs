//! The AgentCore Runtime HTTP contract as pure data: header names and the forwarding allowlist,
//! the compact JSON bodies the host writes, Server-Sent Events framing, and the `/ping` body and
//! clock, all byte-compatible with the Python `bedrock-agentcore` SDK. This crate turns values into
//! strings and back; it must not depend on wasm, an async runtime, an HTTP library or any I/O, so
//! every rule of the wire format can be tested here with golden bytes.
//!
//! - [`headers`]: request header names, `is_forwardable`, and the [`RequestContext`] built from them.
//! - [`body`]: compact (`","`/`":"`) JSON error bodies, as Starlette's `JSONResponse` writes them.
//! - [`sse`]: `data:` frames and the mid-stream error event, in Python's spaced JSON dialect.
//! - [`ping`]: the `/ping` body and the [`PingClock`] that decides `time_of_last_update`.

pub mod body;
pub mod debug;
pub mod headers;
pub mod ping;
pub mod sse;

mod json;

pub use headers::RequestContext;
pub use ping::{PingClock, PingStatus};
