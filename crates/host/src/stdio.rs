//! Guest stdout and stderr, written line by line to the host's log with the request id of the
//! invocation in progress, up to a per-invocation byte budget.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::invocation;

/// A line longer than this is logged in pieces, so one endless line cannot grow without bound.
const MAX_LINE: usize = 8 << 10;

/// One of a guest's output streams, as the WASI context sees it.
#[derive(Debug, Clone)]
pub(crate) struct GuestLog {
    stream: &'static str,
    // Shared by stdout and stderr of one instance.
    scope: Arc<LogScope>,
}

/// What stdout and stderr of an instance log under: the invocation in progress, and what is
/// left of its byte budget. An instance kept for a session serves many invocations, so both are
/// reset at the start of each.
#[derive(Debug)]
pub(crate) struct LogScope {
    invocation: Mutex<Arc<invocation::Context>>,
    remaining: AtomicUsize,
    budget: usize,
    // Bumped by `begin`: a writer a guest keeps across invocations notices the new one.
    generation: AtomicUsize,
}

impl LogScope {
    /// Starts logging for `invocation`, with a full budget.
    pub(crate) fn begin(&self, invocation: Arc<invocation::Context>) {
        *self
            .invocation
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = invocation;
        self.remaining.store(self.budget, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn generation(&self) -> usize {
        self.generation.load(Ordering::Acquire)
    }

    fn invocation(&self) -> Arc<invocation::Context> {
        self.invocation
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl GuestLog {
    /// The stdout and stderr of one instance, sharing `budget` bytes per invocation.
    pub(crate) fn pair(
        invocation: Arc<invocation::Context>,
        budget: usize,
    ) -> (Self, Self, Arc<LogScope>) {
        let scope = Arc::new(LogScope {
            invocation: Mutex::new(invocation),
            remaining: AtomicUsize::new(budget),
            budget,
            generation: AtomicUsize::new(0),
        });
        let stdout = Self {
            stream: "stdout",
            scope: scope.clone(),
        };
        let stderr = Self {
            stream: "stderr",
            scope: scope.clone(),
        };
        (stdout, stderr, scope)
    }

    fn writer(&self) -> LineWriter {
        LineWriter {
            log: self.clone(),
            line: Vec::new(),
            truncated: false,
            generation: self.scope.generation(),
        }
    }

    /// Takes up to `wanted` bytes from the budget; returns how many were granted.
    fn take(&self, wanted: usize) -> usize {
        let mut granted = 0;
        let _ = self
            .scope
            .remaining
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                granted = left.min(wanted);
                Some(left - granted)
            });
        granted
    }
}

impl IsTerminal for GuestLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestLog {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.writer())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.writer())
    }
}

/// Collects bytes into lines and logs each complete one.
struct LineWriter {
    log: GuestLog,
    line: Vec<u8>,
    truncated: bool,
    generation: usize,
}

impl LineWriter {
    fn write_bytes(&mut self, bytes: &[u8]) {
        let generation = self.log.scope.generation();
        if generation != self.generation {
            // A new invocation: the last one's unfinished line is logged now, and its budget
            // warning may be given again.
            self.emit();
            self.truncated = false;
            self.generation = generation;
        }
        let granted = self.log.take(bytes.len());
        for chunk in bytes[..granted].split_inclusive(|b| *b == b'\n') {
            self.line.extend_from_slice(chunk);
            if self.line.ends_with(b"\n") || self.line.len() >= MAX_LINE {
                self.emit();
            }
        }
        if granted < bytes.len() && !self.truncated {
            self.truncated = true;
            self.emit();
            tracing::warn!(
                target: "guest",
                request_id = %self.log.scope.invocation().request_id,
                session_id = self.log.scope.invocation().session_id.as_deref().map(tracing::field::display),
                stream = self.log.stream,
                "guest output over the log budget; the rest is dropped"
            );
        }
    }

    fn emit(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.line);
        let text = text.trim_end();
        if text.is_empty() {
            self.line.clear();
            return;
        }
        let invocation = self.log.scope.invocation();
        tracing::info!(
            target: "guest",
            request_id = %invocation.request_id,
            session_id = invocation.session_id.as_deref().map(tracing::field::display),
            stream = self.log.stream,
            "{text}"
        );
        self.line.clear();
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        self.emit();
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LineWriter {
    async fn ready(&mut self) {}
}

impl OutputStream for LineWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        // Always ready: over budget, bytes are dropped rather than blocking or failing the guest
        // (Rust's `println!` panics when a write fails).
        Ok(64 << 10)
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().write_bytes(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation(request_id: &str) -> Arc<invocation::Context> {
        Arc::new(invocation::Context {
            request_id: request_id.into(),
            ..invocation::Context::default()
        })
    }

    /// Stdout and stderr of one invocation share the budget; what exceeds it is not granted.
    #[test]
    fn budget_is_shared_and_bounded() {
        let (out, err, scope) = GuestLog::pair(invocation("r"), 10);
        assert_eq!(out.take(6), 6);
        assert_eq!(err.take(6), 4);
        assert_eq!(out.take(1), 0);
        scope.begin(invocation("next"));
        assert_eq!(out.take(11), 10, "each invocation gets the whole budget");
    }

    /// A writer keeps at most one partial line, however much is written without a newline.
    #[test]
    fn partial_line_is_bounded() {
        let (out, _, _) = GuestLog::pair(invocation("r"), 1 << 20);
        let mut writer = out.writer();
        writer.write_bytes(&vec![b'x'; 3 * MAX_LINE + 5]);
        assert!(writer.line.len() < MAX_LINE);
    }
}
