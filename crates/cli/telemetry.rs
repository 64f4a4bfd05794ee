//! OpenTelemetry traces for `serve`: the OTLP/HTTP exporter the standard `OTEL_*` variables
//! describe, installed as the process's tracer provider and propagator, and flushed when its
//! guard is dropped. Off unless an OTLP endpoint is named: then nothing is started, and an
//! invocation's span costs the server one branch.
//!
//! The SDK and the exporter read most variables themselves: the endpoints, headers and
//! compression, the sampler, the resource, the batching (`OTEL_BSP_*`) and the span limits.
//! This module decides the rest, before anything starts: whether to export at all
//! (`OTEL_SDK_DISABLED`, `OTEL_TRACES_EXPORTER`, an endpoint), the protocol (`http/protobuf`
//! unless told otherwise, as the specification says: the exporter, built with JSON as well,
//! would pick JSON), the timeout of one export, the propagators (`OTEL_PROPAGATORS`), and the
//! certificates an https collector may be verified with.
//!
//! Spans are batched on the SDK's own thread and sent from a runtime of their own, never from
//! the control runtime or the worker pool: a slow collector delays only its own batch, and a
//! full queue drops spans rather than making anyone wait.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};
use opentelemetry_http::hyper::HyperClient;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tokio::runtime::{Handle, Runtime};

use crate::args::process_env;

/// The longest shutdown waits for pending spans to be exported: AgentCore gives a stopping
/// session 15 s, of which the drain takes up to the shutdown grace (10 s by default).
const FLUSH_LIMIT: Duration = Duration::from_secs(3);
/// The longest one export may take when `OTEL_EXPORTER_OTLP_TIMEOUT` says nothing: the
/// specification's default.
const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// The prefix of the exporter's variables; each is read for traces first
/// (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), then for every signal (`OTEL_EXPORTER_OTLP_ENDPOINT`).
const OTLP: &str = "OTEL_EXPORTER_OTLP_";

/// Traces being exported: dropping this exports what is pending, for at most
/// [`FLUSH_LIMIT`], and stops the exporter.
#[derive(Debug)]
pub(crate) struct TelemetryGuard {
    provider: SdkTracerProvider,
    runtime: Option<Runtime>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(error) = self.provider.shutdown_with_timeout(FLUSH_LIMIT) {
            tracing::warn!(%error, "traces pending at shutdown were not all exported");
        }
        // After the flush: it sends through this runtime. An export still running is cut off.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Starts exporting traces if the environment asks for it: installs the tracer provider and
/// propagator and turns on the server's invocation spans. `None` when traces are off; an error
/// when the variables do not make sense.
pub(crate) fn init() -> anyhow::Result<Option<TelemetryGuard>> {
    let Some(settings) = Settings::read(&process_env)? else {
        return Ok(None);
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("wasm-agent-otlp")
        .enable_all()
        .build()
        .context("cannot start the trace exporter's runtime")?;
    let client = ExportClient::new(&settings, runtime.handle().clone())?;
    let exporter = SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(settings.protocol)
        .with_timeout(settings.timeout)
        .build()
        .context("cannot set up the OTLP trace exporter")?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    opentelemetry::global::set_text_map_propagator(settings.propagator());
    wasm_agent_server::enable_traces();
    tracing::info!(
        protocol = protocol_name(settings.protocol),
        "exporting traces over OTLP/HTTP"
    );
    Ok(Some(TelemetryGuard {
        provider,
        runtime: Some(runtime),
    }))
}

/// A propagator `OTEL_PROPAGATORS` may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Propagator {
    TraceContext,
    Baggage,
}

/// What the environment asks of the exporter, checked before anything starts.
#[derive(Debug, PartialEq)]
struct Settings {
    protocol: Protocol,
    timeout: Duration,
    propagators: Vec<Propagator>,
    /// A PEM file of certificates to trust, besides the usual roots, for an https collector.
    certificates: Option<PathBuf>,
}

impl Settings {
    /// The settings `env` gives, or `None` when traces are off: no endpoint,
    /// `OTEL_SDK_DISABLED=true`, or `OTEL_TRACES_EXPORTER=none`. An empty variable counts as
    /// unset, as the specification says.
    fn read(env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Option<Self>> {
        let var = |name: &str| env(name).filter(|value| !value.trim().is_empty());
        let otlp = |name: &str| {
            let traces = format!("{OTLP}TRACES_{name}");
            let any = format!("{OTLP}{name}");
            var(&traces)
                .map(|value| (traces, value))
                .or_else(|| var(&any).map(|value| (any, value)))
        };
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        if let Some(exporters) = var("OTEL_TRACES_EXPORTER") {
            let names: Vec<String> = list(&exporters);
            if names.iter().all(|name| name == "none") {
                return Ok(None);
            }
            if let Some(other) = names.iter().find(|name| *name != "otlp" && *name != "none") {
                bail!(
                    "OTEL_TRACES_EXPORTER={other} is not supported: traces go over OTLP or \
                     nowhere (`otlp`, `none`)"
                );
            }
        }
        if otlp("ENDPOINT").is_none() {
            return Ok(None);
        }
        let protocol = match otlp("PROTOCOL") {
            None => Protocol::HttpBinary,
            Some((_, value)) if value.trim() == "http/protobuf" => Protocol::HttpBinary,
            Some((_, value)) if value.trim() == "http/json" => Protocol::HttpJson,
            Some((name, value)) => {
                bail!(
                    "{name}={value} is not supported: use http/protobuf or http/json (there \
                     is no gRPC exporter)"
                )
            }
        };
        let timeout = match otlp("TIMEOUT") {
            None => DEFAULT_EXPORT_TIMEOUT,
            Some((name, value)) => value
                .trim()
                .parse()
                .map(Duration::from_millis)
                .with_context(|| format!("{name}={value} is not a number of milliseconds"))?,
        };
        let propagators = match var("OTEL_PROPAGATORS") {
            None => vec![Propagator::TraceContext, Propagator::Baggage],
            Some(value) => list(&value)
                .iter()
                .filter_map(|name| match name.as_str() {
                    "tracecontext" => Some(Propagator::TraceContext),
                    "baggage" => Some(Propagator::Baggage),
                    "none" => None,
                    other => {
                        tracing::warn!(
                            propagator = other,
                            "OTEL_PROPAGATORS names a propagator this server does not have: \
                             ignored (it has tracecontext and baggage, and reads \
                             X-Amzn-Trace-Id when there is no traceparent)"
                        );
                        None
                    }
                })
                .collect(),
        };
        Ok(Some(Self {
            protocol,
            timeout,
            propagators,
            certificates: otlp("CERTIFICATE").map(|(_, path)| PathBuf::from(path)),
        }))
    }

    /// The process's propagator: those named, in order (none at all writes and reads no W3C
    /// header; the server still continues an `X-Amzn-Trace-Id`, which is AgentCore's own).
    fn propagator(&self) -> TextMapCompositePropagator {
        let propagators = self
            .propagators
            .iter()
            .map(|propagator| -> Box<dyn TextMapPropagator + Send + Sync> {
                match propagator {
                    Propagator::TraceContext => Box::new(TraceContextPropagator::new()),
                    Propagator::Baggage => Box::new(BaggagePropagator::new()),
                }
            })
            .collect();
        TextMapCompositePropagator::new(propagators)
    }
}

/// The entries of a comma-separated variable, trimmed and lowercase, empty ones left out.
fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|entry| entry.trim().to_ascii_lowercase())
        .filter(|entry| !entry.is_empty())
        .collect()
}

