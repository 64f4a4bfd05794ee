//! How an ended call is classified for its caller, in one place: a trap or host error by its
//! cause, which the store recorded, before its symptom; and a call the host stopped at shutdown
//! apart from one its caller cancelled, since only the first is the server's to answer for.

use wasm_agent_contract::guest::{self, Size};
use wasmtime::{PoolConcurrencyLimitError, Trap, WasmBacktrace};

use crate::bindings::GuestFailure;
use crate::config::HostConfig;
use crate::error::InvokeError;
use crate::invocation::{Completion, Deadline, ReplyHead};
use crate::limits::Denial;
use crate::state::InvocationState;

/// Rust's shadow stack starts at the bottom of linear memory and grows down, so overflowing it
/// wraps to the top of the 32-bit address space; a fault this close to 4 GiB is that overflow.
const SHADOW_STACK_WRAP: u64 = (1 << 32) - (16 << 20);
/// Innermost frames that, all in one function, mark a fault as the end of a runaway recursion.
/// wasmtime keeps about 20 frames of a trap's backtrace.
const RECURSION_FRAMES: usize = 16;

/// How supervision of a call ended.
pub(crate) enum Ended<T> {
    Finished(T),
    TimedOut,
    Cancelled,
}

pub(crate) type CallResult = wasmtime::Result<Result<Option<String>, GuestFailure>>;

/// Decides, in one place, what an ended call means for the caller. `stopping` says whether the
/// host had been stopped (shutdown) by the time the call ended.
pub(crate) fn classify(
    ended: Ended<CallResult>,
    state: &InvocationState,
    config: &HostConfig,
    deadline: &Deadline,
    stopping: bool,
) -> Result<Completion, InvokeError> {
    match classify_ended(ended, state, config, deadline) {
        // Once the host has stopped a call, its failure is the stop's doing: a closed `emit`
        // (the SDK's 499), an outbound call cut off (a 502), a trap on an error the guest
        // unwrapped. Only running out of its own time stays the guest's.
        Err(error) if stopping && !matches!(error, InvokeError::Timeout(_)) => {
            Err(InvokeError::ShuttingDown)
        }
        outcome => outcome,
    }
}

/// The error of a call cancelled before it ended: by the shutdown if the host is `stopping`,
/// otherwise by its caller, who went away.
pub(crate) fn cancelled(stopping: bool) -> InvokeError {
    if stopping {
        InvokeError::ShuttingDown
    } else {
        InvokeError::Cancelled
    }
}

fn classify_ended(
    ended: Ended<CallResult>,
    state: &InvocationState,
    config: &HostConfig,
    deadline: &Deadline,
) -> Result<Completion, InvokeError> {
    match ended {
        Ended::TimedOut => Err(InvokeError::Timeout(deadline.limit())),
        Ended::Cancelled => Err(InvokeError::Cancelled),
        Ended::Finished(Ok(Ok(result))) => {
            // A stream's reply is always a 200 event stream: a head set before it is moot.
            let head = state
                .call
                .reply_head
                .clone()
                .filter(|_| !state.call.has_emitted);
            let is_json = head.as_ref().is_none_or(ReplyHead::is_json);
            if let Some(text) = &result {
                guest::check_result(text, is_json, config.max_result_bytes)?;
            }
            Ok(Completion { result, head })
        }
        Ended::Finished(Ok(Err(failure))) => Err(guest_failure(failure)),
        Ended::Finished(Err(error)) => {
            // The caller reads the classification; wasmtime's own account, with the guest's
            // backtrace, is for whoever debugs the handler.
            tracing::debug!(
                request_id = %state.call.context.request_id,
                error = ?error,
                "the guest's call ended in a trap or host error"
            );
            Err(classify_error(&error, state, config, deadline))
        }
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
    config: &HostConfig,
    deadline: &Deadline,
) -> InvokeError {
    let trap = error.downcast_ref::<Trap>().copied();
    if let Some(refused) = &state.call.refused {
        return refused.clone();
    }
    if state.call.deadline_hit || trap == Some(Trap::Interrupt) {
        return InvokeError::Timeout(deadline.limit());
    }
    match trap {
        Some(Trap::OutOfFuel) => {
            return InvokeError::FuelExhausted(config.fuel.unwrap_or_default());
        }
        Some(Trap::StackOverflow) => {
            return InvokeError::StackOverflow(format!(
                "wasm stack limit {} KiB",
                config.max_wasm_stack >> 10
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
        tracing::warn!(error = %format!("{error:#}"), "no instance slot was free");
        return InvokeError::Capacity("every instance slot is in use".into());
    }
    if is_hostcall_fuel_exhausted(error) {
        return InvokeError::OutputTooLarge(format!(
            "it handed the server more than {} in one call (a result may be {}, an event {})",
            Size(config.max_guest_transfer()),
            Size(config.max_result_bytes),
            Size(config.max_event_bytes),
        ));
    }
    if let Some(message) = &state.call.panic_message {
        return InvokeError::Trap(format!("panicked at {message}"));
    }
    match trap {
        Some(trap) => InvokeError::Trap(trap_cause(trap).into()),
        None => InvokeError::Internal(format!("{error:#}")),
    }
}

/// What a trap means, in the handler author's words rather than wasmtime's.
fn trap_cause(trap: Trap) -> &'static str {
    match trap {
        Trap::UnreachableCodeReached => "it reached an `unreachable` instruction (an abort)",
        Trap::MemoryOutOfBounds | Trap::HeapMisaligned => "it accessed memory out of bounds",
        Trap::TableOutOfBounds | Trap::IndirectCallToNull | Trap::BadSignature => {
            "it called a function through a bad pointer"
        }
        Trap::IntegerOverflow => "an integer overflowed",
        Trap::IntegerDivisionByZero => "it divided an integer by zero",
        Trap::BadConversionToInteger => "it converted a value that is not a number to an integer",
        Trap::NullReference => "it used a null reference",
        Trap::CannotEnterComponent => "it re-entered a component it was already inside",
        Trap::StringOutOfBounds
        | Trap::ListOutOfBounds
        | Trap::InvalidChar
        | Trap::InvalidDiscriminant
        | Trap::UnalignedPointer => "it handed the host a malformed value",
        _ => "a WebAssembly trap",
    }
}

/// Whether wasmtime refused to copy what the guest handed the host because it was larger than
/// the store's hostcall fuel. wasmtime's error type for it (`HostcallFuelExhausted`, in
/// `runtime/component/func/options.rs`) is private, so its text is matched: check it when
/// wasmtime is upgraded (`a_result_past_every_limit_is_refused_without_internals` fails if
/// it changes).
fn is_hostcall_fuel_exhausted(error: &wasmtime::Error) -> bool {
    const TEXT: &str = "fuel allocated for hostcalls has been exhausted";
    error.chain().any(|cause| cause.to_string().contains(TEXT))
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
