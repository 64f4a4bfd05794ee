//! The wasmtime `Engine` and the thread that advances its epoch.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::config::HostConfig;
use crate::error::LoadError;

/// Pool sizes used when a component cannot say what one instance of it needs (one that embeds
/// core modules to instantiate itself): ample for an interpreter linked from several modules.
const FALLBACK_PER_INSTANCE: PerInstance = PerInstance {
    core_instances: 16,
    memories: 2,
    tables: 4,
    table_elements: 0,
};
/// Elements a table may grow to: interpreters keep every function they may call indirectly in
/// one.
const MIN_TABLE_ELEMENTS: usize = 64 << 10;
/// Bytes of a slot's linear memory (and tables) kept resident when it is reused: reset by
/// copying back only the pages the instance wrote (found with PAGEMAP_SCAN on Linux 6.7+)
/// instead of unmapping them, so the next instance neither makes a system call nor page-faults.
const KEEP_RESIDENT: usize = 1 << 20;
/// Address space one linear-memory slot reserves on a 64-bit host: 4 GiB plus guard regions.
/// Only used to explain a pool that cannot be had.
const SLOT_RESERVATION: u64 = (4 << 30) + (64 << 20);

/// What one instance of a component takes from the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PerInstance {
    pub core_instances: u32,
    pub memories: u32,
    pub tables: u32,
    pub table_elements: usize,
}

impl PerInstance {
    /// What one instance of `component` (compiled from `bytes`) uses.
    pub(crate) fn of(component: &Component, bytes: &[u8]) -> Self {
        let Some(needs) = component.resources_required() else {
            return FALLBACK_PER_INSTANCE;
        };
        Self {
            core_instances: core_instances(bytes).max(1),
            memories: needs.num_memories.max(1),
            tables: needs.num_tables.max(1),
            table_elements: usize::try_from(needs.max_initial_table_size.unwrap_or(0))
                .unwrap_or(usize::MAX),
        }
    }
}

/// Core modules a component instantiates (wasmtime reports its memories and tables, not these):
/// a Rust wasip2 component instantiates three, its own module and two small shims.
fn core_instances(bytes: &[u8]) -> u32 {
    let mut count = 0u32;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload {
            Ok(wasmparser::Payload::InstanceSection(section)) => {
                count += section
                    .into_iter()
                    .filter(|i| matches!(i, Ok(wasmparser::Instance::Instantiate { .. })))
                    .count() as u32;
            }
            // A nested component may be instantiated more than once: counting its sections
            // would fall short, so allow as for a component that cannot say.
            Ok(wasmparser::Payload::ComponentSection { .. }) => {
                return count.max(FALLBACK_PER_INSTANCE.core_instances);
            }
            _ => {}
        }
    }
    count
}

impl PerInstance {
    /// What one instance of a precompiled component uses: its memories and tables are known,
    /// its core instances are not (the WebAssembly is gone), so the pool allows generously
    /// for them; a core-instance slot costs only bookkeeping.
    pub(crate) fn of_precompiled(component: &Component) -> Self {
        let mut needs = Self::of(component, &[]);
        needs.core_instances = FALLBACK_PER_INSTANCE.core_instances;
        needs
    }
}

/// The engine that compiles components: the same code generation as the serving engine, without
/// reserving an instance pool, whose size depends on what the component turns out to need.
pub(crate) fn compiler(config: &HostConfig) -> Result<Engine, LoadError> {
    let mut wasm = base_config(config);
    wasm.allocation_strategy(InstanceAllocationStrategy::OnDemand);
    if let Some(target) = &config.target {
        wasm.target(target).map_err(|e| LoadError::Target {
            target: target.clone(),
            source: e.into(),
        })?;
    }
    Engine::new(&wasm).map_err(|e| LoadError::Engine(e.into()))
}

/// Builds the serving engine: a pooling allocator with copy-on-write images and room for `slots`
/// instances of `per_instance`, epoch interruption, and fuel metering only when a fuel budget is
/// configured (it slows guest code by up to 2–3×). A pool the address space cannot hold is a
/// configuration error, found now rather than at the thousandth session.
pub(crate) fn build(
    config: &HostConfig,
    slots: u32,
    per_instance: PerInstance,
) -> Result<Engine, LoadError> {
    let mut wasm = base_config(config);
    wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling(
        config,
        slots,
        per_instance,
    )));
    Engine::new(&wasm).map_err(|error| {
        let memories = u64::from(slots) * u64::from(per_instance.memories);
        LoadError::Pool {
            explanation: format!(
                "{slots} instance slots, {memories} linear-memory slots in all, need about {} \
                 GiB of address space; lower --max-sessions, --max-concurrency, \
                 --max-background or --max-websockets",
                memories.saturating_mul(SLOT_RESERVATION) >> 30,
            ),
            source: error.into(),
        }
    })
}

fn base_config(config: &HostConfig) -> Config {
    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        .epoch_interruption(true)
        .consume_fuel(config.fuel.is_some())
        .max_wasm_stack(config.max_wasm_stack)
        .memory_init_cow(true)
        // The handler world is synchronous: without component-model concurrency every call
        // takes wasmtime's direct path instead of its task machinery.
        .concurrency_support(false);
    wasm
}

fn pooling(config: &HostConfig, slots: u32, per: PerInstance) -> PoolingAllocationConfig {
    let slots = slots.max(1);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(slots)
        .total_core_instances(slots.saturating_mul(per.core_instances))
        .max_core_instances_per_component(per.core_instances)
        .total_memories(slots.saturating_mul(per.memories))
        .max_memories_per_component(per.memories)
        .total_tables(slots.saturating_mul(per.tables))
        .max_tables_per_component(per.tables)
        .table_elements(per.table_elements.max(MIN_TABLE_ELEMENTS))
        .total_stacks(slots)
        .max_memory_size(usize::try_from(config.max_memory).unwrap_or(usize::MAX))
        .pagemap_scan(wasmtime::Enabled::Auto)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT);
    pool
}

/// Advances the engine's epoch every tick on a thread of its own; stops when dropped.
///
/// A dedicated OS thread, not a task: a tokio timer would share its runtime with the guests whose
/// time slices it is meant to end.
#[derive(Debug)]
pub(crate) struct EpochTicker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    /// Starts ticking `engine` every `tick`.
    pub(crate) fn start(engine: Engine, tick: Duration) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("wasm-agent-epoch".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                    engine.increment_epoch();
                }
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ticker stops promptly when dropped, so a host can be dropped without leaking a thread.
    #[test]
    fn ticker_stops_on_drop() -> Result<(), Box<dyn std::error::Error>> {
        let engine = Engine::default();
        let ticker = EpochTicker::start(engine, Duration::from_secs(3600))?;
        let started = std::time::Instant::now();
        drop(ticker);
        assert!(started.elapsed() < Duration::from_secs(60));
        Ok(())
    }

    /// A pool far larger than any address space is a clear error naming the flags to lower.
    #[test]
    fn impossible_pool_is_a_clear_error() {
        let error = build(&HostConfig::default(), 10_000_000, FALLBACK_PER_INSTANCE)
            .err()
            .map(|e| e.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("--max-sessions")),
            "{error:?}"
        );
    }

    /// A pool that fits gets the pooling allocator.
    #[test]
    fn default_config_pools() -> Result<(), LoadError> {
        let engine = build(&HostConfig::default(), 64, FALLBACK_PER_INSTANCE)?;
        assert!(engine.pooling_allocator_metrics().is_some());
        Ok(())
    }
}