/// How `OTEL_EXPORTER_OTLP_PROTOCOL` names a protocol.
fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::HttpJson => "http/json",
        _ => "http/protobuf",
    }
}

/// The exporter's HTTP client: hyper through rustls with ring, as the host's outbound client,
/// polled on the exporter's runtime. The SDK exports from a thread of its own with a bare
/// executor, which has no reactor for hyper's sockets and timers.
#[derive(Debug)]
struct ExportClient {
    client: HyperClient<HttpsConnector<HttpConnector>>,
    runtime: Handle,
}

impl ExportClient {
    /// A client that trusts the usual roots and the certificates `settings` names, and gives
    /// each export `settings.timeout`.
    fn new(settings: &Settings, runtime: Handle) -> anyhow::Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = &settings.certificates {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read the OTLP certificates {}", path.display()))?;
            let certificates = wasm_agent_host::outbound::pem_certificates(&pem)
                .map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?;
            for der in certificates {
                roots
                    .add(der.into())
                    .with_context(|| format!("a certificate in {}", path.display()))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        // The TLS layer above it handles https URLs.
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Self {
            client: HyperClient::new(connector, settings.timeout, None),
            runtime,
        })
    }
}

// `HttpClient` is an `async_trait`; this is the signature it expands to.
impl HttpClient for ExportClient {
    fn send_bytes<'life0, 'async_trait>(
        &'life0 self,
        request: Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Bytes>, HttpError>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        let client = self.client.clone();
        let sending = self
            .runtime
            .spawn(async move { client.send_bytes(request).await });
        Box::pin(async move { sending.await? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings for an environment of these variables.
    fn read(vars: &[(&str, &str)]) -> anyhow::Result<Option<Settings>> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        Settings::read(&move |name: &str| {
            vars.iter()
                .find(|(n, _)| n == name)
                .map(|(_, value)| value.clone())
        })
    }

    const ENDPOINT: (&str, &str) = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");

    /// Without an endpoint (or with an empty one) traces are off, whatever else is set.
    #[test]
    fn no_endpoint_no_traces() -> anyhow::Result<()> {
        assert_eq!(read(&[])?, None);
        assert_eq!(read(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")])?, None);
        let others = [
            ("OTEL_SERVICE_NAME", "agent"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_TRACES_EXPORTER", "otlp"),
        ];
        assert_eq!(read(&others)?, None);
        Ok(())
    }

    /// An endpoint, general or for traces alone, turns traces on with the specification's
    /// defaults: protobuf, 10 s, W3C trace context and baggage.
    #[test]
    fn an_endpoint_turns_traces_on_with_the_defaults() -> anyhow::Result<()> {
        let expected = Settings {
            protocol: Protocol::HttpBinary,
            timeout: Duration::from_secs(10),
            propagators: vec![Propagator::TraceContext, Propagator::Baggage],
            certificates: None,
        };
        assert_eq!(read(&[ENDPOINT])?.as_ref(), Some(&expected));
        let traces = (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://c:4318/v1/traces",
        );
        assert_eq!(read(&[traces])?, Some(expected));
        Ok(())
    }

    /// `OTEL_SDK_DISABLED=true` (any case) and `OTEL_TRACES_EXPORTER=none` turn traces off;
    /// another value of either does not.
    #[test]
    fn traces_can_be_turned_off() -> anyhow::Result<()> {
        for off in [
            ("OTEL_SDK_DISABLED", "true"),
            ("OTEL_SDK_DISABLED", "TRUE"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ] {
            assert_eq!(read(&[ENDPOINT, off])?, None, "{off:?}");
        }
        for on in [
            ("OTEL_SDK_DISABLED", "false"),
            ("OTEL_TRACES_EXPORTER", "otlp"),
            ("OTEL_TRACES_EXPORTER", "otlp,none"),
        ] {
            assert!(read(&[ENDPOINT, on])?.is_some(), "{on:?}");
        }
        Ok(())
    }

    /// An exporter or protocol this build does not have, or a timeout that is not a number,
    /// is refused by name rather than ignored.
    #[test]
    fn what_cannot_be_honoured_is_refused() {
        for (bad, named) in [
            (
                ("OTEL_TRACES_EXPORTER", "zipkin"),
                "OTEL_TRACES_EXPORTER=zipkin",
            ),
            (
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                "OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
            ),
            (
                ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http"),
                "TRACES_PROTOCOL=http",
            ),
            (
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
                "OTEL_EXPORTER_OTLP_TIMEOUT=10s",
            ),
        ] {
            let error = read(&[ENDPOINT, bad]).err().map(|e| e.to_string());
            assert!(
                error.as_deref().is_some_and(|e| e.contains(named)),
                "{bad:?}: {error:?}"
            );
        }
    }

    /// The variable for traces wins over the general one.
    #[test]
    fn the_traces_variable_wins() -> anyhow::Result<()> {
        let settings = read(&[
            ENDPOINT,
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1500"),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/all.pem"),
            ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "/traces.pem"),
        ])?
        .ok_or_else(|| anyhow::anyhow!("traces are off"))?;
        assert_eq!(settings.protocol, Protocol::HttpJson);
        assert_eq!(settings.timeout, Duration::from_millis(1500));
        assert_eq!(settings.certificates, Some(PathBuf::from("/traces.pem")));
        Ok(())
    }

    /// The client trusts the certificates the variable names, and refuses a file that holds
    /// none, or none that can be read, by its path.
    #[test]
    fn a_certificate_file_is_read_or_refused() -> anyhow::Result<()> {
        let runtime = tokio::runtime::Builder::new_current_thread().build()?;
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let settings = |path: PathBuf| Settings {
            protocol: Protocol::HttpBinary,
            timeout: DEFAULT_EXPORT_TIMEOUT,
            propagators: Vec::new(),
            certificates: Some(path),
        };
        ExportClient::new(
            &settings(fixtures.join("outbound-ca.pem")),
            runtime.handle().clone(),
        )?;
        for bad in ["outbound-server.key", "missing.pem"] {
            let path = fixtures.join(bad);
            let error = ExportClient::new(&settings(path.clone()), runtime.handle().clone())
                .err()
                .map(|error| format!("{error:#}"));
            let named = path.display().to_string();
            assert!(
                error.as_deref().is_some_and(|e| e.contains(&named)),
                "{bad}: {error:?}"
            );
        }
        Ok(())
    }

    /// `OTEL_PROPAGATORS` chooses among the propagators there are, in order; `none` and names
    /// this server does not have choose nothing.
    #[test]
    fn propagators_are_chosen_by_name() -> anyhow::Result<()> {
        for (value, expected) in [
            ("baggage", vec![Propagator::Baggage]),
            (
                "Baggage, tracecontext",
                vec![Propagator::Baggage, Propagator::TraceContext],
            ),
            ("none", vec![]),
            ("b3,xray,tracecontext", vec![Propagator::TraceContext]),
        ] {
            let settings = read(&[ENDPOINT, ("OTEL_PROPAGATORS", value)])?;
            assert_eq!(settings.map(|s| s.propagators), Some(expected), "{value}");
        }
        Ok(())
    }
}
