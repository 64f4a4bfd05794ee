//! What can go wrong loading a component or running an invocation.

use std::time::Duration;

use thiserror::Error;
use wasm_agent_contract::guest::Refusal;

/// Why a component could not be loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file named.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not a component at all, by its first bytes.
    #[error("{0}")]
    NotAComponent(&'static str),
    /// The bytes are not a valid WebAssembly component.
    #[error("not a valid WebAssembly component: {0}")]
    Invalid(String),
    /// The component is valid but is not a wasm-agent handler.
    #[error("not a wasm-agent handler: {0}")]
    NotAHandler(String),
    /// The component imports something the host does not provide.
    #[error("the component needs an import the host does not provide: {0}")]
    Link(String),
    /// The engine or worker pool could not be set up.
    #[error("cannot set up the runtime: {0}")]
    Engine(String),
    /// A precompiled component this host cannot load.
    #[error("{0}")]
    Precompiled(String),
    /// The instance pool the configuration asks for cannot be reserved: a configuration error.
    #[error("{0}")]
    Pool(String),
}

/// Why an invocation failed. Each variant is one cause, decided in one place (`classify`).
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum InvokeError {
    /// The invocation ran past its deadline.
    #[error("the handler did not finish within its deadline of {}", humanize(*.0))]
    Timeout(Duration),
    /// The invocation used up its fuel budget.
    #[error("the handler ran out of fuel (budget {0})")]
    FuelExhausted(u64),
    /// The guest asked for more linear memory than its limit.
    #[error("the handler ran out of memory (limit {} MiB)", .0 >> 20)]
    OutOfMemory(u64),
    /// The guest needed memory within its own limit, but the process-wide budget for all
    /// guests was in use by others: the server is busy, not the guest at fault.
    #[error("the server's memory budget for all handlers ({} MiB) is in use; try again", .0 >> 20)]
    MemoryBudget(u64),
    /// The guest overflowed its stack.
    #[error("the handler overflowed its stack ({0})")]
    StackOverflow(String),
    /// The guest trapped: a panic, `unreachable`, an out-of-bounds access.
    #[error("the handler trapped: {0}")]
    Trap(String),
    /// The guest returned a failure of its own.
    #[error("{message}")]
    Guest {
        /// HTTP status, 400 to 599.
        status: u16,
        /// The guest's message.
        message: String,
        /// The guest's error type, if it gave one.
        error_type: Option<String>,
    },
    /// The guest emitted or returned something the host does not forward: not one JSON
    /// document, an SSE field with a line break, a reply head HTTP does not allow.
    #[error("the handler produced invalid output: {0}")]
    InvalidOutput(String),
    /// The guest returned, emitted or passed the host more than the server takes in one piece.
    #[error("the handler's output is too large: {0}")]
    OutputTooLarge(String),
    /// The guest opened more async tasks than one instance may have open.
    #[error("the handler opened more than {0} async tasks without completing them")]
    TooManyTasks(usize),
    /// The caller cancelled the invocation (its client went away) and the guest did not return
    /// within the grace period.
    #[error("the invocation was cancelled")]
    Cancelled,
    /// The host was stopped ([`Host::cancel_all`](crate::Host::cancel_all), at shutdown) before
    /// the invocation completed: the server gave up on it, not the handler, and the same request
    /// may succeed on another try.
    #[error("the server is shutting down; try again")]
    ShuttingDown,
    /// No instance slot was free.
    #[error("no instance slot is free: {0}")]
    Capacity(String),
    /// The invocation's session already has as many invocations waiting as it may.
    #[error("session is busy: {0} invocations are already waiting for it; try again")]
    SessionBusy(usize),
    /// The host itself failed (a bug, or a resource of the machine). What failed is for the
    /// server's log ([`InvokeError::diagnostic`]), not the caller: it is wasmtime's or the
    /// operating system's text.
    #[error("internal error: the server could not run the handler")]
    Internal(String),
}

impl InvokeError {
    /// A short name for the kind of failure, for logs and the SDK's `error_type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Timeout(_) => "Timeout",
            Self::FuelExhausted(_) => "FuelExhausted",
            Self::OutOfMemory(_) => "OutOfMemory",
            Self::MemoryBudget(_) => "MemoryBudget",
            Self::StackOverflow(_) => "StackOverflow",
            Self::Trap(_) => "Trap",
            Self::Guest { .. } => "Guest",
            Self::InvalidOutput(_) => "InvalidOutput",
            Self::OutputTooLarge(_) => "OutputTooLarge",
            Self::TooManyTasks(_) => "TooManyTasks",
            Self::Cancelled => "Cancelled",
            Self::ShuttingDown => "ShuttingDown",
            Self::Capacity(_) => "Capacity",
            Self::SessionBusy(_) => "SessionBusy",
            Self::Internal(_) => "Internal",
        }
    }
}

impl InvokeError {
    /// The error as the server's log should record it: what the caller is told, and for an
    /// internal error what actually failed.
    pub fn diagnostic(&self) -> String {
        match self {
            Self::Internal(detail) => format!("{self} ({detail})"),
            other => other.to_string(),
        }
    }
}

impl From<Refusal> for InvokeError {
    fn from(refusal: Refusal) -> Self {
        if refusal.is_too_large() {
            Self::OutputTooLarge(refusal.to_string())
        } else {
            Self::InvalidOutput(refusal.to_string())
        }
    }
}

fn humanize(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What failed inside the server goes to its log, never to the caller.
    #[test]
    fn internal_detail_is_for_the_log_only() {
        let error = InvokeError::Internal("wasm backtrace: 0x1234 in __rust_start".into());
        assert_eq!(
            error.to_string(),
            "internal error: the server could not run the handler"
        );
        assert!(error.diagnostic().contains("0x1234 in __rust_start"));
        let guest = InvokeError::TooManyTasks(3);
        assert_eq!(guest.diagnostic(), guest.to_string());
    }

    /// A refusal of size is its own kind; any other refusal is invalid output.
    #[test]
    fn refusals_keep_their_kind() {
        let large = InvokeError::from(Refusal::TooLarge {
            what: "the result",
            size: 2048,
            limit: 1024,
        });
        assert_eq!(large.kind(), "OutputTooLarge");
        assert_eq!(
            large.to_string(),
            "the handler's output is too large: the result is larger than the 1 KiB the server \
             takes (2048 bytes)"
        );
        assert_eq!(
            InvokeError::from(Refusal::Status(99)).kind(),
            "InvalidOutput"
        );
    }
}
