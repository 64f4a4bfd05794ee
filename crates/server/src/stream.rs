//! The SSE body of a streaming reply: each event written as soon as the guest emits it, the
//! result as the last event, and a failure as the SDK's error event. The body carries the
//! invocation's log line, so the line is written when the stream ends, or when hyper drops the
//! body because the client left.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use futures_util::stream;
use wasm_agent_contract::sse;
use wasm_agent_host::{Event, InvokeError, RunningInvocation};

use crate::error::ApiError;
use crate::invocation_log::InvocationLog;

/// The body that streams `running`, starting with the `first` event already received, and
/// writes `log` when it ends or is dropped.
pub(crate) fn body(first: Event, running: RunningInvocation, log: InvocationLog) -> Body {
    let state = Streaming {
        pending: Some(first),
        running: Some(running),
        log,
    };
    Body::from_stream(stream::unfold(state, next_frame))
}

struct Streaming {
    pending: Option<Event>,
    running: Option<RunningInvocation>,
    log: InvocationLog,
}

async fn next_frame(mut state: Streaming) -> Option<(Result<Bytes, Infallible>, Streaming)> {
    if let Some(event) = state.pending.take() {
        state.log.count_event();
        return Some((Ok(event_frame(&event)), state));
    }
    let running = state.running.as_mut()?;
    if let Some(event) = running.next_event().await {
        state.log.count_event();
        return Some((Ok(event_frame(&event)), state));
    }
    // The guest can emit no more: its outcome is the last frame, if it has one.
    let running = state.running.take()?;
    let frame = match running.outcome().await {
        Ok(completion) => {
            state.log.completed();
            sse::data_frame(&completion.result?)
        }
        Err(error) => {
            let frame = error_frame(&error);
            let error = ApiError::from(error);
            state.log.end(
                error.outcome(),
                Some(error.kind()),
                Some(error.diagnostic()),
            );
            frame
        }
    };
    Some((Ok(Bytes::from(frame)), state))
}

fn event_frame(event: &Event) -> Bytes {
    Bytes::from(sse::event_frame(event.data(), event.name(), event.id()))
}

/// The SDK's mid-stream error event: the message, and the guest's error type or the kind of
/// failure the host found (`ShuttingDown` when the server gave up on the stream at shutdown).
pub(crate) fn error_frame(error: &InvokeError) -> String {
    let error_type = match error {
        InvokeError::Guest {
            error_type: Some(kind),
            ..
        } => kind.as_str(),
        InvokeError::Guest { .. } => "Error",
        other => other.kind(),
    };
    sse::error_event(&error.to_string(), error_type)
}
