//! The wasmtime `Engine` and the thread that advances its epoch.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::config::HostConfig;
use crate::error::LoadError;

/// Core instances per component instance the pool provides. A Rust wasip2 component uses three;
/// interpreters linked from several modules use more, and an idle core-instance slot costs only
/// a little bookkeeping.
const CORE_INSTANCES_PER_COMPONENT: u32 = 16;
/// Linear memories per component instance (the guest's own, plus an adapter's).
const MEMORIES_PER_COMPONENT: u32 = 2;
/// Tables per component instance.
const TABLES_PER_COMPONENT: u32 = 4;
/// Elements per table: interpreters keep every function they may call indirectly in one.
const TABLE_ELEMENTS: usize = 64 << 10;

/// Builds the engine: pooling allocator with copy-on-write images, epoch interruption, and fuel
/// metering only when a fuel budget is configured (it slows guest code by up to 2–3×).
pub fn build(config: &HostConfig) -> Result<Engine, LoadError> {
    let mut wasm = base_config(config);
    wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling(config)));
    match Engine::new(&wasm) {
        Ok(engine) => Ok(engine),
        Err(error) => {
            // Too little address space (a ulimit, a 32-bit host) for the pool's reservations:
            // on-demand allocation still works, only slower to instantiate.
            tracing::warn!(
                %error,
                slots = config.instance_slots,
                "cannot reserve the instance pool; falling back to on-demand allocation"
            );
            let mut wasm = base_config(config);
            wasm.allocation_strategy(InstanceAllocationStrategy::OnDemand);
            Engine::new(&wasm).map_err(|e| LoadError::Engine(format!("{e:#}")))
        }
    }
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

fn pooling(config: &HostConfig) -> PoolingAllocationConfig {
    let slots = config.instance_slots.max(1);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(slots)
        .total_core_instances(slots.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .total_memories(slots.saturating_mul(MEMORIES_PER_COMPONENT))
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .total_tables(slots.saturating_mul(TABLES_PER_COMPONENT))
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .table_elements(TABLE_ELEMENTS)
        .total_stacks(slots)
        .max_memory_size(usize::try_from(config.max_memory).unwrap_or(usize::MAX));
    pool
}

/// Advances the engine's epoch every tick on a thread of its own; stops when dropped.
///
/// A dedicated OS thread, not a task: a tokio timer would share its runtime with the guests whose
/// time slices it is meant to end.
#[derive(Debug)]
pub struct EpochTicker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    /// Starts ticking `engine` every `tick`.
    pub fn start(engine: Engine, tick: Duration) -> std::io::Result<Self> {
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

    /// A pool far larger than any address space cannot be reserved, and the engine falls back.
    #[test]
    fn impossible_pool_falls_back_to_on_demand() -> Result<(), LoadError> {
        let config = HostConfig {
            instance_slots: 10_000_000,
            ..HostConfig::default()
        };
        let engine = build(&config)?;
        assert!(engine.pooling_allocator_metrics().is_none());
        Ok(())
    }

    /// The default configuration gets the pooling allocator.
    #[test]
    fn default_config_pools() -> Result<(), LoadError> {
        let engine = build(&HostConfig::default())?;
        assert!(engine.pooling_allocator_metrics().is_some());
        Ok(())
    }
}
