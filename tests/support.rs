//! Finding the binary and the guests, and running commands with a bound on their time.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

// Shared with the host's tests and the benches: one place finds a guest and waits.
pub(crate) use wasm_agent_testkit::{TestResult, eventually, guest};

/// A hard bound on any one command, far above what a passing test needs, so that a broken
/// build fails instead of hanging CI.
pub(crate) const COMMAND_LIMIT: Duration = Duration::from_secs(120);

/// The `wasm-agent` binary cargo built for these tests.
pub(crate) fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wasm-agent"));
    // The tests choose every setting they depend on; the caller's environment must not.
    command
        .env_remove("WASM_AGENT_LOG")
        .env_remove("WASM_AGENT_WORKERS")
        .env_remove("WASM_AGENT_CONTROL_THREADS");
    command
}

/// Runs `command` to completion within `COMMAND_LIMIT`, capturing its output.
pub(crate) fn run(command: &mut Command) -> Result<Output, Box<dyn std::error::Error>> {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    wait_with_limit(child, COMMAND_LIMIT)
}

/// Waits for `child` for at most `limit`, killing it past that.
pub(crate) fn wait_with_limit(
    mut child: Child,
    limit: Duration,
) -> Result<Output, Box<dyn std::error::Error>> {
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out = std::thread::spawn(move || read_all(stdout.as_mut()));
    let err = std::thread::spawn(move || read_all(stderr.as_mut()));
    let status = wait_status(&mut child, limit)?;
    Ok(Output {
        status,
        stdout: out.join().map_err(|_| "stdout reader panicked")?,
        stderr: err.join().map_err(|_| "stderr reader panicked")?,
    })
}

/// Waits for `child` to exit for at most `limit`; kills it and fails past that.
pub(crate) fn wait_status(
    child: &mut Child,
    limit: Duration,
) -> Result<ExitStatus, Box<dyn std::error::Error>> {
    let mut exited = Ok(None);
    eventually(limit, || {
        exited = child.try_wait();
        !matches!(exited, Ok(None))
    });
    if let Some(status) = exited? {
        return Ok(status);
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(format!("the command did not exit within {limit:?}").into())
}

fn read_all(stream: Option<&mut impl Read>) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Some(stream) = stream {
        let _ = stream.read_to_end(&mut bytes);
    }
    bytes
}

/// Standard output as text.
pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Standard error as text.
pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// An empty scratch directory of this test process, named for the test that uses it.
pub(crate) fn scratch(name: &str) -> Result<PathBuf, std::io::Error> {
    let dir = std::env::temp_dir().join(format!("wasm-agent-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A listener on a free port of 127.0.0.1 and the one-thread runtime a mock server runs it on
/// (on a thread of its own), so a test's mock never shares a runtime with the test.
pub(crate) fn loopback_listener() -> Result<
    (
        tokio::runtime::Runtime,
        tokio::net::TcpListener,
        std::net::SocketAddr,
    ),
    Box<dyn std::error::Error>,
> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let address = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let listener = {
        let _context = runtime.enter();
        tokio::net::TcpListener::from_std(listener)?
    };
    Ok((runtime, listener, address))
}
