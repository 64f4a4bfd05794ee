//! Benchmarks of wasm-agent. The micro-benchmarks are in `benches/` (`make bench`); this crate
//! has no library code of its own.

#![forbid(unsafe_code)]
