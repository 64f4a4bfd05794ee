//! `wasm-agent serve` under pressure: disconnects, a full server, load on `/ping`, shutdown.

use std::io::BufReader;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::server::{Server, one_load_test_at_a_time, read_chunk, read_head, send};
use crate::support::{TestResult, binary, eventually, guest, wait_status};

/// Flags of a server with room for one invocation and no queue, so a held instance shows.
const ONE_AT_A_TIME: &[&str] = &[
    "--max-concurrency",
    "1",
    "--max-queue",
    "0",
    "--cancel-grace",
    "200ms",
    "--timeout",
    "60s",
];

/// Starts an invocation and waits for its first event, holding the connection.
fn first_event(
    server: &Server,
    body: &str,
) -> Result<BufReader<TcpStream>, Box<dyn std::error::Error>> {
    let mut stream = server.connect()?;
    send(&mut stream, "POST", "/invocations", &[], body.as_bytes())?;
    let mut reader = BufReader::new(stream);
    let status = read_head(&mut reader)?.status;
    if status != 200 {
        return Err(format!("status {status}").into());
    }
    read_chunk(&mut reader)?.ok_or("no first event")?;
    Ok(reader)
}

/// Whether an invocation of a silent guest is admitted: refused ones are answered at once,
/// admitted ones are not answered within a second.
fn is_admitted(server: &Server) -> Result<bool, Box<dyn std::error::Error>> {
    let mut stream = server.connect()?;
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    send(&mut stream, "POST", "/invocations", &[], b"{}")?;
    match read_head(&mut BufReader::new(stream)) {
        Ok(head) => Ok(head.status != 503),
        Err(_) => Ok(true),
    }
}

