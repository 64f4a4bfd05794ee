//! What can go wrong loading a component or running an invocation.

use std::time::Duration;

use thiserror::Error;

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
    /// The guest emitted or returned something that is not one JSON document.
    #[error("the handler produced invalid JSON: {0}")]
    InvalidOutput(String),
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
    /// The host itself failed (a bug, or a resource of the machine).
    #[error("internal error: {0}")]
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
            Self::Cancelled => "Cancelled",
            Self::ShuttingDown => "ShuttingDown",
            Self::Capacity(_) => "Capacity",
            Self::SessionBusy(_) => "SessionBusy",
            Self::Internal(_) => "Internal",
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
