//! The host functions of the `wasm-agent:handler/host` interface.

use wasmtime::format_err;

use crate::bindings::{EmitError, HostImports, TypesHost};
use crate::events::SendError;
use crate::json;
use crate::state::InvocationState;

impl TypesHost for InvocationState {}

impl HostImports for InvocationState {
    async fn emit(&mut self, data: String) -> wasmtime::Result<Result<(), EmitError>> {
        if let Err(error) = json::check_document(&data) {
            let reason = format!("an emitted event is not one JSON document: {error}");
            self.invalid_output = Some(reason.clone());
            // Trapping stops the guest: its output can no longer be trusted to be what it meant.
            return Err(format_err!(reason));
        }
        let sent = self.events.send(data).await;
        if sent.is_ok() {
            self.deadline.start_streaming();
        }
        Ok(sent.map_err(|SendError::Closed| EmitError::Closed))
    }

    async fn add_async_task(
        &mut self,
        name: String,
        metadata: Option<String>,
    ) -> wasmtime::Result<i64> {
        if let Some(text) = &metadata
            && let Err(error) = json::check_document(text)
        {
            let reason = format!("async task metadata is not one JSON document: {error}");
            self.invalid_output = Some(reason.clone());
            return Err(format_err!(reason));
        }
        let id = self.tasks.add(name.clone(), metadata);
        tracing::info!(request_id = %self.request_id, task_id = id, name, "async task started");
        Ok(id)
    }

    async fn complete_async_task(&mut self, id: i64) -> wasmtime::Result<bool> {
        let completed = self.tasks.complete(id);
        if completed {
            tracing::info!(request_id = %self.request_id, task_id = id, "async task completed");
        }
        Ok(completed)
    }

    async fn report_panic(&mut self, message: String) -> wasmtime::Result<()> {
        // Bounded: the message ends up in an HTTP error body and a log line.
        const MAX_PANIC_MESSAGE: usize = 4 << 10;
        let mut message = message;
        if message.len() > MAX_PANIC_MESSAGE {
            let mut cut = MAX_PANIC_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        self.panic_message = Some(message);
        Ok(())
    }
}
