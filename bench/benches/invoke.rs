//! Instantiate + invoke of the echo guest from a warm `InstancePre`: the fixed cost every
//! per-request invocation pays; and the same invocation in a warm session, whose instance is
//! kept. Run with `make bench`; needs `make guests` first.

mod common;

use criterion::{Criterion, criterion_group, criterion_main};

fn invoke(c: &mut Criterion) {
    let host = common::host("echo");
    let runtime = common::runtime();
    let invocation = common::invocation(r#"{"prompt":"hello"}"#);

    c.bench_function("echo: instantiate + invoke (caller's thread)", |b| {
        b.iter(|| {
            runtime
                .block_on(host.invoke_here(invocation.clone()))
                .expect("echo succeeds")
        });
    });
    let mut in_session = invocation.clone();
    in_session.context.session_id = Some("bench-session".into());
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
                .block_on(host.invoke(invocation.clone()).outcome())
                .expect("echo succeeds")
        });
    });
    c.bench_function("echo: warm session (worker pool round trip)", |b| {
        b.iter(|| {
            runtime
                .block_on(host.invoke(in_session.clone()).outcome())
                .expect("echo succeeds")
        });
    });
}

criterion_group!(benches, invoke);
criterion_main!(benches);
