//! Outbound rules (`scheme://host[:port]`): parsed and matched in the contract crate, where the
//! parser is fuzzed without wasmtime; the host enforces them.

pub use wasm_agent_contract::outbound_rules::{Destination, Rule, default_port};
