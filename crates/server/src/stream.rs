//! The SSE body of a streaming reply: each event written as soon as the guest emits it, the
//! result as the last event, and a failure as the SDK's error event.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use futures_util::stream;
use wasm_agent_contract::sse;
use wasm_agent_host::{Event, InvokeError, RunningInvocation};

/// The body that streams `running`, starting with the `first` event already received.
pub fn body(first: Event, running: RunningInvocation) -> Body {
    let state = Streaming {
        pending: Some(first),
        running: Some(running),
    };
    Body::from_stream(stream::unfold(state, next_frame))
}

struct Streaming {
    pending: Option<Event>,
    running: Option<RunningInvocation>,
}

async fn next_frame(mut state: Streaming) -> Option<(Result<Bytes, Infallible>, Streaming)> {
    if let Some(event) = state.pending.take() {
        return Some((Ok(event_frame(&event)), state));
    }
    let running = state.running.as_mut()?;
    if let Some(event) = running.next_event().await {
        return Some((Ok(event_frame(&event)), state));
    }
    // The guest can emit no more: its outcome is the last frame, if it has one.
    let running = state.running.take()?;
    let frame = match running.outcome().await {
        Ok(completion) => sse::data_frame(&completion.result?),
        Err(error) => error_frame(&error),
    };
    Some((Ok(Bytes::from(frame)), state))
}

fn event_frame(event: &Event) -> Bytes {
    Bytes::from(sse::event_frame(event.data(), event.name(), event.id()))
}

/// The SDK's mid-stream error event: the message, and the guest's error type or the kind of
/// failure the host found.
pub fn error_frame(error: &InvokeError) -> String {
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
