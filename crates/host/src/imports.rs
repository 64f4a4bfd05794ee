//! The host functions of the `wasm-agent:handler/host` interface.

use wasm_agent_contract::guest;
use wasmtime::format_err;

use crate::bindings::{
    EmitError, HostImports, MessageWit, PingStatusWit, Received, ReplyHeadWit, ScheduleError,
    SocketImports, SseEvent, TypesHost,
};
use crate::error::InvokeError;
use crate::events::SendError;
use crate::invocation::ReplyHead;
use crate::shared::{GuestStatus, Launch, Scheduled};
use crate::socket::{Closed, Message};
use crate::state::InvocationState;
use crate::tasks::TrackedTask;

/// Bytes of a panic message kept: it ends up in an HTTP error body and a log line.
const MAX_PANIC_MESSAGE: usize = 4 << 10;

impl TypesHost for InvocationState {}

impl InvocationState {
    /// Refuses what the guest handed over: records why and traps, since output that is not
    /// what the guest meant cannot be forwarded, and a guest past a limit must not go on.
    fn refuse(&mut self, error: impl Into<InvokeError>) -> wasmtime::Error {
        let error = error.into();
        let message = error.to_string();
        self.call.refused = Some(error);
        format_err!(message)
    }

    async fn send_event(
        &mut self,
        data: String,
        name: Option<String>,
        id: Option<String>,
    ) -> wasmtime::Result<Result<(), EmitError>> {
        let limit = self.shared.config.max_event_bytes;
        if let Err(refusal) = guest::check_event(&data, name.as_deref(), id.as_deref(), limit) {
            return Err(self.refuse(refusal));
        }
        let Some(events) = &self.call.events else {
            return Ok(Err(EmitError::Closed));
        };
        let sent = events.send(data, name, id).await;
        if sent.is_ok() {
            self.call.has_emitted = true;
            self.call.deadline.start_streaming();
        }
        Ok(sent.map_err(|SendError::Closed| EmitError::Closed))
    }
}

impl HostImports for InvocationState {
    async fn emit(&mut self, data: String) -> wasmtime::Result<Result<(), EmitError>> {
        self.send_event(data, None, None).await
    }

    async fn emit_event(&mut self, event: SseEvent) -> wasmtime::Result<Result<(), EmitError>> {
        self.send_event(event.data, event.name, event.id).await
    }

    async fn set_reply_head(&mut self, head: ReplyHeadWit) -> wasmtime::Result<()> {
        if let Err(refusal) =
            guest::check_reply_head(head.status, head.content_type.as_deref(), &head.headers)
        {
            return Err(self.refuse(refusal));
        }
        self.call.reply_head = Some(ReplyHead {
            status: head.status,
            content_type: head.content_type,
            headers: head.headers,
        });
        Ok(())
    }

    async fn add_async_task(
        &mut self,
        name: String,
        metadata: Option<String>,
    ) -> wasmtime::Result<i64> {
        if let Err(refusal) = guest::check_task(&name, metadata.as_deref()) {
            return Err(self.refuse(refusal));
        }
        let limit = self.shared.config.max_async_tasks;
        if self.tasks.is_full(limit) {
            tracing::warn!(
                request_id = %self.call.context.request_id,
                limit,
                "async task refused: the instance has as many open as it may"
            );
            return Err(self.refuse(InvokeError::TooManyTasks(limit)));
        }
        let id = self.tasks.add(name.clone(), metadata);
        tracing::info!(request_id = %self.call.context.request_id, task_id = id, name, "async task started");
        Ok(id)
    }

    async fn complete_async_task(&mut self, id: i64) -> wasmtime::Result<bool> {
        let completed = self.tasks.complete(id);
        if completed {
            tracing::info!(request_id = %self.call.context.request_id, task_id = id, "async task completed");
        }
        Ok(completed)
    }

