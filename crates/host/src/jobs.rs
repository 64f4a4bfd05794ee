//! What runs on the worker pool: an invocation (in a fresh instance or its session's), the
//! background work it scheduled, and a WebSocket handler.

use std::sync::{Arc, Weak};
use std::time::Instant;

use opentelemetry::KeyValue;
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::classify;
use crate::error::InvokeError;
use crate::events::EventSender;
use crate::inner::Inner;
use crate::instance::Instance;
use crate::invocation::{Completion, Context, Deadline, Invocation, UsageReport};
use crate::run::{self, CallEnd, Work};
use crate::sessions::Dropped;
use crate::shared::{Launch, Scheduled};
use crate::socket::Socket;
use crate::state::Call;
use crate::trace::ChildSpan;

/// An invocation submitted to the pool, with its end of the event channel.
pub(crate) struct Job {
    pub(crate) invocation: Invocation,
    pub(crate) lease: Lease,
    pub(crate) deadline: Deadline,
    pub(crate) events: EventSender,
    pub(crate) cancel: CancellationToken,
    /// Where the call's usage is reported for the caller.
    pub(crate) usage: UsageReport,
}

/// Which instance an invocation runs in, as [`Host::invoke`](crate::Host::invoke) decided.
#[derive(Debug)]
pub(crate) enum Lease {
    /// Its session's, kept between the session's invocations.
    Session(String),
    /// A fresh one, under admission: the permit is held until the instance is gone, so no
    /// more invocations run than the pool has fresh instances for.
    Fresh(OwnedSemaphorePermit),
    /// A fresh one outside admission (a benchmark running on its own task).
    Unbounded,
}

/// Runs an invocation to its end, in the instance its lease names.
pub(crate) async fn invoke(inner: &Arc<Inner>, mut job: Job) -> Result<Completion, InvokeError> {
    let context = &job.invocation.context;
    let span = tracing::info_span!(
        "invocation",
        request_id = %context.request_id,
        session_id = context.session_id.as_deref().unwrap_or(""),
    );
    let lease = std::mem::replace(&mut job.lease, Lease::Unbounded);
    // How it ended is the caller's to log: only the caller knows whether anyone was still
    // waiting for the outcome (a client that left makes the guest's failure moot).
    async {
        // Work that arrives after the host was stopped is not started: it could only be cut off.
        if inner.is_stopping() {
            return Err(InvokeError::ShuttingDown);
        }
        match lease {
            Lease::Session(id) => in_session(inner, job, &id).await,
            // The permit is released only here, once the instance is gone.
            Lease::Fresh(_permit) => in_call(inner, &mut None, job).await.outcome,
            Lease::Unbounded => in_call(inner, &mut None, job).await.outcome,
        }
    }
    .instrument(span)
    .await
}

/// Runs an invocation in its session's instance, after the session's earlier invocations, and
/// waiting no longer than its own deadline.
async fn in_session(inner: &Arc<Inner>, job: Job, id: &str) -> Result<Completion, InvokeError> {
    let entry = inner.sessions().enter(id)?;
    let mut slot = tokio::select! {
        biased;
        slot = entry.slot.lock() => slot,
        () = tokio::time::sleep_until(job.deadline.at().into()) => {
            return Err(InvokeError::Timeout(job.deadline.limit()));
        }
        () = job.cancel.cancelled() => return Err(classify::cancelled(inner.is_stopping())),
    };
    // Its turn came too late: entering the instance now would only cut it off mid-call and
    // lose the session's state for a delay that was not its own.
    if job.deadline.has_passed() {
        return Err(InvokeError::Timeout(job.deadline.limit()));
    }
    if slot
        .as_ref()
        .is_some_and(|kept| inner.sessions().has_expired(kept.created(), Instant::now()))
    {
        inner.sessions().dropped(id, Dropped::Lifetime);
        *slot = None;
    }
    let end = in_call(inner, &mut slot, job).await;
    if end.dropped_instance {
        inner.sessions().dropped(id, Dropped::Failure);
    }
    drop(slot);
    drop(entry);
    end.outcome
}

/// Calls `invoke` in `slot`'s instance (a fresh one if it holds none), then starts the
/// background work the call scheduled.
async fn in_call(inner: &Arc<Inner>, slot: &mut Option<Instance>, job: Job) -> CallEnd {
    let Job {
        invocation,
        deadline,
        events,
        cancel,
        usage,
        ..
    } = job;
    let context = run::guest_context(&invocation.context, &deadline);
    let mut origin = invocation.context;
    let span = ChildSpan::enter(&mut origin.trace, "invoke");
    let origin = Arc::new(origin);
    let call = Call::new(origin.clone(), deadline, Some(events));
    let work = Work::Invoke(&invocation.payload);
    let mut end = run::call(inner, slot, call, work, &context, &cancel).await;
    usage.set(end.usage);
    if let Some(span) = span {
        end_span(span, &end);
    }
    let scheduled = std::mem::take(&mut end.call.scheduled);
    start_background(inner, scheduled, &origin, end.reusable);
    end
}

