//! Fuzzes `wasm_agent_fuzz_checks::writers` (see its module for the properties).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wasm_agent_fuzz_checks::writers::check(data));