    async fn report_panic(&mut self, message: String) -> wasmtime::Result<()> {
        let mut message = message;
        if message.len() > MAX_PANIC_MESSAGE {
            message = wasm_agent_contract::text::cut(message, MAX_PANIC_MESSAGE);
            message.push('…');
        }
        self.call.panic_message = Some(message);
        Ok(())
    }

    async fn set_ping_status(&mut self, status: Option<PingStatusWit>) -> wasmtime::Result<()> {
        let status = status.map(|status| match status {
            PingStatusWit::Healthy => GuestStatus::Healthy,
            PingStatusWit::HealthyBusy => GuestStatus::HealthyBusy,
        });
        if self.status.set(status) {
            tracing::info!(request_id = %self.call.context.request_id, ?status, "guest set the ping status");
        }
        Ok(())
    }

    async fn schedule(
        &mut self,
        task: String,
        input: String,
    ) -> wasmtime::Result<Result<(), ScheduleError>> {
        // The task's name is kept as an open task's until the work ends, and its input until
        // the work starts: both are held to what tasks and events may be.
        let checked = guest::check_task(&task, None).and_then(|()| {
            let limit = self.shared.config.max_event_bytes;
            guest::check_size("background work's input", input.as_bytes(), limit)
        });
        if let Err(refusal) = checked {
            return Err(self.refuse(refusal));
        }
        let Some(slots) = &self.shared.background else {
            return Ok(Err(ScheduleError::Unsupported));
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(
                request_id = %self.call.context.request_id,
                task,
                limit = self.shared.config.max_background,
                "background work refused: every slot is taken"
            );
            return Ok(Err(ScheduleError::Busy));
        };
        let tracked = TrackedTask::open(&self.shared.tasks, format!("background:{task}"));
        tracing::info!(
            request_id = %self.call.context.request_id,
            task_id = tracked.id(),
            task,
            "background work scheduled"
        );
        let work = Scheduled {
            task,
            input,
            _slot: slot,
            _tracked: tracked,
        };
        if self.call.events.is_some() {
            // After the response: the invocation's caller is waiting for it.
            self.call.scheduled.push(work);
        } else {
            // A WebSocket handler or background work has no response to wait for, and may run
            // for hours: its work starts now.
            self.shared.launch(Launch {
                work,
                context: self.call.context.clone(),
            });
        }
        Ok(Ok(()))
    }
}

impl SocketImports for InvocationState {
    async fn receive(&mut self, timeout_ms: Option<u32>) -> wasmtime::Result<Received> {
        let Some(socket) = &mut self.call.socket else {
            return Ok(Received::Closed);
        };
        let received = match timeout_ms {
            None => socket.receive().await,
            Some(ms) => {
                let wait = std::time::Duration::from_millis(u64::from(ms));
                match tokio::time::timeout(wait, socket.receive()).await {
                    Ok(received) => received,
                    Err(_) => return Ok(Received::TimedOut),
                }
            }
        };
        Ok(match received {
            Some(Message::Text(text)) => Received::Message(MessageWit::Text(text)),
            Some(Message::Binary(bytes)) => Received::Message(MessageWit::Binary(bytes)),
            None => Received::Closed,
        })
    }

    async fn send(&mut self, message: MessageWit) -> wasmtime::Result<Result<(), EmitError>> {
        let Some(socket) = &self.call.socket else {
            return Ok(Err(EmitError::Closed));
        };
        let bytes = match &message {
            MessageWit::Text(text) => text.as_bytes(),
            MessageWit::Binary(bytes) => bytes.as_slice(),
        };
        let limit = self.shared.config.max_event_bytes;
        if let Err(refusal) = guest::check_size("a WebSocket message", bytes, limit) {
            return Err(self.refuse(refusal));
        }
        let message = match message {
            MessageWit::Text(text) => Message::Text(text),
            MessageWit::Binary(bytes) => Message::Binary(bytes),
        };
        Ok(socket
            .send(message)
            .await
            .map_err(|Closed| EmitError::Closed))
    }
}
