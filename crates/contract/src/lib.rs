//! The AgentCore Runtime HTTP contract as pure data: header names and the forwarding allowlist,
//! the compact JSON bodies the host writes, Server-Sent Events framing, and the `/ping` body and
//! clock, all byte-compatible with the Python `bedrock-agentcore` SDK; and the other texts that
//! cross the server's edges, checked or parsed: what a guest hands the host, the operator's
//! flags and outbound rules. This crate turns values into strings and back; it must not depend
//! on wasm, an async runtime, an HTTP library or any I/O, so every rule of the wire format can
//! be tested here with golden bytes, and every parser fuzzed (`fuzz/`).
//!
//! - [`headers`]: request header names, `is_forwardable`, and the [`RequestContext`] built from them.
//! - [`body`]: compact (`","`/`":"`) JSON error bodies, as Starlette's `JSONResponse` writes them.
//! - [`sse`]: `data:` frames and the mid-stream error event, in Python's spaced JSON dialect.
//! - [`ping`]: the `/ping` body and the [`PingClock`] that decides `time_of_last_update`.
//! - [`json`]: whether a text is one JSON document, and string literals as Python writes them.
//! - [`guest`]: what the host accepts from a guest (results, events, reply heads, tasks) before
//!   it reaches a caller.
//! - [`units`]: durations and byte sizes as flags and environment variables write them.
//! - [`outbound_rules`]: the operator's outbound allow-list rules (`scheme://host[:port]`).

#![forbid(unsafe_code)]

pub mod body;
pub mod debug;
pub mod guest;
pub mod headers;
pub mod json;
pub mod outbound_rules;
pub mod ping;
pub mod sse;
pub mod text;
pub mod units;

pub use headers::RequestContext;
pub use ping::{PingClock, PingStatus};
