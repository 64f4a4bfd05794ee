//! Integration tests: the real `wasm-agent` binary on real guest components built from
//! `guest-examples/` (`make guests`), over real HTTP.

mod check;
mod invoke;
mod serve_contract;
mod serve_h2c;
mod serve_limits;
mod server;
mod support;
