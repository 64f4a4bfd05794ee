//! Outbound HTTP from a handler: a blocking client over `wasi:http/outgoing-handler` (feature
//! `http`).
//!
//! Build a request with [`get`], [`post`] or [`Request::new`], send it, and read the
//! [`Response`] whole or as it arrives. It blocks, as a handler does: it calls wasi:http
//! directly (the `wasip2` bindings) rather than through an async client such as `wstd`,
//! because a synchronous handler has no executor to run one on.
//!
//! ```no_run
//! use serde_json::{Value, json};
//! use wasm_agent_sdk::{Context, Failure, http};
//!
//! fn relay(payload: Value, ctx: &Context) -> Result<Value, Failure> {
//!     let response = http::post("https://llm.example.com/v1/generate")
//!         .json(&json!({ "prompt": payload["prompt"], "stream": true }))
//!         .send()?; // an `HttpError` becomes a 502
//!     for event in response.events() {
//!         ctx.emit(&json!({ "token": event?.data }))?; // relayed as it arrives
//!     }
//!     Ok(json!({ "done": true }))
//! }
//! ```
//!
//! The host decides where a guest may connect: a destination no operator rule allows fails with
//! [`HttpErrorKind::Denied`], and the host's limits with [`Limit`](HttpErrorKind::Limit),
//! [`TooLarge`](HttpErrorKind::TooLarge) or [`Timeout`](HttpErrorKind::Timeout). The host may
//! also set the `authorization` header for a destination, so a handler need not hold its
//! credentials. A response with any status is a `Response`, not an error.

mod error;
mod request;
mod response;
mod sse;
mod url;

pub use error::{HttpError, HttpErrorKind};
pub use request::{Request, get, post};
pub use response::{Chunks, Response};
pub use sse::{Events, SseEvent};
