//! Instantiate + invoke of the echo guest from a warm `InstancePre`: the fixed cost every
//! per-request invocation pays; and the same invocation in a warm session, whose instance is
//! kept. Run with `make bench`; needs `make guests` first.

use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use wasm_agent_host::{Context, Host, HostConfig, Invocation};

fn echo_invocation() -> Invocation {
    Invocation {
        payload: r#"{"prompt":"hello"}"#.into(),
        context: Context {
            request_id: "bench".into(),
            ..Context::default()
        },
        timeout: Duration::from_secs(60),
        stream_timeout: None,
    }
}

fn invoke(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-examples/dist/echo.wasm");
    let host = Host::load_file(&path, HostConfig::default()).expect("run `make guests` first");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let invocation = echo_invocation();

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
