//! What one store holds: the WASI context and limits of its instance, what every instance
//! shares, and the invocation in progress, whose state is replaced at the start of each call so
//! that an instance kept for a session serves many.

use std::sync::{Arc, LazyLock};
use std::time::Instant;

use tokio_util::sync::CancellationToken;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::error::InvokeError;
use crate::events::EventSender;
use crate::invocation::{Context, Deadline, ReplyHead};
use crate::limits::MemoryLimiter;
use crate::outbound::OutboundHooks;
use crate::shared::{Scheduled, Shared, StatusClaim};
use crate::socket::Socket;
use crate::stdio::{GuestLog, LogScope};
use crate::tasks::TaskScope;

/// The data of one store: one instance, and the call it is serving.
pub(crate) struct InvocationState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    log: Arc<LogScope>,
    /// The instance's outbound requests: checked, limited, and bound to the call in progress.
    outbound: OutboundHooks,
    pub limiter: MemoryLimiter,
    /// The async tasks this instance opened (completed by the host when it is dropped).
    pub tasks: TaskScope,
    /// The ping status this instance set (withdrawn when it is dropped).
    pub status: StatusClaim,
    pub shared: Arc<Shared>,
    pub call: Call,
}

/// The state of one call into an instance.
#[derive(Debug)]
pub(crate) struct Call {
    /// The context of the invocation this call serves (or that scheduled it).
    pub context: Arc<Context>,
    pub deadline: Deadline,
    /// Where `emit` sends; none when nobody listens (background work, a WebSocket).
    pub events: Option<EventSender>,
    /// The connection, for a WebSocket handler.
    pub socket: Option<Socket>,
    /// Background work scheduled during the call, started once it has returned.
    pub scheduled: Vec<Scheduled>,
    /// The panic message the guest reported before trapping.
    pub panic_message: Option<String>,
    /// Why the host refused what the guest handed it, if it did: the call's error, whatever
    /// the trap that followed says.
    pub refused: Option<InvokeError>,
    /// Set by the epoch callback when it interrupts the guest at its deadline.
    pub deadline_hit: bool,
    /// The reply head the guest set, if any.
    pub reply_head: Option<ReplyHead>,
    /// Whether the guest has emitted an event (a stream's head is fixed).
    pub has_emitted: bool,
    /// Outbound requests the call made, counted when it ends.
    pub outbound_requests: u32,
}

impl Call {
    /// A call for the invocation with `context`, under `deadline`.
    pub(crate) fn new(
        context: Arc<Context>,
        deadline: Deadline,
        events: Option<EventSender>,
    ) -> Self {
        Self {
            context,
            deadline,
            events,
            socket: None,
            scheduled: Vec::new(),
            panic_message: None,
            refused: None,
            deadline_hit: false,
            reply_head: None,
            has_emitted: false,
            outbound_requests: 0,
        }
    }

    /// The state of an instance between calls: nothing to send to, and a deadline long past,
    /// so that nothing can run.
    fn idle() -> Self {
        Self::new(idle_context(), Deadline::passed(Instant::now()), None)
    }
}

/// The context of an instance between calls, shared: every call ends by putting it back.
fn idle_context() -> Arc<Context> {
    static IDLE: LazyLock<Arc<Context>> = LazyLock::new(Arc::default);
    IDLE.clone()
}

impl InvocationState {
    /// A store's data: WASI with clocks, random, logged stdio and the environment the operator
    /// granted; no files or sockets; HTTP through the outbound hooks.
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        let (stdout, stderr, log) = GuestLog::pair(idle_context(), shared.config.guest_log_bytes);
        let wasi = WasiCtxBuilder::new()
            .envs(&shared.config.env)
            .stdout(stdout)
            .stderr(stderr)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .build();
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            log,
            outbound: OutboundHooks::new(shared.outbound.clone()),
            limiter: MemoryLimiter::new(shared.config.max_memory, shared.memory.clone()),
            tasks: TaskScope::new(shared.tasks.clone()),
            status: StatusClaim::new(shared.clone()),
            shared,
            call: Call::idle(),
        }
    }

    /// Starts serving `call`, which `cancel` cancels.
    pub(crate) fn begin(&mut self, call: Call, cancel: &CancellationToken) {
        self.log.begin(call.context.clone());
        self.outbound
            .begin(call.context.clone(), call.deadline.clone(), cancel);
        self.call = call;
    }

    /// Ends the call in progress and hands back its state; its event channel closes with it.
    pub(crate) fn end(&mut self) -> Call {
        let requests = self.outbound.end();
        let mut call = std::mem::replace(&mut self.call, Call::idle());
        call.outbound_requests = requests;
        call
    }
}

impl std::fmt::Debug for InvocationState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvocationState")
            .field("call", &self.call)
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

impl WasiHttpView for InvocationState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}
