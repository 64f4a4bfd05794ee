//! `wasm-agent serve` against clients that hold connections without using them: a head or a
//! body sent slowly, a connection left idle, more connections than the limit, and a body
//! declared too large to be waited for.

use std::io::{BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::server::{Response, Server, read_body, read_head};
use crate::support::{TestResult, binary, eventually, guest, run, stderr};

/// Far longer than any cut-off these tests set takes to happen, however busy the machine.
const LIMIT: Duration = Duration::from_secs(30);
/// How often a slow client sends its next byte or line.
const TRICKLE: Duration = Duration::from_millis(200);

/// A client's connection, kept open between requests (HTTP/1.1 keep-alive).
struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    opened: Instant,
}

impl Connection {
    fn open(server: &Server) -> std::io::Result<Self> {
        let writer = server.connect()?;
        let opened = Instant::now();
        Ok(Self {
            reader: BufReader::new(writer.try_clone()?),
            writer,
            opened,
        })
    }

    /// Sends a request that keeps the connection open and reads the whole response.
    fn request(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<Response, Box<dyn std::error::Error>> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        self.writer.write_all(head.as_bytes())?;
        self.writer.write_all(body)?;
        let mut response = read_head(&mut self.reader)?;
        response.body = read_body(&mut self.reader, &response)?;
        Ok(response)
    }

    fn ping(&mut self) -> Result<u16, Box<dyn std::error::Error>> {
        Ok(self.request("GET", "/ping", b"")?.status)
    }

    /// Whether the server has closed the connection, waiting at most `wait` to find out. Bytes
    /// the server sends first are an error: a closed connection says nothing.
    fn is_closed(&mut self, wait: Duration) -> Result<bool, Box<dyn std::error::Error>> {
        self.writer.set_read_timeout(Some(wait))?;
        let mut byte = [0; 1];
        match self.reader.read(&mut byte) {
            Ok(0) => Ok(true),
            Ok(_) => Err(format!("the server sent {:?}", char::from(byte[0])).into()),
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Ok(false)
            }
            Err(error) if is_reset(&error) => Ok(true),
            Err(error) => Err(error.into()),
        }
    }

    /// Writes `bytes` one slice at a time, every [`TRICKLE`], until the server closes the
    /// connection; returns how long after opening it that was, or `None` if it was not closed
    /// within [`LIMIT`] (or the bytes ran out).
    fn trickle(
        &mut self,
        bytes: &[u8],
        slice: usize,
    ) -> Result<Option<Duration>, Box<dyn std::error::Error>> {
        for piece in bytes.chunks(slice) {
            if self.opened.elapsed() > LIMIT {
                return Ok(None);
            }
            if let Err(error) = self.writer.write_all(piece) {
                return if is_reset(&error) {
                    Ok(Some(self.opened.elapsed()))
                } else {
                    Err(error.into())
                };
            }
            if self.is_closed(TRICKLE)? {
                return Ok(Some(self.opened.elapsed()));
            }
        }
        Ok(None)
    }
}

fn is_reset(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
    )
}

/// Waits up to [`LIMIT`] for the server to close `connection`; how long after it was opened.
fn closed_after(
    connection: &mut Connection,
) -> Result<Option<Duration>, Box<dyn std::error::Error>> {
    while connection.opened.elapsed() < LIMIT {
        if connection.is_closed(Duration::from_millis(100))? {
            return Ok(Some(connection.opened.elapsed()));
        }
    }
    Ok(None)
}

/// A head of many header lines, for a client to send one line at a time.
fn long_head() -> String {
    let mut head = String::from("POST /invocations HTTP/1.1\r\nHost: test\r\n");
    for index in 0..1000 {
        head.push_str(&format!(
            "X-Slow-{index}: a header a client sends slowly\r\n"
        ));
    }
    head
}

