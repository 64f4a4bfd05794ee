//! One call into an instance: create its store and instantiate it if it is new, call the export,
//! and supervise the deadline and cancellation. How the call ended is classified in `classify`.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;
use wasmtime::component;
use wasmtime::{Store, UpdateDeadline};

use crate::bindings::GuestContext;
use crate::classify::{CallResult, Ended, classify};
use crate::config::STOP_GRACE;
use crate::error::InvokeError;
use crate::inner::Inner;
use crate::instance::Instance;
use crate::invocation::{Completion, Context, Deadline, Usage};
use crate::state::{Call, InvocationState};

/// What a call asks of an instance.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Work<'a> {
    /// `invoke(payload, context)`.
    Invoke(&'a str),
    /// `background.run(task, input, context)`.
    Background { task: &'a str, input: &'a str },
    /// `websocket.run(context)`.
    Websocket,
}

/// How a call ended: its outcome, and what it left behind.
pub(crate) struct CallEnd {
    pub outcome: Result<Completion, InvokeError>,
    pub call: Call,
    /// False after a trap, a timeout or a cut-off: its instance is in no state to be entered
    /// again, and was dropped.
    pub reusable: bool,
    /// Whether an instance was dropped with the call: not when it failed before one existed
    /// (instantiation failed), which a session's eviction count must not count.
    pub dropped_instance: bool,
    /// What the call used.
    pub usage: Usage,
}

/// Runs one call in `slot`'s instance, creating one if it holds none. On return, `slot` holds
/// the instance if it can serve again and is empty otherwise.
pub(crate) async fn call(
    inner: &Inner,
    slot: &mut Option<Instance>,
    call: Call,
    work: Work<'_>,
    context: &GuestContext,
    cancel: &CancellationToken,
) -> CallEnd {
    let deadline = call.deadline.clone();
    let (mut store, mut live, created) = match slot.take() {
        Some(kept) => (kept.store, Some(kept.instance), kept.created),
        None => (new_store(inner), None, Instant::now()),
    };
    let state = store.data_mut();
    state.begin(call, cancel);
    state.limiter.begin_call();
    if let Some(fuel) = inner.config().fuel
        && let Err(error) = store.set_fuel(fuel)
    {
        let call = store.data_mut().end();
        return CallEnd {
            outcome: Err(InvokeError::Internal(format!("{error:#}"))),
            call,
            reusable: false,
            dropped_instance: live.is_some(),
            usage: Usage::default(),
        };
    }
    store.set_epoch_deadline(1);
    let run = async {
        let instance = match live {
            Some(instance) => instance,
            None => {
                let instance = inner.prepared().pre.instantiate_async(&mut store).await?;
                live = Some(instance);
                instance
            }
        };
        dispatch(inner, &mut store, &instance, work, context).await
    };
    let grace = inner.config().cancel_grace;
    let ended = supervise(run, &deadline, cancel, grace, inner.stop_token()).await;
    let reusable = matches!(ended, Ended::Finished(Ok(_)));
    let outcome = classify(
        ended,
        store.data(),
        inner.config(),
        &deadline,
        inner.is_stopping(),
    );
    let call = store.data_mut().end();
    let usage = Usage {
        fuel_used: inner
            .config()
            .fuel
            .map(|fuel| fuel.saturating_sub(store.get_fuel().unwrap_or(0))),
        peak_memory: store.data().limiter.peak(),
        outbound_requests: call.outbound_requests,
    };
    let dropped_instance = !reusable && live.is_some();
    if reusable && let Some(instance) = live {
        *slot = Some(Instance {
            store,
            instance,
            created,
        });
    }
    CallEnd {
        outcome,
        call,
        reusable,
        dropped_instance,
        usage,
    }
}

/// Calls the export `work` names.
async fn dispatch(
    inner: &Inner,
    store: &mut Store<InvocationState>,
    instance: &component::Instance,
    work: Work<'_>,
    context: &GuestContext,
) -> CallResult {
    let prepared = inner.prepared();
    let missing = |export: &str| wasmtime::format_err!("the component does not export `{export}`");
    match work {
        Work::Invoke(payload) => {
            let handler = prepared.handler.load(&mut *store, instance)?;
            handler.call_invoke(&mut *store, payload, context).await
        }
        Work::Background { task, input } => {
            let indices = prepared
                .background
                .as_ref()
                .ok_or_else(|| missing("background"))?;
            let background = indices.load(&mut *store, instance)?;
            let ran = background
                .call_run(&mut *store, task, input, context)
                .await?;
            Ok(ran.map(|()| None))
        }
        Work::Websocket => {
            let indices = prepared
                .websocket
                .as_ref()
                .ok_or_else(|| missing("websocket"))?;
            let websocket = indices.load(&mut *store, instance)?;
            let ran = websocket.call_run(&mut *store, context).await?;
            Ok(ran.map(|()| None))
        }
    }
}

/// A store for a new instance, with its limits. Every tick its guest yields the worker thread
/// (time slicing); past the deadline of the call in progress it traps.
fn new_store(inner: &Inner) -> Store<InvocationState> {
    let mut store = Store::new(inner.engine(), InvocationState::new(inner.shared().clone()));
    store.limiter(|state| &mut state.limiter);
    // What the guest may hand the host in one call is bounded here, before wasmtime copies it
    // out of linear memory; the result and event limits are checked on the copies.
    store.set_hostcall_fuel(inner.config().max_guest_transfer());
    store.epoch_deadline_callback(|mut store| {
        let call = &mut store.data_mut().call;
        if call.deadline.has_passed() {
            call.deadline_hit = true;
            return Ok(UpdateDeadline::Interrupt);
        }
        Ok(UpdateDeadline::Yield(1))
    });
    store
}

/// The context record the guest sees.
pub(crate) fn guest_context(context: &Context, deadline: &Deadline) -> GuestContext {
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
/// within `grace`, or within [`STOP_GRACE`] once the host is `stopped`, whoever cancelled it
/// first. Enforced here as well as by epochs because a guest waiting in a host call (a WASI
/// sleep, a full event channel) runs no wasm, so no epoch check reaches it.
async fn supervise<F: Future>(
    call: F,
    deadline: &Deadline,
    cancel: &CancellationToken,
    grace: Duration,
    stopped: &CancellationToken,
) -> Ended<F::Output> {
    tokio::pin!(call);
    let mut cut_off: Option<Instant> = None;
    let mut stopping = false;
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
            // A shutdown cancels `cancel` too (it is the root's child), so only a call its
            // caller cancelled first waits on the root: every running call registering there
            // would contend on one lock.
            () = cancel.cancelled(), if cut_off.is_none() => {
                stopping = stopped.is_cancelled();
                let grace = if stopping { grace.min(STOP_GRACE) } else { grace };
                cut_off = Some(Instant::now() + grace);
            }
            () = stopped.cancelled(), if cut_off.is_some() && !stopping => {
                stopping = true;
                let at = Instant::now() + grace.min(STOP_GRACE);
                cut_off = Some(cut_off.map_or(at, |earlier| earlier.min(at)));
            }
        }
    }
}