/// A client that disconnects mid-stream frees its instance: the next invocation is admitted.
/// The guest would otherwise run for its whole minute-long deadline.
#[test]
fn disconnect_mid_stream_frees_the_worker() -> TestResult {
    let _load = one_load_test_at_a_time();
    let server = Server::start("stream", ONE_AT_A_TIME)?;
    let held = first_event(&server, r#"{"count": 100000, "pause_ms": 100}"#)?;
    assert_eq!(
        server.invoke(r#"{"count": 1}"#)?.status,
        503,
        "the one slot is taken"
    );
    drop(held);
    let admitted = eventually(Duration::from_secs(20), || {
        server
            .invoke(r#"{"count": 1}"#)
            .is_ok_and(|r| r.status == 200)
    });
    assert!(admitted, "the disconnected stream still holds the slot");
    Ok(())
}

/// A client that disconnects from a silent, spinning guest frees it too: the server watches
/// the connection, not only failed writes.
#[test]
fn disconnect_from_a_silent_spinner_frees_the_worker() -> TestResult {
    let _load = one_load_test_at_a_time();
    let server = Server::start("spin", ONE_AT_A_TIME)?;
    let mut stream = server.connect()?;
    send(&mut stream, "POST", "/invocations", &[], b"{}")?;
    server.expect_log("spinning")?;
    assert_eq!(
        server.invoke("{}")?.status,
        503,
        "the spinner holds the slot"
    );
    drop(stream);
    let freed = eventually(Duration::from_secs(20), || {
        is_admitted(&server).unwrap_or(false)
    });
    assert!(freed, "the spinner was not cut off after its client left");
    Ok(())
}

/// Past the limit the server answers 503 with Retry-After at once, and recovers when the
/// holder leaves.
#[test]
fn full_server_refuses_then_recovers() -> TestResult {
    let _load = one_load_test_at_a_time();
    let server = Server::start("spin", ONE_AT_A_TIME)?;
    let held = first_event(&server, r#"{"emit_first": true}"#)?;
    let started = Instant::now();
    let refused = server.invoke(r#"{"emit_first": true}"#)?;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a refusal must not wait"
    );
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(refused.json()?["error"], "the server is busy");
    drop(held);
    let recovered = eventually(Duration::from_secs(20), || {
        first_event(&server, r#"{"emit_first": true}"#).is_ok()
    });
    assert!(recovered, "the server did not recover when the holder left");
    Ok(())
}

/// `/ping` answers promptly while every instance runs a spinning guest and the queue is full
/// (a generous bound per ping; the real figures are in bench/), and again with sleeping guests.
#[test]
fn ping_stays_fast_under_full_load() -> TestResult {
    let _load = one_load_test_at_a_time();
    for (guest, payload) in [("spin", "{}"), ("sleep", r#"{"ms": 6000}"#)] {
        let flags = [
            "--max-concurrency",
            "8",
            "--max-queue",
            "8",
            "--timeout",
            "8s",
        ];
        let server = Server::start(guest, &flags)?;
        let mut clients = Vec::new();
        for _ in 0..16 {
            let mut stream = server.connect()?;
            send(&mut stream, "POST", "/invocations", &[], payload.as_bytes())?;
            clients.push(stream);
        }
        // Eight guests running (each says so as it starts); the other eight then queue behind
        // them, which nothing shows, so a moment more is given to them.
        let started = eventually(Duration::from_secs(30), || {
            let log = server.log();
            log.matches("guest: sleeping").count() + log.matches("guest: spinning").count() >= 8
        });
        assert!(started, "{guest}: eight guests did not start");
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            server.invoke(payload)?.status,
            503,
            "{guest}: the server should be full"
        );
        for round in 0..40 {
            let started = Instant::now();
            let ping = server.request("GET", "/ping", &[], b"")?;
            let took = started.elapsed();
            assert_eq!(ping.status, 200);
            assert!(
                took < Duration::from_millis(500),
                "{guest}: ping {round} took {took:?}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }
    Ok(())
}

/// SIGTERM lets an in-flight invocation finish, refuses new connections, and exits 0.
#[test]
fn graceful_shutdown_finishes_in_flight_work() -> TestResult {
    let _load = one_load_test_at_a_time();
    let mut server = Server::start("sleep", &["--shutdown-grace", "10s"])?;
    let mut stream = server.connect()?;
    send(&mut stream, "POST", "/invocations", &[], br#"{"ms": 1500}"#)?;
    server.expect_log("sleeping 1500 ms")?;
    server.terminate()?;
    assert!(
        eventually(Duration::from_secs(10), || TcpStream::connect(
            server.address
        )
        .is_err()),
        "new connections must be refused"
    );
    let mut reader = BufReader::new(stream);
    let head = read_head(&mut reader)?;
    assert_eq!(head.status, 200, "the in-flight invocation completes");
    let status = wait_status(&mut server.child, Duration::from_secs(30))?;
    assert_eq!(status.code(), Some(0), "the server's exit code");
    Ok(())
}

/// Work that outlives the shutdown grace is cancelled, and the server still exits 0, soon: a
/// guest that ignores cancellation gets half a second, not the cancel grace a client's
/// disconnect allows (a minute here, which the exit would otherwise wait out).
#[test]
fn shutdown_cancels_what_outlives_the_grace() -> TestResult {
    let _load = one_load_test_at_a_time();
    let mut server = Server::start(
        "spin",
        &[
            "--shutdown-grace",
            "500ms",
            "--cancel-grace",
            "60s",
            "--timeout",
            "120s",
        ],
    )?;
    let mut stream = server.connect()?;
    send(&mut stream, "POST", "/invocations", &[], b"{}")?;
    server.expect_log("spinning")?;
    let started = Instant::now();
    server.terminate()?;
    let status = wait_status(&mut server.child, Duration::from_secs(50))?;
    assert_eq!(status.code(), Some(0), "the server's exit code");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "exited after {:?}",
        started.elapsed()
    );
    let mut reader = BufReader::new(stream);
    let head = read_head(&mut reader)?;
    assert_eq!(
        head.status, 503,
        "the cancelled invocation is answered as retryable"
    );
    server.expect_log("cancelling")?;
    Ok(())
}

/// The soft and hard limits on open files, from /proc/PID/limits.
fn open_files_limits(pid: u32) -> Result<(String, String), Box<dyn std::error::Error>> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits"))?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .ok_or("no open files line")?;
    let mut values = line["Max open files".len()..].split_whitespace();
    let soft = values.next().ok_or("no soft limit")?.to_owned();
    let hard = values.next().ok_or("no hard limit")?.to_owned();
    Ok((soft, hard))
}

/// Started with the low soft limit many service managers leave, the server raises it to the
/// hard limit, so a thousand connections in flight are not refused for want of descriptors.
#[test]
fn the_open_files_limit_is_raised_to_the_hard_limit() -> TestResult {
    let served = binary();
    let mut command = Command::new("bash");
    // The same environment as every other test's server.
    for (name, value) in served.get_envs() {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    command
        .args(["-c", r#"ulimit -S -n 256 && exec "$0" "$@""#])
        .arg(served.get_program())
        .args(["serve", "--port", "0"])
        .arg(guest("echo"));
    let server = Server::spawn(command)?;
    let (soft, hard) = open_files_limits(server.child.id())?;
    assert_eq!(
        soft, hard,
        "the soft limit of open files against the hard one"
    );
    assert_ne!(soft, "256");
    let reply = server.invoke("{}")?;
    assert_eq!(reply.status, 200);
    Ok(())
}
