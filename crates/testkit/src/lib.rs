//! What wasm-agent's tests and benches share: the path of an example guest, one way to wait for
//! a condition (in a thread or in a task), and the result type tests return.
//!
//! A dev-dependency only. It must not depend on `wasm-agent-host`: the host's own unit tests use
//! it, and through it they would link a second copy of the host whose types are not theirs.
//! Builders of invocations live with the types they build, in the host.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a test returns, so that it can use `?` on any error.
pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// How long a wait sleeps between two looks at its condition: short against the limits tests
/// give (seconds), long enough that polling a server's log or `/ping` costs it little.
const POLL: Duration = Duration::from_millis(10);

/// The example guest `name`, as `make guests` builds it into `guest-examples/dist`.
///
/// # Panics
///
/// If it is not there: the tests that need it cannot run without it.
pub fn guest(name: &str) -> PathBuf {
    // This crate is crates/testkit, two levels below the workspace root.
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../guest-examples/dist")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run `make guests` first",
        path.display()
    );
    path
}

/// Whether `condition` holds within `limit`, looking at it every few milliseconds from this
/// thread; it is looked at once more when the limit has passed, so a limit of zero still looks.
///
/// For tests of another process or thread. In async code use [`wait_for`], which leaves the
/// runtime's thread free between looks.
pub fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// Whether `condition` holds within `limit`, looking at it every few milliseconds from a tokio
/// task; it is looked at once more when the limit has passed.
///
/// The wait runs on tokio's clock, so in a test with paused time (`start_paused`) it advances
/// with that clock instead of the wall's.
pub async fn wait_for(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A condition that holds at once is seen even with no time to wait, and one that never
    /// holds is looked at again after the limit, then given up.
    #[test]
    fn eventually_looks_until_the_limit_and_once_after() {
        assert!(eventually(Duration::ZERO, || true));
        let mut looks = 0;
        assert!(!eventually(Duration::from_millis(30), || {
            looks += 1;
            false
        }));
        assert!(looks >= 2, "looked {looks} times");
        let mut countdown = 3;
        assert!(eventually(Duration::from_secs(60), || {
            countdown -= 1;
            countdown == 0
        }));
    }

    /// `wait_for` waits on tokio's clock: paused, an hour's limit passes at once, to the
    /// millisecond of that clock, and a condition that comes true on the way is seen.
    #[tokio::test(start_paused = true)]
    async fn wait_for_runs_on_tokios_clock() {
        let hour = Duration::from_secs(3600);
        let started = tokio::time::Instant::now();
        assert!(!wait_for(hour, || false).await);
        let waited = started.elapsed();
        assert!(waited >= hour && waited < hour + POLL * 2, "{waited:?}");
        let at = started + hour + Duration::from_secs(5);
        assert!(wait_for(hour, || tokio::time::Instant::now() >= at).await);
    }
}
