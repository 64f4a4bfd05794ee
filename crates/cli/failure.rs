//! [`Failure`]: why a command did not succeed, and so the exit status the process ends with.
//! Commands return one; `main` prints it and exits with its status, so each status is decided
//! here and printed the same way everywhere.

use std::fmt;
use std::path::Path;
use std::process::ExitCode;

use wasm_agent_host::LoadError;

/// What kind of failure, which decides the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A command line or configuration that does not make sense.
    Usage,
    /// A component (or module) that cannot be served or converted: the input is at fault.
    Component,
    /// Anything else: an invocation that failed, a file that cannot be written, the machine.
    Failed,
}

impl Kind {
    /// The exit status: sysexits' EX_USAGE and EX_DATAERR, so a script can tell a mistake in
    /// its own flags or input from a failure that may pass on another try.
    pub(crate) fn code(self) -> u8 {
        match self {
            Self::Usage => 64,
            Self::Component => 65,
            Self::Failed => 1,
        }
    }
}

/// Why a command did not succeed: its kind and the error, with the chain of its causes.
#[derive(Debug)]
pub(crate) struct Failure {
    kind: Kind,
    error: anyhow::Error,
}

impl Failure {
    /// A failure of `kind`.
    pub(crate) fn new(kind: Kind, error: impl Into<anyhow::Error>) -> Self {
        Self {
            kind,
            error: error.into(),
        }
    }

    /// A command line or configuration that does not make sense.
    pub(crate) fn usage(error: impl Into<anyhow::Error>) -> Self {
        Self::new(Kind::Usage, error)
    }

    /// An input that cannot be served or converted.
    pub(crate) fn component(error: impl Into<anyhow::Error>) -> Self {
        Self::new(Kind::Component, error)
    }

    /// The component at `path` could not be loaded. It is named, unless the configuration is at
    /// fault rather than the file.
    pub(crate) fn load(path: &Path, error: LoadError) -> Self {
        let failure = Self::from(error);
        match failure.kind {
            Kind::Usage => failure,
            _ => failure.context(path.display().to_string()),
        }
    }

    /// The same failure, its message preceded by `context`.
    pub(crate) fn context(self, context: String) -> Self {
        Self {
            kind: self.kind,
            error: self.error.context(context),
        }
    }

    /// Prints the failure for a person, on one line with its causes, and gives the exit status.
    pub(crate) fn report(&self) -> ExitCode {
        eprintln!("error: {self:#}");
        ExitCode::from(self.kind.code())
    }

    /// Prints the failure and ends the process now, for a command whose threads may not end
    /// on their own (returning would wait for them while unwinding).
    pub(crate) fn exit(self) -> ! {
        self.report();
        std::process::exit(i32::from(self.kind.code()))
    }
}

impl fmt::Display for Failure {
    /// The error; with `{:#}`, followed by each of its causes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

/// Anything a command did not classify failed for a reason other than its input.
impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Self::new(Kind::Failed, error)
    }
}

/// A pool the address space cannot hold is sized by the flags, so it is a usage error; every
/// other load error is the component's (a file that cannot be read is not a component either).
impl From<LoadError> for Failure {
    fn from(error: LoadError) -> Self {
        let kind = match error {
            LoadError::Pool { .. } => Kind::Usage,
            LoadError::Read { .. }
            | LoadError::NotAComponent(_)
            | LoadError::Invalid(_)
            | LoadError::NotAHandler { .. }
            | LoadError::Link(_)
            | LoadError::Target { .. }
            | LoadError::Engine(_)
            | LoadError::Precompiled { .. } => Kind::Component,
        };
        Self::new(kind, error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A load error's message as `main` prints it, without the `error: ` prefix.
    fn printed(failure: &Failure) -> String {
        format!("{failure:#}")
    }

    /// A pool that cannot be reserved is a usage error, printed without the file's name: the
    /// flags are at fault, not the file.
    #[test]
    fn a_pool_is_a_usage_error() {
        let error = LoadError::Pool {
            explanation: "lower --max-sessions".into(),
            source: "out of address space".into(),
        };
        let failure = Failure::load(Path::new("echo.wasm"), error);
        assert_eq!(failure.kind.code(), 64);
        assert_eq!(
            printed(&failure),
            "cannot reserve the instance pool: lower --max-sessions: out of address space"
        );
    }

    /// A component that cannot be loaded is a data error, named by its path, with every cause.
    #[test]
    fn a_component_is_a_data_error_named_by_its_path() {
        let failure = Failure::load(
            Path::new("bad.wasm"),
            LoadError::Invalid("invalid section: unexpected end".into()),
        );
        assert_eq!(failure.kind, Kind::Component);
        assert_eq!(failure.kind.code(), 65);
        assert_eq!(
            printed(&failure),
            "bad.wasm: not a valid WebAssembly component: invalid section: unexpected end"
        );
    }

    /// A file that cannot be read is, as under `serve` and `invoke` always, a data error whose
    /// message still carries what the OS said.
    #[test]
    fn an_unreadable_file_is_a_data_error() {
        let error = LoadError::Read {
            path: "missing.wasm".into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        };
        let failure = Failure::load(Path::new("missing.wasm"), error);
        assert_eq!(failure.kind.code(), 65);
        assert_eq!(
            printed(&failure),
            "missing.wasm: cannot read missing.wasm: no such file"
        );
    }

    /// What a command did not classify fails with status 1; usage errors are 64.
    #[test]
    fn unclassified_errors_fail_and_usage_is_64() {
        let failed = Failure::from(anyhow::anyhow!("cannot write out.cwasm"));
        assert_eq!(failed.kind.code(), 1);
        assert_eq!(printed(&failed), "cannot write out.cwasm");
        let usage = Failure::usage(anyhow::anyhow!("--workers must be 0 to 1024"));
        assert_eq!(usage.kind.code(), 64);
    }
}
