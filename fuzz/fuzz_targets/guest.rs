//! Fuzzes `wasm_agent_fuzz_checks::guest` (see its module for the properties).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wasm_agent_fuzz_checks::guest::check(data));
