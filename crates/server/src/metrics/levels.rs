//! `Levels`: what the server and the host hold now, and what the host has counted, read from
//! the state when `/metrics` is scraped and written as Prometheus metrics. Help texts end with
//! a period, as the registry gives the server's own.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeGaugeValue, EncodeLabelSet, EncodeMetric,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use wasm_agent_host::outbound::{DestinationCounts, NO_DESTINATION, OTHER_DESTINATIONS};
use wasm_agent_host::{AdmissionRefusals, BackgroundRuns, CompileCacheLookup, SessionEvictions};

use crate::stats::Stats;

/// One scrape's reading of the state.
#[derive(Debug)]
pub(crate) struct Levels {
    pub(crate) stats: Stats,
    pub(crate) admission: AdmissionRefusals,
    pub(crate) connections: Connections,
    pub(crate) evictions: SessionEvictions,
    pub(crate) background: BackgroundRuns,
    pub(crate) instance_slots: u32,
    pub(crate) memory_budget: Option<u64>,
    pub(crate) outbound: Vec<DestinationCounts>,
    pub(crate) outbound_bytes: u64,
    pub(crate) compile_cache: CompileCacheLookup,
}

/// The connections, as the state counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Connections {
    pub(crate) open: usize,
    pub(crate) accepted: u64,
    pub(crate) refused: u64,
    pub(crate) slow_heads: u64,
    pub(crate) idle: u64,
}

impl Collector for Levels {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let e = &mut encoder;
        let stats = &self.stats;
        gauge(
            e,
            "wasm_agent_invocations_running",
            "Invocations admitted to a fresh instance and running now (a session's run in the \
             session's instance, outside admission).",
            stats.invocations_running,
        )?;
        gauge(
            e,
            "wasm_agent_invocations_waiting",
            "Invocations waiting in the admission queue for a fresh instance now.",
            stats.invocations_waiting,
        )?;
        let admission = &self.admission;
        counters(
            e,
            "wasm_agent_admission_refusals",
            "Invocations refused for want of a fresh instance: the queue was full, or the wait \
             reached the invocation's deadline.",
            &[
                ([("reason", "queue_full")], admission.queue_full),
                ([("reason", "wait_expired")], admission.wait_expired),
            ],
        )?;
        let connections = &self.connections;
        gauge(
            e,
            "wasm_agent_connections_open",
            "Client connections open now, upgraded (WebSocket) ones included.",
            connections.open,
        )?;
        counter(
            e,
            "wasm_agent_connections_accepted",
            "Client connections accepted.",
            connections.accepted,
        )?;
        counter(
            e,
            "wasm_agent_connections_refused",
            "Client connections closed unread at the connection limit.",
            connections.refused,
        )?;
        counters(
            e,
            "wasm_agent_connections_closed",
            "Client connections the server closed: the head came too slowly, or the \
             connection was idle past the keep-alive timeout.",
            &[
                ([("reason", "slow_head")], connections.slow_heads),
                ([("reason", "idle")], connections.idle),
            ],
        )?;
        gauge(
            e,
            "wasm_agent_sessions",
            "Sessions that exist now, with or without a live instance.",
            stats.sessions,
        )?;
        let evictions = &self.evictions;
        counters(
            e,
            "wasm_agent_session_evictions",
            "Session instances dropped, by cause: idle timeout, maximum lifetime, capacity \
             (room for a new session), memory (room in the memory budget), failure (an \
             invocation in it failed).",
            &[
                ([("cause", "idle")], evictions.idle),
                ([("cause", "lifetime")], evictions.lifetime),
                ([("cause", "capacity")], evictions.capacity),
                ([("cause", "memory")], evictions.memory),
                ([("cause", "failure")], evictions.failure),
            ],
        )?;
        gauge(
            e,
            "wasm_agent_async_tasks",
            "Async tasks open now (guests' own and background runs'); /ping says HealthyBusy \
             while any is.",
            stats.async_tasks,
        )?;
        let background = &self.background;
        counter(
            e,
            "wasm_agent_background_runs_scheduled",
            "Background runs guests scheduled.",
            background.scheduled,
        )?;
        counter(
            e,
            "wasm_agent_background_runs_ended",
            "Background runs that ended: returned, failed, or dropped unstarted.",
            background.ended,
        )?;
        gauge(
            e,
            "wasm_agent_background_runs_in_progress",
            "Background runs scheduled or running now.",
            background.in_progress(),
        )?;
        gauge(
            e,
            "wasm_agent_websockets",
            "WebSocket connections open now.",
            stats.websockets,
        )?;
        if let Some(live) = stats.live_instances {
            gauge(
                e,
                "wasm_agent_instances_live",
                "Instances allocated from the pool now (fresh, session, background and \
                 WebSocket ones).",
                live,
            )?;
        }
        gauge(
            e,
            "wasm_agent_instance_slots",
            "Instance slots the pool holds.",
            u64::from(self.instance_slots),
        )?;
        if let Some(warm) = stats.pool_warm_bytes {
            gauge(
                e,
                "wasm_agent_pool_warm_bytes",
                "Bytes the pool keeps resident in slots no instance holds, on purpose.",
                warm,
            )?;
        }
        if let (Some(in_use), Some(budget)) = (stats.guest_memory, self.memory_budget) {
            gauge(
                e,
                "wasm_agent_guest_memory_bytes",
                "Bytes of linear memory all guests hold now.",
                in_use,
            )?;
            gauge(
                e,
                "wasm_agent_guest_memory_budget_bytes",
                "Bytes of linear memory all guests together may hold.",
                budget,
            )?;
        }
        self.encode_outbound(e)?;
        let (hits, misses) = match self.compile_cache {
            CompileCacheLookup::Hit => (1, 0),
            CompileCacheLookup::Miss => (0, 1),
            CompileCacheLookup::Skipped => (0, 0),
        };
        counters(
            e,
            "wasm_agent_compile_cache_lookups",
            "Lookups of the component's machine code in the compile cache at start-up.",
            &[([("result", "hit")], hits), ([("result", "miss")], misses)],
        )
    }
}

impl Levels {
    fn encode_outbound(&self, e: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
        let mut destinations: Vec<&DestinationCounts> = self.outbound.iter().collect();
        destinations.sort_by(|a, b| a.host.cmp(&b.host));
        let help = format!(
            "Outbound requests guests made, by destination host ({OTHER_DESTINATIONS} past \
             the hosts counted apart, {NO_DESTINATION} when refused before one was read) and \
             outcome."
        );
        let mut family = e.encode_descriptor(
            "wasm_agent_outbound_requests",
            &help,
            None,
            MetricType::Counter,
        )?;
        for destination in destinations {
            let host = destination.host.as_str();
            for (outcome, value) in [
                ("completed", destination.completed),
                ("failed", destination.failed),
                ("denied", destination.denied),
            ] {
                let labels = [("host", host), ("outcome", outcome)];
                ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
            }
        }
        counter(
            e,
            "wasm_agent_outbound_response_bytes",
            "Response body bytes relayed to guests.",
            self.outbound_bytes,
        )
    }
}

fn gauge(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: impl EncodeGaugeValue,
) -> std::fmt::Result {
    ConstGauge::new(value).encode(e.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

fn counter(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, value: u64) -> std::fmt::Result {
    ConstCounter::new(value).encode(e.encode_descriptor(name, help, None, MetricType::Counter)?)
}

/// A counter with one sample for each set of labels.
fn counters<L: EncodeLabelSet>(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    samples: &[(L, u64)],
) -> std::fmt::Result {
    let mut family = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in samples {
        ConstCounter::new(*value).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}
