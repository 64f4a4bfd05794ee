//! One invocation in one store: instantiate, call, supervise the deadline and cancellation, and
//! classify how it ended.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use wasmtime::{PoolConcurrencyLimitError, Store, Trap, UpdateDeadline, WasmBacktrace};

use crate::bindings::{GuestContext, GuestFailure};
use crate::error::InvokeError;
use crate::events::EventSender;
use crate::host::Inner;
use crate::invocation::{Completion, Deadline, Invocation, ReplyHead};
use crate::json;
use crate::limits::Denial;
use crate::state::{InvocationState, StateParts};

/// Rust's shadow stack starts at the bottom of linear memory and grows down, so overflowing it
/// wraps to the top of the 32-bit address space; a fault this close to 4 GiB is that overflow.
const SHADOW_STACK_WRAP: u64 = (1 << 32) - (16 << 20);
/// Innermost frames that, all in one function, mark a fault as the end of a runaway recursion.
/// wasmtime keeps about 20 frames of a trap's backtrace.
const RECURSION_FRAMES: usize = 16;

/// An invocation submitted to the pool, with its end of the event channel.
pub struct Job {
    pub invocation: Invocation,
    pub deadline: Deadline,
    pub events: EventSender,
    pub cancel: CancellationToken,
}

/// How supervision of a call ended.
enum Ended<T> {
    Finished(T),
    TimedOut,
    Cancelled,
}

type CallResult = wasmtime::Result<Result<Option<String>, GuestFailure>>;

/// Runs one invocation to its end in a fresh store.
pub async fn run(inner: &Inner, job: Job) -> Result<Completion, InvokeError> {
    let context = &job.invocation.context;
    let span = tracing::info_span!(
        "invocation",
        request_id = %context.request_id,
        session_id = context.session_id.as_deref().unwrap_or(""),
    );
    async {
        let started = Instant::now();
        let outcome = run_in_store(inner, job).await;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        match &outcome {
            Ok(_) => tracing::debug!(elapsed_ms, "invocation completed"),
            Err(error @ InvokeError::Guest { status, .. }) => {
                tracing::info!(elapsed_ms, status, %error, "invocation returned a failure");
            }
            Err(error) => {
                tracing::warn!(elapsed_ms, kind = error.kind(), %error, "invocation failed")
            }
        }
        outcome
    }
    .instrument(span)
    .await
}

async fn run_in_store(inner: &Inner, job: Job) -> Result<Completion, InvokeError> {
    let Job {
        invocation,
        deadline,
        events,
        cancel,
    } = job;
    let config = &inner.config;
    let request_id: Arc<str> = invocation.context.request_id.as_str().into();
    let mut store = Store::new(
        &inner.engine,
        InvocationState::new(StateParts {
            request_id,
            max_memory: config.max_memory,
            memory_budget: inner.memory.clone(),
            guest_log_bytes: config.guest_log_bytes,
            events,
            tasks: inner.tasks.clone(),
            deadline: deadline.clone(),
        }),
    );
    store.limiter(|state| &mut state.limiter);
    if let Some(fuel) = config.fuel {
        store
            .set_fuel(fuel)
            .map_err(|e| InvokeError::Internal(format!("{e:#}")))?;
    }
    // Every tick the guest yields its worker thread (time slicing); past the deadline it traps.
    store.set_epoch_deadline(1);
    let ticking = deadline.clone();
    store.epoch_deadline_callback(move |mut store| {
        if ticking.has_passed() {
            store.data_mut().deadline_hit = true;
            return Ok(UpdateDeadline::Interrupt);
        }
        Ok(UpdateDeadline::Yield(1))
    });

    let guest_context = guest_context(&invocation, &deadline);
    let call = async {
        let handler = inner.pre.instantiate_async(&mut store).await?;
        handler
            .call_invoke(&mut store, &invocation.payload, &guest_context)
            .await
    };
    let ended = supervise(call, &deadline, &cancel, config.cancel_grace).await;
    classify(ended, store.data(), inner, &deadline)
}

fn guest_context(invocation: &Invocation, deadline: &Deadline) -> GuestContext {
    let context = &invocation.context;
    let remaining = deadline.at().saturating_duration_since(Instant::now());
    let deadline_ms = (SystemTime::now() + remaining)
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    GuestContext {
        request_id: context.request_id.clone(),
        session_id: context.session_id.clone(),
        headers: context.headers.clone(),
        workload_access_token: context.workload_access_token.clone(),
        oauth2_callback_url: context.oauth2_callback_url.clone(),
        deadline_ms,
    }
}

/// Awaits `call` until it finishes, its deadline passes, or it is cancelled and does not return
/// within `grace`. Enforced here as well as by epochs because a guest waiting in a host call
/// (a WASI sleep, a full event channel) runs no wasm, so no epoch check reaches it.
async fn supervise<F: Future>(
    call: F,
    deadline: &Deadline,
    cancel: &CancellationToken,
    grace: Duration,
) -> Ended<F::Output> {
    tokio::pin!(call);
    let mut cut_off: Option<Instant> = None;
    loop {
        let limit = cut_off.map_or(deadline.at(), |at| at.min(deadline.at()));
        tokio::select! {
            biased;
            output = &mut call => return Ended::Finished(output),
            () = tokio::time::sleep_until(limit.into()) => {
                if cut_off.is_some_and(|at| Instant::now() >= at) {
                    return Ended::Cancelled;
                }
                if deadline.has_passed() {
                    return Ended::TimedOut;
                }
                // The deadline moved on (the guest began streaming): wait for the new one.
            }
            () = cancel.cancelled(), if cut_off.is_none() => {
                cut_off = Some(Instant::now() + grace);
            }
        }
    }
}

