//! `POST /invocations`: one invocation of the handler, answered with JSON or an SSE stream.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use wasm_agent_host::{Completion, Context, Event, Invocation, RunningInvocation};

use super::debug;
use crate::error::ApiError;
use crate::invocation_log::InvocationLog;
use crate::state::AppState;
use crate::trace::InvocationSpan;
use crate::{payload, stream};

/// The request id header, which every reply carries so its log lines can be found.
static REQUEST_ID: HeaderName =
    HeaderName::from_static("x-amzn-bedrock-agentcore-runtime-request-id");

/// Reads, checks and admits the request, runs the handler, and replies. Its log line is written
/// when `log` is dropped: here for a JSON reply, with the stream for an event stream, and
/// wherever hyper drops either if the client leaves first.
pub(super) async fn invoke(
    State(state): State<AppState>,
    request_headers: HeaderMap,
    body: Body,
) -> Response {
    let mut context = super::context(&request_headers);
    let request_id = context.request_id.clone();
    let span = InvocationSpan::start(&request_headers);
    if let Some(span) = &span {
        span.attach(&mut context);
    }
    let mut log = InvocationLog::start(&state, &request_id, context.session_id.as_deref(), span);
    let mut response = match run(&state, context, body, &mut log).await {
        Ok(Reply::Whole(response)) => {
            log.set_status(response.status());
            log.completed();
            response
        }
        Ok(Reply::Stream(first, running)) => {
            log.set_status(StatusCode::OK);
            sse_response(stream::body(first, running, log))
        }
        Err(error) => {
            log.set_status(error.status());
            log.end(
                error.outcome(),
                Some(error.kind()),
                Some(error.diagnostic()),
            );
            error.into_response()
        }
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    response
}

/// What the handler answered: a whole reply, or the first event of a stream and the rest.
enum Reply {
    Whole(Response),
    Stream(Event, RunningInvocation),
}

async fn run(
    state: &AppState,
    context: Context,
    body: Body,
    log: &mut InvocationLog,
) -> Result<Reply, ApiError> {
    let payload = payload::read(state, body).await?;
    if let Some(reply) = debug::answer(state, &payload) {
        return Ok(Reply::Whole(reply));
    }
    let config = state.config();
    let invocation = Invocation {
        payload,
        context,
        timeout: config.timeout,
        stream_timeout: Some(config.stream_timeout),
    };
    // Dropping `running` (the client went away) cancels the invocation.
    let mut running = state.host().invoke(invocation).await?;
    log.set_usage(running.usage());
    match spin_then_wait(running.next_event(), SPIN).await {
        Some(first) => Ok(Reply::Stream(first, running)),
        None => Ok(Reply::Whole(reply(running.outcome().await?))),
    }
}

/// How long the control runtime keeps polling for a reply before it may park: a short
/// handler answers within tens of microseconds, and waiting for it awake spares both threads a
/// wake-up, which on a virtual machine costs more than the wait.
const SPIN: std::time::Duration = std::time::Duration::from_micros(50);

/// Polls `future`, yielding to the runtime between polls (so its other connections are
/// served), for at most `spin`; then waits for it the usual way.
async fn spin_then_wait<F: std::future::Future>(future: F, spin: std::time::Duration) -> F::Output {
    let mut future = std::pin::pin!(future);
    let until = std::time::Instant::now() + spin;
    loop {
        let polled = std::future::poll_fn(|cx| match future.as_mut().poll(cx) {
            std::task::Poll::Ready(output) => std::task::Poll::Ready(Some(output)),
            std::task::Poll::Pending => std::task::Poll::Ready(None),
        })
        .await;
        if let Some(output) = polled {
            return output;
        }
        if std::time::Instant::now() >= until {
            return future.await;
        }
        tokio::task::yield_now().await;
    }
}

fn sse_response(body: Body) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// The reply of a guest that emitted nothing: its JSON (`null` if it returned none, as the SDK
/// sends for `None`), with the status, content type and headers it chose.
fn reply(completion: Completion) -> Response {
    let body = completion.result.unwrap_or_else(|| "null".to_owned());
    let Some(head) = completion.head else {
        return (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response();
    };
    let mut response = (
        StatusCode::from_u16(head.status).unwrap_or(StatusCode::OK),
        body,
    )
        .into_response();
    let headers = response.headers_mut();
    let content_type = head.content_type.as_deref().unwrap_or("application/json");
    if let Ok(value) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    for (name, value) in head.headers {
        // The host has checked names and values; anything still unrepresentable is skipped.
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.append(name, value);
        }
    }
    response
}
