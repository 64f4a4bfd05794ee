use std::fmt;

use serde::Serialize;

use crate::bindings::Context as RawContext;
use crate::bindings::wasm_agent::handler::host::{self, EmitError};
use crate::bindings::wasm_agent::handler::types::{
    PingStatus as RawPingStatus, ScheduleError as RawScheduleError, SseEvent,
};

/// What the host knows about the invocation in progress, and the way to talk back to it.
#[derive(Debug)]
pub struct Context {
    raw: RawContext,
}

/// The caller has gone away (or the invocation was cancelled): stop producing and return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the caller has gone away")
    }
}

impl std::error::Error for Closed {}

impl Context {
    pub(crate) fn new(raw: RawContext) -> Self {
        Self { raw }
    }

    /// The request id (the caller's, or one the host generated).
    pub fn request_id(&self) -> &str {
        &self.raw.request_id
    }

    /// The session id, if the caller sent one.
    pub fn session_id(&self) -> Option<&str> {
        self.raw.session_id.as_deref()
    }

    /// The forwarded request headers, in the order received.
    pub fn headers(&self) -> &[(String, String)] {
        &self.raw.headers
    }

    /// The last forwarded header with this name (ASCII case-insensitive), as the SDK keeps the last.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.raw
            .headers
            .iter()
            .rev()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The workload access token, if the caller sent one.
    pub fn workload_access_token(&self) -> Option<&str> {
        self.raw.workload_access_token.as_deref()
    }

    /// The OAuth2 callback URL, if the caller sent one.
    pub fn oauth2_callback_url(&self) -> Option<&str> {
        self.raw.oauth2_callback_url.as_deref()
    }

    /// When the host will stop this invocation, in milliseconds since the Unix epoch.
    pub fn deadline_ms(&self) -> u64 {
        self.raw.deadline_ms
    }

    /// Streams one event to the caller. Waits while the caller is slow.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &T) -> Result<(), Closed> {
        // Serializing our own value cannot produce invalid JSON; a failing Serialize impl is a
        // bug in the handler, reported like a panic.
        let data = serde_json::to_string(event).expect("event serializes to JSON");
        self.emit_json(&data)
    }

    /// Streams one event that is already JSON text, as written. Invalid JSON fails the invocation.
    pub fn emit_json(&self, data: &str) -> Result<(), Closed> {
        host::emit(data).map_err(|EmitError::Closed| Closed)
    }

    /// Streams one event with an SSE `event:` name and `id:` (neither may contain a line break).
    pub fn emit_with<T: Serialize + ?Sized>(
        &self,
        event: &T,
        name: Option<&str>,
        id: Option<&str>,
    ) -> Result<(), Closed> {
        let data = serde_json::to_string(event).expect("event serializes to JSON");
        let event = SseEvent {
            data,
            name: name.map(str::to_owned),
            id: id.map(str::to_owned),
        };
        host::emit_event(&event).map_err(|EmitError::Closed| Closed)
    }

    /// Registers a tracked task: `/ping` reports `HealthyBusy` until it is completed.
    pub fn add_async_task(&self, name: &str, metadata: Option<&serde_json::Value>) -> i64 {
        let metadata = metadata.map(|m| m.to_string());
        host::add_async_task(name, metadata.as_deref())
    }

    /// Completes a task; false if the id is unknown.
    pub fn complete_async_task(&self, id: i64) -> bool {
        host::complete_async_task(id)
    }

    /// Sets the status `/ping` reports, or with `None` clears it: the SDK's custom ping
    /// handler. It holds while this instance lives (a session's instance keeps it between
    /// invocations) and is withdrawn when the instance is dropped; `HealthyBusy` from any live
    /// instance wins.
    pub fn set_ping_status(&self, status: Option<PingStatus>) {
        host::set_ping_status(status.map(|status| match status {
            PingStatus::Healthy => RawPingStatus::Healthy,
            PingStatus::HealthyBusy => RawPingStatus::HealthyBusy,
        }));
    }

    /// Schedules background work: once this invocation has answered, the host runs the
    /// component's background function with `task` and `input` (as JSON) in an instance of its
    /// own, and `/ping` reports `HealthyBusy` until it returns. Needs the `background` feature
    /// and a background function given to [`crate::handler!`].
    pub fn schedule<T: Serialize + ?Sized>(
        &self,
        task: &str,
        input: &T,
    ) -> Result<(), ScheduleError> {
        let input = serde_json::to_string(input).map_err(|_| ScheduleError::InvalidInput)?;
        host::schedule(task, &input).map_err(|error| match error {
            RawScheduleError::Unsupported => ScheduleError::Unsupported,
            RawScheduleError::Busy => ScheduleError::Busy,
        })
    }
}

/// What `/ping` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingStatus {
    /// Ready for new work.
    Healthy,
    /// Busy with work the platform must not interrupt.
    HealthyBusy,
}

/// Why background work was not scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleError {
    /// The component has no background function.
    Unsupported,
    /// As much background work as the host allows is already scheduled or running.
    Busy,
    /// The input could not be serialized to JSON.
    InvalidInput,
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unsupported => "the component has no background function",
            Self::Busy => "too much background work is already scheduled",
            Self::InvalidInput => "the input is not serializable to JSON",
        })
    }
}

impl std::error::Error for ScheduleError {}