/// Decides, in one place, what an ended call means for the caller.
fn classify(
    ended: Ended<CallResult>,
    state: &InvocationState,
    inner: &Inner,
    deadline: &Deadline,
) -> Result<Completion, InvokeError> {
    match ended {
        Ended::TimedOut => Err(InvokeError::Timeout(deadline.limit())),
        Ended::Cancelled => Err(InvokeError::Cancelled),
        Ended::Finished(Ok(Ok(result))) => {
            // A stream's reply is always a 200 event stream: a head set before it is moot.
            let head = state.reply_head.clone().filter(|_| !state.has_emitted);
            let is_json = head.as_ref().is_none_or(ReplyHead::is_json);
            if is_json
                && let Some(text) = &result
                && let Err(error) = json::check_document(text)
            {
                return Err(InvokeError::InvalidOutput(format!(
                    "the result is not one JSON document: {error}"
                )));
            }
            Ok(Completion { result, head })
        }
        Ended::Finished(Ok(Err(failure))) => Err(guest_failure(failure)),
        Ended::Finished(Err(error)) => Err(classify_error(&error, state, inner, deadline)),
    }
}

fn guest_failure(failure: GuestFailure) -> InvokeError {
    let status = if (400..=599).contains(&failure.status) {
        failure.status
    } else {
        tracing::warn!(
            status = failure.status,
            "guest failure status is not 4xx/5xx; sending 500"
        );
        500
    };
    InvokeError::Guest {
        status,
        message: failure.message,
        error_type: failure.error_type,
    }
}

/// Classifies a trap or host error by its cause, which the store recorded, before its symptom:
/// a denied `memory.grow` surfaces as Rust's allocator hitting `unreachable`, an overflowed shadow
/// stack as an out-of-bounds access.
fn classify_error(
    error: &wasmtime::Error,
    state: &InvocationState,
    inner: &Inner,
    deadline: &Deadline,
) -> InvokeError {
    let trap = error.downcast_ref::<Trap>().copied();
    if let Some(reason) = &state.invalid_output {
        return InvokeError::InvalidOutput(reason.clone());
    }
    if state.deadline_hit || trap == Some(Trap::Interrupt) {
        return InvokeError::Timeout(deadline.limit());
    }
    match trap {
        Some(Trap::OutOfFuel) => {
            return InvokeError::FuelExhausted(inner.config.fuel.unwrap_or_default());
        }
        Some(Trap::StackOverflow) => {
            return InvokeError::StackOverflow(format!(
                "wasm stack limit {} KiB",
                inner.config.max_wasm_stack >> 10
            ));
        }
        _ => {}
    }
    match state.limiter.denial() {
        Some(Denial::Instance) => return InvokeError::OutOfMemory(state.limiter.limit()),
        Some(Denial::Budget(budget)) => return InvokeError::MemoryBudget(budget),
        None => {}
    }
    if trap == Some(Trap::MemoryOutOfBounds) && is_shadow_stack_overflow(error) {
        return InvokeError::StackOverflow("its shadow stack in linear memory".into());
    }
    if error.chain().any(|e| e.is::<PoolConcurrencyLimitError>()) {
        return InvokeError::Capacity(format!("{error:#}"));
    }
    if let Some(message) = &state.panic_message {
        return InvokeError::Trap(format!("panicked at {message}"));
    }
    match trap {
        Some(trap) => InvokeError::Trap(trap.to_string()),
        None => InvokeError::Internal(format!("{error:#}")),
    }
}

/// Whether an out-of-bounds trap is the overflow of the stack that C-like languages (Rust, C,
/// Go) keep in linear memory. That stack grows down from near address 0, so overflowing it wraps
/// to the top of the 32-bit space. wasmtime reports the faulting address when the access hit a
/// guard page; with explicit bounds checks it does not, and then the sign is recursion: the
/// innermost frames of the backtrace all in one function.
fn is_shadow_stack_overflow(error: &wasmtime::Error) -> bool {
    if let Some(address) = fault_address(error) {
        return address >= SHADOW_STACK_WRAP;
    }
    error
        .downcast_ref::<WasmBacktrace>()
        .map(|trace| trace.frames())
        .is_some_and(|frames| {
            frames.len() >= RECURSION_FRAMES
                && frames[..RECURSION_FRAMES]
                    .iter()
                    .all(|frame| frame.func_index() == frames[0].func_index())
        })
}

/// The faulting wasm address wasmtime attaches to an out-of-bounds trap, if any.
fn fault_address(error: &wasmtime::Error) -> Option<u64> {
    const PREFIX: &str = "memory fault at wasm address 0x";
    error.chain().find_map(|cause| {
        let text = cause.to_string();
        let hex = text.strip_prefix(PREFIX)?;
        let end = hex
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(hex.len());
        u64::from_str_radix(&hex[..end], 16).ok()
    })
}