/// Ends the span of a guest call with what the call used and, if it failed, why.
fn end_span(span: ChildSpan, end: &CallEnd) {
    let usage = end.usage;
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    span.set(KeyValue::new(
        "wasm_agent.peak_memory_bytes",
        count(usage.peak_memory),
    ));
    span.set(KeyValue::new(
        "wasm_agent.outbound_requests",
        i64::from(usage.outbound_requests),
    ));
    if let Some(fuel) = usage.fuel_used {
        span.set(KeyValue::new("wasm_agent.fuel_used", count(fuel)));
    }
    if let Err(error) = &end.outcome {
        span.fail(error.kind(), error.diagnostic());
    }
    span.end();
}

/// Starts the background work a call scheduled, each in an instance of its own, if the call
/// returned; work scheduled by a call that trapped or timed out is dropped, with a log line.
fn start_background(
    inner: &Arc<Inner>,
    scheduled: Vec<Scheduled>,
    context: &Arc<Context>,
    returned: bool,
) {
    for work in scheduled {
        if !returned {
            tracing::warn!(
                task = work.task,
                "background work dropped: the invocation that scheduled it did not return"
            );
            continue;
        }
        spawn_background(inner, work, context.clone());
    }
}

/// Starts one piece of background work on the pool.
fn spawn_background(inner: &Arc<Inner>, work: Scheduled, context: Arc<Context>) {
    let inner_ = inner.clone();
    inner.spawn(async move { background(&inner_, work, context).await });
}

/// Runs one piece of background work to its end, under the task timeout, and logs how it ended.
async fn background(inner: &Arc<Inner>, work: Scheduled, context: Arc<Context>) {
    let span = tracing::info_span!(
        "background",
        request_id = %context.request_id,
        session_id = context.session_id.as_deref().unwrap_or(""),
        task = %work.task,
    );
    async {
        let started = Instant::now();
        let deadline = Deadline::new(started, inner.config().task_timeout, None);
        let guest_context = run::guest_context(&context, &deadline);
        let call = Call::new(context.clone(), deadline, None);
        let cancel = inner.call_token();
        let what = Work::Background {
            task: &work.task,
            input: &work.input,
        };
        let end = run::call(inner, &mut None, call, what, &guest_context, &cancel).await;
        let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        match end.outcome {
            Ok(_) => tracing::info!(elapsed_ms, "background work completed"),
            Err(error) => {
                tracing::warn!(elapsed_ms, kind = error.kind(), error = %error.diagnostic(), "background work failed");
            }
        }
        // Its slot and its open async task end here, with the work.
        drop(work);
    }
    .instrument(span)
    .await
}

/// Starts the background work calls without a waiting caller schedule, as it arrives, for as
/// long as the host lives.
pub(crate) async fn launcher(inner: Weak<Inner>, mut launches: mpsc::UnboundedReceiver<Launch>) {
    while let Some(Launch { work, context }) = launches.recv().await {
        let Some(inner) = inner.upgrade() else {
            // Only a host replaced by `serve --watch` goes while its calls can still schedule.
            tracing::warn!(
                request_id = %context.request_id,
                "background work dropped: the handler it was scheduled in has been unloaded"
            );
            return;
        };
        spawn_background(&inner, work, context);
    }
}

/// Runs a WebSocket handler for one connection in an instance of its own, under the deadline,
/// holding its connection slot until the instance is gone.
pub(crate) async fn websocket(
    inner: &Arc<Inner>,
    context: Context,
    deadline: Deadline,
    socket: Socket,
    cancel: CancellationToken,
    slot: OwnedSemaphorePermit,
    done: oneshot::Sender<Result<(), InvokeError>>,
) {
    let span = tracing::info_span!(
        "websocket",
        request_id = %context.request_id,
        session_id = context.session_id.as_deref().unwrap_or(""),
    );
    async {
        let started = Instant::now();
        let guest_context = run::guest_context(&context, &deadline);
        let mut call = Call::new(Arc::new(context), deadline, None);
        call.socket = Some(socket);
        let end = run::call(
            inner,
            &mut None,
            call,
            Work::Websocket,
            &guest_context,
            &cancel,
        )
        .await;
        drop(slot);
        let elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        match &end.outcome {
            Ok(_) => tracing::info!(elapsed_ms, "websocket handler returned"),
            Err(error) => {
                tracing::warn!(elapsed_ms, kind = error.kind(), error = %error.diagnostic(), "websocket handler failed");
            }
        }
        let _ = done.send(end.outcome.map(drop));
    }
    .instrument(span)
    .await
}
