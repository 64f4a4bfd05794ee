//! What one store holds: the WASI context, the limits, the event channel and what the host
//! learned during the call that decides how a failure is classified.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::events::EventSender;
use crate::invocation::{Deadline, ReplyHead};
use crate::limits::MemoryLimiter;
use crate::stdio::GuestLog;
use crate::tasks::{AsyncTasks, TaskScope};

/// The data of one store: one instance serving one invocation.
pub struct InvocationState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limiter: MemoryLimiter,
    pub events: EventSender,
    pub tasks: TaskScope,
    pub deadline: Deadline,
    pub request_id: Arc<str>,
    /// The panic message the guest reported before trapping.
    pub panic_message: Option<String>,
    /// Why the guest's output was refused, if it was.
    pub invalid_output: Option<String>,
    /// Set by the epoch callback when it interrupts the guest at its deadline.
    pub deadline_hit: bool,
    /// The reply head the guest set, if any.
    pub reply_head: Option<ReplyHead>,
    /// Whether the guest has emitted an event (a stream's head is fixed).
    pub has_emitted: bool,
}

/// What a new store needs.
#[derive(Debug)]
pub struct StateParts {
    pub request_id: Arc<str>,
    pub max_memory: u64,
    pub memory_budget: Option<std::sync::Arc<crate::limits::MemoryBudget>>,
    pub guest_log_bytes: usize,
    pub events: EventSender,
    pub tasks: Arc<AsyncTasks>,
    pub deadline: Deadline,
}

impl InvocationState {
    /// A store's data: WASI with clocks, random and logged stdio; no files, sockets or environment.
    pub fn new(parts: StateParts) -> Self {
        let (stdout, stderr) = GuestLog::pair(parts.request_id.clone(), parts.guest_log_bytes);
        let wasi = WasiCtxBuilder::new()
            .stdout(stdout)
            .stderr(stderr)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(parts.max_memory, parts.memory_budget),
            events: parts.events,
            tasks: TaskScope::new(parts.tasks),
            deadline: parts.deadline,
            request_id: parts.request_id,
            panic_message: None,
            invalid_output: None,
            deadline_hit: false,
            reply_head: None,
            has_emitted: false,
        }
    }
}

impl std::fmt::Debug for InvocationState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvocationState")
            .field("request_id", &self.request_id)
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl WasiView for InvocationState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