/// A client that sends its head a line at a time loses its connection once the header
/// timeout has passed since it connected; not before.
#[test]
fn a_slow_head_is_cut_off() -> TestResult {
    let server = Server::start("echo", &["--header-timeout", "1s"])?;
    let mut connection = Connection::open(&server)?;
    let closed = connection.trickle(long_head().as_bytes(), 40)?;
    let closed = closed.ok_or("a slow head was never cut off")?;
    assert!(closed >= Duration::from_millis(900), "cut after {closed:?}");
    Ok(())
}

/// On a kept-alive connection the next request's head has the header timeout from its first
/// byte: it is cut long before the connection would be closed as idle.
#[test]
fn a_slow_head_after_a_first_request_is_cut_off() -> TestResult {
    let server = Server::start(
        "echo",
        &["--header-timeout", "1s", "--keep-alive-timeout", "1h"],
    )?;
    let mut connection = Connection::open(&server)?;
    assert_eq!(connection.ping()?, 200);
    let started = Instant::now();
    connection.opened = started;
    let closed = connection.trickle(long_head().as_bytes(), 40)?;
    let closed = closed.ok_or("a slow second head was never cut off")?;
    assert!(closed >= Duration::from_millis(900), "cut after {closed:?}");
    Ok(())
}

/// Starts a body of `length` bytes and sends it a byte at a time, every `pause`, for at most
/// `bytes` bytes; returns the response the server sends meanwhile, and the connection.
fn slow_body(
    server: &Server,
    length: usize,
    bytes: usize,
    pause: Duration,
) -> Result<(Response, Connection), Box<dyn std::error::Error>> {
    let mut connection = Connection::open(server)?;
    let head =
        format!("POST /invocations HTTP/1.1\r\nHost: test\r\nContent-Length: {length}\r\n\r\n");
    connection.writer.write_all(head.as_bytes())?;
    let mut writer = connection.writer.try_clone()?;
    std::thread::spawn(move || {
        for _ in 0..bytes {
            if writer.write_all(b" ").is_err() {
                return;
            }
            std::thread::sleep(pause);
        }
    });
    connection.writer.set_read_timeout(Some(LIMIT))?;
    let mut response = read_head(&mut connection.reader)?;
    response.body = read_body(&mut connection.reader, &response)?;
    Ok((response, connection))
}

/// A body trickling in a byte at a time (never stalling as long as the body timeout) falls
/// behind the minimum rate and is answered 408 with a JSON error, logged, and the connection
/// is closed.
#[test]
fn a_trickling_body_gets_408() -> TestResult {
    let server = Server::start("echo", &["--body-timeout", "1s"])?;
    let started = Instant::now();
    let (response, mut connection) = slow_body(&server, 10_000, 10_000, TRICKLE)?;
    assert_eq!(response.status, 408, "{}", response.text());
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert_eq!(
        response.json()?["error"],
        "the request body arrived too slowly"
    );
    assert!(
        closed_after(&mut connection)?.is_some(),
        "the connection stayed open"
    );
    server.expect_log("BodyTimeout")?;
    Ok(())
}

/// A body that stops half way is answered 408 once it has stalled for the body timeout.
#[test]
fn a_stalled_body_gets_408() -> TestResult {
    let server = Server::start("echo", &["--body-timeout", "1s"])?;
    let (response, _) = slow_body(&server, 100, 10, Duration::ZERO)?;
    assert_eq!(response.status, 408, "{}", response.text());
    Ok(())
}

