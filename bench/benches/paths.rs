//! The per-request paths around a guest call: building the context from headers, checking a
//! guest's JSON, and an event from the guest's `emit` to its SSE frame. Run with `make bench`;
//! needs `make guests` first.

// criterion's macros generate public functions, which nothing documents.
#![allow(missing_docs)]

mod common;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wasm_agent_contract::json;
use wasm_agent_contract::{headers, sse};
use wasm_agent_host::{Context, Invocation};

/// The headers of a typical AgentCore invocation.
const HEADERS: &[(&str, &str)] = &[
    ("host", "runtime.example"),
    ("content-type", "application/json"),
    ("content-length", "27"),
    ("user-agent", "aws-sdk"),
    (
        "x-amzn-bedrock-agentcore-runtime-session-id",
        "0123456789abcdef0123456789abcdef01",
    ),
    (
        "x-amzn-bedrock-agentcore-runtime-request-id",
        "a8b7c6d5-e4f3-4210-9876-543210fedcba",
    ),
    ("x-amzn-bedrock-agentcore-runtime-custom-tenant", "acme"),
    ("authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.signature"),
    (
        "x-amzn-trace-id",
        "Root=1-5759e988-bd862e3fe1be46a994272793",
    ),
];

fn context_from_headers(c: &mut Criterion) {
    c.bench_function("headers to context", |b| {
        b.iter(|| {
            headers::request_context(
                HEADERS
                    .iter()
                    .map(|(name, value)| (*name, value.as_bytes())),
            )
        });
    });
}

fn json_validation(c: &mut Criterion) {
    let mut group = c.benchmark_group("guest JSON check");
    for items in [1usize, 100, 10_000] {
        let document = serde_json::to_string(
            &(0..items)
                .map(|i| serde_json::json!({"token": format!("word{i}"), "index": i, "p": 0.5}))
                .collect::<Vec<_>>(),
        )
        .expect("serializes");
        group.throughput(Throughput::Bytes(document.len() as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(document.len()),
            &document,
            |b, text| b.iter(|| json::check_document(text).expect("valid")),
        );
    }
    group.finish();
}

/// 100 events from the stream guest's `emit`, each taken from the channel and framed as SSE:
/// the host's whole event path, per invocation (divide by 100 for one event).
fn event_path(c: &mut Criterion) {
    let host = common::host("stream");
    let runtime = common::runtime();
    let invocation = Invocation::new(r#"{"count": 100, "pause_ms": 0}"#, Context::new("bench"));
    let mut group = c.benchmark_group("events");
    group.throughput(Throughput::Elements(100));
    group.bench_function("100 events: emit to SSE frame", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let mut running = host.invoke(invocation.clone()).await.expect("admitted");
                let mut bytes = 0;
                while let Some(event) = running.next_event().await {
                    bytes += sse::data_frame(event.data()).len();
                }
                running.outcome().await.expect("streams");
                bytes
            })
        });
    });
    group.finish();
}

criterion_group!(benches, context_from_headers, json_validation, event_path);
criterion_main!(benches);
