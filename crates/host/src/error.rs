//! What can go wrong loading a component or running an invocation.

use std::time::Duration;

use thiserror::Error;
use wasm_agent_contract::guest::Refusal;

/// What wasmtime (or another library) said went wrong beneath a [`LoadError`]: boxed, so
/// wasmtime's types stay out of the public API while its reasons stay in the error's chain.
type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a component could not be loaded. Each variant's text says what failed in our words; what
/// a library said beneath it is its [`source`](std::error::Error::source), so a reader prints the
/// whole chain (`{:#}` with anyhow, or a walk of `source()`).
#[derive(Debug, Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file named.
        path: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a component at all, by its first bytes.
    #[error("not a component: the file is {0}")]
    NotAComponent(&'static str),
    /// The bytes are not a valid WebAssembly component.
    #[error("not a valid WebAssembly component")]
    Invalid(#[source] Cause),
    /// The component is valid but is not a wasm-agent handler.
    #[error("not a wasm-agent handler: {reason}")]
    NotAHandler {
        /// What it lacks, in our words.
        reason: String,
        /// wasmtime's reason, when an export has the wrong type.
        #[source]
        source: Option<Cause>,
    },
    /// The component imports something the host does not provide.
    #[error("the component needs an import the host does not provide")]
    Link(#[source] Cause),
    /// The compilation target asked for is one wasmtime cannot compile for.
    #[error("cannot compile for the target {target}")]
    Target {
        /// The target triple asked for.
        target: String,
        /// wasmtime's reason.
        #[source]
        source: Cause,
    },
    /// The engine, its linker or the host's threads could not be set up.
    #[error("cannot set up the runtime")]
    Engine(#[source] Cause),
    /// A precompiled component this host cannot load, or native code under the wrong name.
    #[error("cannot load precompiled code: {reason}")]
    Precompiled {
        /// What is wrong and what to do, in our words.
        reason: String,
        /// wasmtime's reason, when it refused the code.
        #[source]
        source: Option<Cause>,
    },
    /// The instance pool the configuration asks for cannot be reserved: a configuration error.
    #[error("cannot reserve the instance pool: {explanation}")]
    Pool {
        /// How much the configuration asks for, and which flags to lower.
        explanation: String,
        /// wasmtime's reason.
        #[source]
        source: Cause,
    },
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
    /// As many invocations were running in fresh instances, and waiting for one, as the host
    /// admits ([`HostConfig::max_concurrency`], [`HostConfig::max_queue`]), or the wait ran
    /// past the invocation's deadline.
    ///
    /// [`HostConfig::max_concurrency`]: crate::HostConfig::max_concurrency
    /// [`HostConfig::max_queue`]: crate::HostConfig::max_queue
    #[error("the server is busy")]
    Busy,
    /// No slot was free for what the invocation needed: a session, a WebSocket connection, an
    /// instance.
    #[error("no instance slot is free: {0}")]
    Capacity(String),
    /// The invocation's session already has as many invocations waiting as it may.
    #[error("session is busy: {0} invocations are already waiting for it; try again")]
    SessionBusy(usize),
    /// The component does not export what the call needs (a WebSocket handler).
    #[error("the handler does not serve {0}")]
    Unsupported(&'static str),
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
            Self::Busy => "Busy",
            Self::Capacity(_) => "Capacity",
            Self::SessionBusy(_) => "SessionBusy",
            Self::Unsupported(_) => "Unsupported",
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

    /// The error and every source beneath it, as a person reads them: what `{:#}` prints.
    fn chain(error: &dyn std::error::Error) -> String {
        let mut text = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            text = format!("{text}: {cause}");
            source = cause.source();
        }
        text
    }

    /// A read error keeps the OS's error as its source: printed with its chain it reads as the
    /// old one-line message did.
    #[test]
    fn read_error_keeps_the_io_error_as_its_source() {
        let error = LoadError::Read {
            path: "handler.wasm".into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        };
        assert_eq!(error.to_string(), "cannot read handler.wasm");
        assert_eq!(chain(&error), "cannot read handler.wasm: no such file");
        let source = std::error::Error::source(&error);
        assert!(source.is_some_and(|s| s.is::<std::io::Error>()));
    }

    /// A wasmtime error becomes the source, with its own context chain intact.
    #[test]
    fn wasmtime_error_is_the_source_with_its_chain() {
        let wasmtime = wasmtime::Error::msg("unexpected end").context("invalid section");
        let error = LoadError::Invalid(wasmtime.into());
        assert_eq!(error.to_string(), "not a valid WebAssembly component");
        assert_eq!(
            chain(&error),
            "not a valid WebAssembly component: invalid section: unexpected end"
        );
    }

    /// A sentence of our own stays in the message, and wasmtime's reason follows it.
    #[test]
    fn our_sentence_comes_first_then_the_source() {
        let pool = LoadError::Pool {
            explanation: "lower --max-sessions".into(),
            source: wasmtime::Error::msg("mmap failed").into(),
        };
        assert_eq!(
            chain(&pool),
            "cannot reserve the instance pool: lower --max-sessions: mmap failed"
        );
        let misnamed = LoadError::Precompiled {
            reason: "a.wasm holds precompiled native code".into(),
            source: None,
        };
        assert_eq!(
            chain(&misnamed),
            "cannot load precompiled code: a.wasm holds precompiled native code"
        );
    }

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