/// Past `--max-connections` a new connection is closed at once, without a reply; the limit is
/// logged once for the whole burst, and again when it clears. `/ping` on a connection already
/// open answers throughout.
#[test]
fn connections_past_the_limit_are_closed_and_logged_once() -> TestResult {
    let server = Server::start("echo", &["--max-connections", "2"])?;
    let mut first = Connection::open(&server)?;
    let mut second = Connection::open(&server)?;
    assert_eq!(first.ping()?, 200);
    assert_eq!(second.ping()?, 200);
    for extra in 0..3 {
        let mut refused = Connection::open(&server)?;
        // The request may meet a connection already closed.
        let _ = refused
            .writer
            .write_all(b"GET /ping HTTP/1.1\r\nHost: test\r\n\r\n");
        assert!(
            closed_after(&mut refused)?.is_some_and(|after| after < LIMIT),
            "connection {extra} past the limit was served"
        );
        assert_eq!(first.ping()?, 200, "/ping on an open connection");
    }
    drop(second);
    let served = eventually(LIMIT, || server.ping().is_ok());
    assert!(served, "the limit never cleared");
    server.expect_log("connection limit cleared")?;
    let log = server.log();
    assert_eq!(
        log.matches("connection limit reached").count(),
        1,
        "`connection limit reached` lines"
    );
    // Pings sent before the server saw the second connection close were refused as well.
    let refused: u64 = log
        .lines()
        .find(|line| line.contains("connection limit cleared"))
        .and_then(|line| line.split("refused=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .ok_or("no count of refused connections")?
        .parse()?;
    assert!(refused >= 3, "{refused} connections refused");
    Ok(())
}

/// A kept-alive connection with no request is closed after the keep-alive timeout; one whose
/// request takes longer than that is not.
#[test]
fn an_idle_connection_is_closed_after_the_keep_alive_timeout() -> TestResult {
    let server = Server::start(
        "sleep",
        &["--keep-alive-timeout", "1s", "--header-timeout", "1h"],
    )?;
    let mut connection = Connection::open(&server)?;
    let reply = connection.request("POST", "/invocations", br#"{"ms": 2000}"#)?;
    assert_eq!(reply.status, 200, "{}", reply.text());
    connection.opened = Instant::now();
    let closed = closed_after(&mut connection)?.ok_or("an idle connection stayed open")?;
    assert!(
        closed >= Duration::from_millis(900),
        "closed after {closed:?}"
    );
    Ok(())
}

/// A declared `Content-Length` over `--max-payload` is answered 413 before any of the body is
/// sent (nor is `100 Continue` asked for), and before admission: a full server says 413, not
/// 503.
#[test]
fn a_declared_body_over_the_limit_gets_413_at_once() -> TestResult {
    let server = Server::start(
        "spin",
        &[
            "--max-payload",
            "1KB",
            "--max-concurrency",
            "1",
            "--max-queue",
            "0",
            "--timeout",
            "60s",
        ],
    )?;
    let mut held = Connection::open(&server)?;
    held.writer
        .write_all(b"POST /invocations HTTP/1.1\r\nHost: test\r\nContent-Length: 2\r\n\r\n{}")?;
    server.expect_log("spinning")?;
    for expect in ["", "Expect: 100-continue\r\n"] {
        let mut connection = Connection::open(&server)?;
        let head = format!(
            "POST /invocations HTTP/1.1\r\nHost: test\r\nContent-Length: 100000000\r\n{expect}\r\n"
        );
        connection.writer.write_all(head.as_bytes())?;
        connection.writer.set_read_timeout(Some(LIMIT))?;
        let mut response = read_head(&mut connection.reader)?;
        response.body = read_body(&mut connection.reader, &response)?;
        assert_eq!(response.status, 413, "{expect}{}", response.text());
        assert_eq!(
            response.json()?["error"],
            "the request body is over the limit of 1000 bytes"
        );
    }
    Ok(())
}

/// A limit of zero, or one no client could meet or no server should give, is a configuration
/// error (exit status 64) naming the flag.
#[test]
fn client_limits_out_of_range_are_refused() -> TestResult {
    let echo = guest("echo").display().to_string();
    for (flag, value) in [
        ("--max-connections", "0"),
        ("--max-connections", "2000000"),
        ("--header-timeout", "0s"),
        ("--body-timeout", "2h"),
        ("--body-min-rate", "0"),
        ("--body-min-rate", "64GiB"),
        ("--keep-alive-timeout", "0s"),
    ] {
        let output = run(binary().args(["serve", &echo, "--port", "0", flag, value]))?;
        assert_eq!(
            output.status.code(),
            Some(64),
            "{flag} {value}: {}",
            stderr(&output)
        );
        assert!(stderr(&output).contains(flag), "{}", stderr(&output));
    }
    Ok(())
}
