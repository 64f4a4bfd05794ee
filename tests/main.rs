//! Integration tests: the real `wasm-agent` binary on real guest components built from
//! `guest-examples/` (`make guests`).

mod check;
mod invoke;
mod support;
