//! The server's threads: how many run guest code and how many speak HTTP.

use crate::server::Server;
use crate::support::TestResult;

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

#[test]
fn thread_counts_follow_the_flags() -> TestResult {
    let server = Server::start("echo", &["--workers", "3", "--control-threads", "2"])?;
    assert_eq!(server.invoke(r#"{"n":1}"#)?.status, 200);
    assert_eq!(threads_named(&server, "wasm-agent-work")?, 3);
    assert_eq!(threads_named(&server, "wasm-agent-cont")?, 2);
    Ok(())
}

/// Left to the server, HTTP gets one thread per four cores (at least one) and guest code one
/// per core: a second HTTP thread on a small machine only adds wake-ups between the two.
#[test]
fn thread_counts_by_default_follow_the_cores() -> TestResult {
    let cores = std::thread::available_parallelism()?.get();
    let server = Server::start("echo", &[])?;
    assert_eq!(server.invoke(r#"{"n":1}"#)?.status, 200);
    assert_eq!(threads_named(&server, "wasm-agent-work")?, cores);
    assert_eq!(
        threads_named(&server, "wasm-agent-cont")?,
        (cores / 4).max(1)
    );
    Ok(())
}
