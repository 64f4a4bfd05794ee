//! Integration tests: the real `wasm-agent` binary on real guest components built from
//! `guest-examples/` (`make guests`), over real HTTP.

#![forbid(unsafe_code)]

mod botocore;
mod check;
mod compile;
mod conformance;
mod deploy_kubernetes;
mod invoke;
mod mock_mcp;
mod mock_model;
mod new;
mod otlp_receiver;
mod serve_clients;
mod serve_config;
mod serve_contract;
mod serve_guest_limits;
mod serve_h2c;
mod serve_limits;
mod serve_log_format;
mod serve_logs;
mod serve_mcp;
mod serve_metrics;
mod serve_outbound;
mod serve_scale_out;
mod serve_sessions;
mod serve_stats;
mod serve_status;
mod serve_threads;
mod serve_traces;
mod serve_watch;
mod serve_ws;
mod server;
mod support;
