//! [`Metrics`]: the server's Prometheus metrics, served on `/metrics` in Prometheus's text
//! format (0.0.4), which every scraper reads.
//!
//! An invocation is counted here as it ends, from the record its log line is written from
//! ([`Ended`]). Everything else is read when the metrics are scraped ([`Levels`], which the
//! `/metrics` route fills from the state): what the
//! server and the host hold now, and the events the host counts itself (admission refusals,
//! session evictions, background runs, outbound requests, the compile cache's answer). Each is
//! an atomic or a short lock no guest call holds, so a scrape never waits on a guest.
//!
//! Every label has a bounded set of values: an invocation's outcome and kind come from fixed
//! sets, its status is a class (`2xx`); an outbound request's host is one of at most
//! [`MAX_DESTINATIONS`](wasm_agent_host::outbound::MAX_DESTINATIONS), past which the host
//! counts the rest in one row.

mod levels;

use axum::http::StatusCode;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::encoding::{EncodeLabel, EncodeLabelSet, LabelSetEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::ended::Ended;
pub(crate) use levels::{Connections, Levels};

/// The `Content-Type` of what [`encode`] writes.
pub(crate) const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Bucket bounds for an invocation's times, in seconds: from a millisecond (a handler that
/// answers from memory) past a model's first token (a second or several) to the hour a
/// streamed reply may last, each two to three times the last, so any quantile is read within
/// a factor of that.
const TIME_BUCKETS: [f64; 20] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    120.0, 300.0, 900.0, 1800.0, 3600.0,
];

/// The server's own metrics: the invocations, counted as each ends. The registry's help texts
/// get their final period from prometheus-client.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    invocations: Family<InvocationLabels, Counter>,
    duration: Family<OutcomeLabel, Histogram>,
    first_event: Histogram,
    in_flight: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let invocations = Family::<InvocationLabels, Counter>::default();
        let duration = Family::<OutcomeLabel, Histogram>::new_with_constructor(time_histogram);
        let first_event = time_histogram();
        let in_flight = Gauge::default();
        let mut registry = Registry::default();
        registry.register(
            "wasm_agent_invocations_in_flight",
            "Invocations between their request and their end, in sessions, fresh instances or \
             the admission queue",
            in_flight.clone(),
        );
        registry.register(
            "wasm_agent_invocations",
            "Invocations ended, by outcome, kind of failure or refusal, and reply status class",
            invocations.clone(),
        );
        registry.register(
            "wasm_agent_invocation_duration_seconds",
            "Time from an invocation's request to its end (its reply or stream sent), by outcome",
            duration.clone(),
        );
        registry.register(
            "wasm_agent_invocation_first_event_seconds",
            "Time from a streamed invocation's request to its first event handed to the client",
            first_event.clone(),
        );
        Self {
            registry,
            invocations,
            duration,
            first_event,
            in_flight,
        }
    }
}

fn time_histogram() -> Histogram {
    Histogram::new(TIME_BUCKETS)
}

impl Metrics {
    /// Counts an invocation that has started: its request is read from now on.
    pub(crate) fn invocation_started(&self) {
        self.in_flight.inc();
    }

    /// Counts an invocation that ended.
    pub(crate) fn invocation_ended(&self, ended: &Ended<'_>) {
        self.in_flight.dec();
        let outcome = ended.outcome.as_str();
        let labels = InvocationLabels {
            outcome,
            kind: ended.kind,
            status: ended.status.map(status_class),
        };
        self.invocations.get_or_create(&labels).inc();
        self.duration
            .get_or_create(&OutcomeLabel(outcome))
            .observe(ended.duration.as_secs_f64());
        if let Some(first_event) = ended.first_event {
            self.first_event.observe(first_event.as_secs_f64());
        }
    }
}

/// The metrics in Prometheus's text format: the server's, then the `levels` read at the scrape.
pub(crate) fn encode(metrics: &Metrics, levels: Levels) -> String {
    let mut scraped = Registry::default();
    scraped.register_collector(Box::new(levels));
    let mut text = String::new();
    // Writing to a String cannot fail, and no metric here refuses its value: an error would
    // be a bug in the encoder, and the scraper still gets what was written.
    let encoded = prometheus_text::encode(&mut text, &metrics.registry)
        .and_then(|()| prometheus_text::encode(&mut text, &scraped));
    if let Err(error) = encoded {
        tracing::error!(%error, "cannot encode the metrics");
    }
    text
}

/// An invocation's labels. A kind or status it does not have is left out, which Prometheus
/// reads as an empty value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct InvocationLabels {
    outcome: &'static str,
    kind: Option<&'static str>,
    status: Option<&'static str>,
}

impl EncodeLabelSet for InvocationLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> std::fmt::Result {
        ("outcome", self.outcome).encode(encoder.encode_label())?;
        if let Some(kind) = self.kind {
            ("kind", kind).encode(encoder.encode_label())?;
        }
        if let Some(status) = self.status {
            ("status", status).encode(encoder.encode_label())?;
        }
        Ok(())
    }
}

/// An invocation's outcome, the one label of its duration.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct OutcomeLabel(&'static str);

impl EncodeLabelSet for OutcomeLabel {
    fn encode(&self, encoder: &mut LabelSetEncoder<'_>) -> std::fmt::Result {
        ("outcome", self.0).encode(encoder.encode_label())
    }
}

/// A status's class: six values where the statuses a guest may choose are hundreds.
fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}

#[cfg(test)]
mod tests;
