//! The server's threads: how many run guest code and how many speak HTTP.

use std::time::Duration;

use crate::server::Server;
use crate::support::{TestResult, binary, eventually, guest, run, stderr};

/// The number of the server's threads whose name starts with `prefix` (Linux truncates thread
/// names to 15 bytes, so `wasm-agent-work`, `wasm-agent-cont`).
fn threads_named(server: &Server, prefix: &str) -> Result<usize, Box<dyn std::error::Error>> {
    let mut count = 0;
    for task in std::fs::read_dir(format!("/proc/{}/task", server.child.id()))? {
        let name = std::fs::read_to_string(task?.path().join("comm"))?;
        if name.trim_end().starts_with(prefix) {
            count += 1;
        }
    }
    Ok(count)
}

/// Serves the echo guest with `flags`, and checks the server's threads of each kind. A thread
/// names itself once it first runs, which a loaded machine may delay: the count is waited for,
/// and a wrong count that never settles fails.
fn assert_threads(flags: &[&str], workers: usize, control: usize) -> TestResult {
    let server = Server::start("echo", flags)?;
    assert_eq!(server.invoke(r#"{"n":1}"#)?.status, 200);
    let counts = || -> (usize, usize) {
        (
            threads_named(&server, "wasm-agent-work").unwrap_or(0),
            threads_named(&server, "wasm-agent-cont").unwrap_or(0),
        )
    };
    eventually(Duration::from_secs(20), || counts() == (workers, control));
    assert_eq!(counts(), (workers, control), "(workers, control threads)");
    Ok(())
}

/// What the server picks for each kind when left to it: `(workers, control)`.
fn defaults() -> Result<(usize, usize), std::io::Error> {
    let cores = std::thread::available_parallelism()?.get();
    Ok((cores, (cores / 4).max(1)))
}

#[test]
fn thread_counts_follow_the_flags() -> TestResult {
    // One more of each than the defaults would give, so ignored flags cannot pass.
    let (workers, control) = defaults()?;
    let (workers, control) = (workers + 1, control + 1);
    assert_threads(
        &[
            "--workers",
            &workers.to_string(),
            "--control-threads",
            &control.to_string(),
        ],
        workers,
        control,
    )
}

#[test]
fn an_absurd_thread_count_is_refused() -> TestResult {
    let output = run(binary().args([
        "serve",
        &guest("echo").display().to_string(),
        "--control-threads",
        "1000000",
    ]))?;
    assert_eq!(output.status.code(), Some(64), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("--control-threads"),
        "{}",
        stderr(&output)
    );
    Ok(())
}

/// Left to the server, HTTP gets one thread per four cores (at least one) and guest code one
/// per core: a second HTTP thread on a small machine only adds wake-ups between the two.
#[test]
fn thread_counts_by_default_follow_the_cores() -> TestResult {
    let (workers, control) = defaults()?;
    assert_threads(&[], workers, control)
}
