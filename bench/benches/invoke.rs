//! Instantiate + invoke of the echo guest from a warm `InstancePre`: the fixed cost every
//! per-request invocation pays; and the same invocation in a warm session, whose instance is
//! kept. Run with `make bench`; needs `make guests` first.

// criterion's macros generate public functions, which nothing documents.
#![allow(missing_docs)]

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use wasm_agent_host::{Context, Invocation};

/// What each invocation sends.
const PAYLOAD: &str = r#"{"prompt":"hello"}"#;

fn invoke(c: &mut Criterion) {
    let host = common::host("echo");
    let runtime = common::runtime();
    let invocation = Invocation::new(PAYLOAD, Context::new("bench"));

    c.bench_function("echo: instantiate + invoke (caller's thread)", |b| {
        b.iter(|| {
            runtime
                .block_on(host.invoke_here(invocation.clone()))
                .expect("echo succeeds")
        });
    });
    let in_session = Invocation::new(PAYLOAD, Context::new("bench").in_session("bench-session"));
    c.bench_function("echo: warm session (caller's thread)", |b| {
        b.iter(|| {
            runtime
                .block_on(host.invoke_here(in_session.clone()))
                .expect("echo succeeds")
        });
    });
    c.bench_function("echo: instantiate + invoke (worker pool round trip)", |b| {
        b.iter(|| {
            runtime
                .block_on(async { host.invoke(invocation.clone()).await?.outcome().await })
                .expect("echo succeeds")
        });
    });
    c.bench_function("echo: warm session (worker pool round trip)", |b| {
        b.iter(|| {
            runtime
                .block_on(async { host.invoke(in_session.clone()).await?.outcome().await })
                .expect("echo succeeds")
        });
    });
}

criterion_group!(benches, invoke);
criterion_main!(benches);
