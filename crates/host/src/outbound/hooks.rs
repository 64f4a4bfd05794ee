//! The `wasi:http` hooks of one instance: where every request a guest makes is checked against
//! the rules and the limits before anything leaves the host.

use std::sync::Arc;
use std::time::Duration;

use http::Request;
use opentelemetry::KeyValue;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::Outbound;
use super::auth::credential_for;
use super::drain::drain;
use super::exchange::Plan;
use super::log::{RequestLog, Target};
use super::rules::{Destination, default_port};
use crate::invocation::{Context, Deadline};
use crate::trace::ChildSpan;

/// The outbound state of one instance.
#[derive(Debug)]
pub(crate) struct OutboundHooks {
    outbound: Arc<Outbound>,
    /// The instance's in-flight slots, made at its first request: most invocations make none,
    /// and their path stays free of the allocation.
    in_flight: Option<Arc<Semaphore>>,
    call: Option<CallScope>,
}

/// What the call in progress allows.
#[derive(Debug)]
struct CallScope {
    context: Arc<Context>,
    deadline: Deadline,
    /// The invocation's cancellation.
    invocation: CancellationToken,
    /// Cancelled when the call ends or the invocation is cancelled; made at the call's first
    /// request, for the same reason as the slots.
    requests_end: Option<CancellationToken>,
    requests: u32,
}

/// The future `send_request` hands wasi:http: the response, and a future for its I/O errors.
type Sent = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

impl OutboundHooks {
    /// The hooks of a new instance.
    pub(crate) fn new(outbound: Arc<Outbound>) -> Self {
        Self {
            outbound,
            in_flight: None,
            call: None,
        }
    }

    /// Starts a call: its requests are counted afresh and bounded by its deadline and
    /// cancellation, and by its end.
    pub(crate) fn begin(
        &mut self,
        context: Arc<Context>,
        deadline: Deadline,
        cancel: &CancellationToken,
    ) {
        let _ = self.end();
        self.call = Some(CallScope {
            context,
            deadline,
            invocation: cancel.clone(),
            requests_end: None,
            requests: 0,
        });
    }

    /// Ends the call in progress: requests it left open end with it, so that none outlives
    /// the invocation it was made for. Returns how many requests the call made.
    pub(crate) fn end(&mut self) -> u32 {
        let Some(call) = self.call.take() else {
            return 0;
        };
        if let Some(ended) = call.requests_end {
            ended.cancel();
        }
        call.requests
    }

    /// Checks a request against the rules and limits, and plans it.
    fn admit(
        &mut self,
        request: &Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<Plan, Error> {
        let config = &self.outbound.config;
        let call = self.call.as_mut().ok_or(Error::HttpRequestDenied)?;
        let uri = request.uri();
        // Credentials in the URL would reach the pool's key and HTTP/2's `:authority`; a CONNECT
        // would turn the connection into a tunnel the rules never see into.
        if request.method() == http::Method::CONNECT
            || uri.authority().is_some_and(|a| a.as_str().contains('@'))
        {
            self.outbound.stats.count_denied();
            tracing::warn!(
                request_id = %call.context.request_id,
                "outbound request refused: CONNECT, or credentials in the URL"
            );
            return Err(Error::HttpRequestUriInvalid);
        }
        let scheme = uri.scheme_str().unwrap_or("").to_ascii_lowercase();
        let host = uri
            .host()
            .unwrap_or("")
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let port = uri.port_u16().or(default_port(&scheme)).unwrap_or(0);
        let target = Target {
            method: request.method().to_string(),
            scheme,
            host,
            port,
            request_id: call.context.request_id.clone(),
        };
        let to = Destination {
            scheme: &target.scheme,
            host: &target.host,
            port,
        };
        call.requests += 1;
        if call.requests > config.max_requests {
            self.outbound.stats.count_failure(None);
            tracing::warn!(
                request_id = %target.request_id,
                limit = config.max_requests,
                "outbound request refused: the invocation has made as many as it may \
                 (--outbound-max-requests)"
            );
            return Err(Error::ConnectionLimitReached);
        }
        if !config.allow.iter().any(|rule| rule.matches(&to)) {
            self.outbound.stats.count_denied();
            tracing::warn!(
                request_id = %target.request_id,
                scheme = %target.scheme,
                host = %target.host,
                port,
                "outbound request denied: no --allow-outbound rule allows it"
            );
            return Err(Error::HttpRequestDenied);
        }
        let max_in_flight = config.max_in_flight as usize;
        let in_flight = self
            .in_flight
            .get_or_insert_with(|| Arc::new(Semaphore::new(max_in_flight)));
        let Ok(slot) = in_flight.clone().try_acquire_owned() else {
            self.outbound.stats.count_failure(Some(&target.host));
            tracing::warn!(
                request_id = %target.request_id,
                limit = config.max_in_flight,
                "outbound request refused: the instance has as many in flight as it may \
                 (--outbound-max-in-flight)"
            );
            return Err(Error::ConnectionLimitReached);
        };
        let capped = |asked: Option<Duration>, cap: Duration| asked.map_or(cap, |a| a.min(cap));
        let options = options.unwrap_or_default();
        Ok(Plan {
            credential: credential_for(&config.auth, &to).cloned(),
            first_byte: capped(options.first_byte_timeout, config.first_byte_timeout),
            between_bytes: capped(options.between_bytes_timeout, config.between_bytes_timeout),
            deadline: call.deadline.clone(),
            cancel: call
                .requests_end
                .get_or_insert_with(|| call.invocation.child_token())
                .clone(),
            _slot: slot,
            span: call
                .context
                .trace
                .as_ref()
                .map(|parent| ChildSpan::outbound(parent, request)),
            log: RequestLog::start(self.outbound.clone(), target),
        })
    }
}

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: Request<WasiBody>,
        options: Option<RequestOptions>,
        _: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Sent {
        match self.admit(&request, options) {
            Ok(plan) => {
                let sent = self.outbound.send(request, plan);
                Box::new(async move {
                    let response = sent.await?;
                    let io: Box<dyn Future<Output = Result<(), Error>> + Send> =
                        Box::new(async { Ok(()) });
                    Ok((response, io))
                })
            }
            Err(error) => {
                // Refusals past the invocation's request limit get no span: they are a guest
                // looping, and each span would take the export queue's room from others'.
                let limit = self.outbound.config.max_requests;
                let trace = self
                    .call
                    .as_ref()
                    .filter(|call| call.requests <= limit)
                    .and_then(|call| call.context.trace.as_ref());
                if let Some(parent) = trace {
                    let span = ChildSpan::outbound(parent, &request);
                    span.set(KeyValue::new("wasm_agent.outcome", "refused"));
                    span.fail("refused", error.to_string());
                    span.end();
                }
                // The refusal is given once the body is read, so the guest sees it rather than
                // a broken pipe.
                Box::new(async move {
                    drain(request.into_body()).await;
                    Err(error)
                })
            }
        }
    }
}
