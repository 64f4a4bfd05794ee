//! The properties wasm-agent's fuzz targets assert, one module per target, each a plain
//! `check(&[u8])` that panics when a property fails. The libFuzzer targets in `fuzz/fuzz_targets`
//! only call these, and `tests/replay.rs` runs every committed corpus file and crash through
//! them, so `cargo test` keeps each finding fixed without a fuzzer. Everything checked is pure
//! (`wasm-agent-contract`): this crate must not depend on wasmtime, the host or the server.
//!
//! - [`request`]: a request's body bytes and headers, as the server reads them.
//! - [`writers`]: the SSE frames and JSON bodies the contract writes.
//! - [`units`]: duration and size flags.
//! - [`outbound_rules`]: the outbound allow-list rules.
//! - [`guest`]: what the host accepts from a guest.

#![forbid(unsafe_code)]

pub mod guest;
pub mod outbound_rules;
pub mod request;
pub mod units;
pub mod writers;

mod input;
mod sse_parse;

/// A target's check: it panics when `data` breaks a property.
pub type Check = fn(data: &[u8]);

/// Every target: its name (the fuzz target's, and its corpus folder's) and its check.
pub const TARGETS: &[(&str, Check)] = &[
    ("request", request::check),
    ("writers", writers::check),
    ("units", units::check),
    ("outbound_rules", outbound_rules::check),
    ("guest", guest::check),
];
