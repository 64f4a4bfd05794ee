//! A `wasm-agent serve` process on a free port, and a minimal HTTP/1.1 client over raw TCP, so
//! tests see exactly the bytes on the wire and control when the connection goes away.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::support::{binary, eventually, guest};

/// The session id header.
pub(crate) const SESSION_HEADER: &str = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id";

/// Load tests run one at a time: each takes this lock.
static LOAD: Mutex<()> = Mutex::new(());

/// Holds the load-test lock for the caller's scope.
pub(crate) fn one_load_test_at_a_time() -> MutexGuard<'static, ()> {
    LOAD.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running server; killed when dropped. If the test is failing by then, the server's log is
/// written to the test's stderr, which cargo shows with the failure: assertions need not carry
/// the log themselves.
pub(crate) struct Server {
    pub child: Child,
    pub address: SocketAddr,
    log: Arc<Mutex<String>>,
    /// The thread that copies the server's stderr into `log`, until the server closes it.
    reader: JoinHandle<()>,
}

impl Server {
    /// Starts `wasm-agent serve` on the named guest with extra flags, and waits for its
    /// readiness line.
    pub(crate) fn start(
        guest_name: &str,
        flags: &[&str],
    ) -> Result<Self, Box<dyn std::error::Error>> {
        Self::start_path(&guest(guest_name), flags)
    }

    /// Like [`Server::start`] with a component path.
    pub(crate) fn start_path(
        path: &Path,
        flags: &[&str],
    ) -> Result<Self, Box<dyn std::error::Error>> {
        Self::start_env(path, flags, &[])
    }

    /// Like [`Server::start_path`], with variables added to the server's environment.
    pub(crate) fn start_env(
        path: &Path,
        flags: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let mut command = binary();
        command
            .arg("serve")
            .arg(path)
            .args(["--port", "0"])
            .args(flags)
            .envs(env.iter().copied());
        Self::spawn(command)
    }

    /// Runs `command`, which must end up running `wasm-agent serve` with its stderr, and waits
    /// for its readiness line.
    pub(crate) fn spawn(mut command: Command) -> Result<Self, Box<dyn std::error::Error>> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut stderr = BufReader::new(child.stderr.take().ok_or("no stderr")?);
        let log = Arc::new(Mutex::new(String::new()));
        let mut line = String::new();
        let address = loop {
            line.clear();
            if stderr.read_line(&mut line)? == 0 {
                let _ = child.kill();
                return Err(format!(
                    "the server exited before it was ready: {}",
                    log.lock().map(|l| l.clone()).unwrap_or_default()
                )
                .into());
            }
            if let Ok(mut log) = log.lock() {
                log.push_str(&line);
            }
            if let Some(rest) = line.trim().strip_prefix("listening on http://") {
                break rest.parse::<SocketAddr>()?;
            }
        };
        let sink = log.clone();
        let reader = std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if let Ok(mut log) = sink.lock() {
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        Ok(Self {
            child,
            address,
            log,
            reader,
        })
    }

    /// Everything the server wrote to stderr so far.
    pub(crate) fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Waits (up to 10 s) until the log holds `text`; fails naming the log if it never does.
    pub(crate) fn expect_log(&self, text: &str) -> Result<(), String> {
        if eventually(Duration::from_secs(10), || self.log().contains(text)) {
            Ok(())
        } else {
            Err(format!("the log never said `{text}`:\n{}", self.log()))
        }
    }

    /// Panics if the log holds `text`, as it stands now.
    #[track_caller]
    pub(crate) fn assert_not_logged(&self, text: &str) {
        assert!(!self.log().contains(text), "the log says `{text}`");
    }

    /// Opens a connection.
    pub(crate) fn connect(&self) -> std::io::Result<TcpStream> {
        connect_to(self.address)
    }

    /// Posts an invocation and reads only the response's head, leaving its body (a stream of
    /// events, usually) to be read as it arrives.
    pub(crate) fn invoke_streaming(
        &self,
        payload: &[u8],
    ) -> Result<(Response, BufReader<TcpStream>), Box<dyn std::error::Error>> {
        let mut stream = self.connect()?;
        send(&mut stream, "POST", "/invocations", &[], payload)?;
        let mut reader = BufReader::new(stream);
        let head = read_head(&mut reader)?;
        Ok((head, reader))
    }

    /// Sends one request and reads the whole response.
    pub(crate) fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, Box<dyn std::error::Error>> {
        request_to(self.address, method, path, headers, body)
    }

    /// `POST /invocations` with a JSON body.
    pub(crate) fn invoke(&self, body: &str) -> Result<Response, Box<dyn std::error::Error>> {
        self.request("POST", "/invocations", &[], body.as_bytes())
    }

    /// `POST /invocations` in a session.
    pub(crate) fn invoke_in(
        &self,
        session: &str,
        body: &str,
    ) -> Result<Response, Box<dyn std::error::Error>> {
        let header = [(SESSION_HEADER, session)];
        self.request("POST", "/invocations", &header, body.as_bytes())
    }

    /// `GET /ping`: its status and `time_of_last_update`.
    pub(crate) fn ping(&self) -> Result<(String, u64), Box<dyn std::error::Error>> {
        let body = self.request("GET", "/ping", &[], b"")?.json()?;
        let status = body["status"].as_str().ok_or("no status")?.to_owned();
        let time = body["time_of_last_update"].as_u64().ok_or("no time")?;
        Ok((status, time))
    }

    /// Sends SIGTERM.
    pub(crate) fn terminate(&self) -> std::io::Result<()> {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other("kill failed"))
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            // Its last lines may still be on their way through the reader; a process the
            // server started could hold its stderr open, so the wait is bounded.
            eventually(Duration::from_secs(1), || self.reader.is_finished());
            eprintln!(
                "--- the server's log ---\n{}--- end of the server's log ---",
                self.log()
            );
        }
    }
}

/// A response's status line, headers and (de-chunked) body.
#[derive(Debug, Default)]
pub(crate) struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header with this name (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub(crate) fn json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

/// Opens a connection to `address`, reads bounded by a minute.
pub(crate) fn connect_to(address: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    Ok(stream)
}

/// Sends one request to `address` and reads the whole response.
pub(crate) fn request_to(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response, Box<dyn std::error::Error>> {
    let mut stream = connect_to(address)?;
    send(&mut stream, method, path, headers, body)?;
    let mut reader = BufReader::new(stream);
    let mut response = read_head(&mut reader)?;
    if method != "HEAD" {
        response.body = read_body(&mut reader, &response)?;
    }
    Ok(response)
}

/// Writes a request with `Connection: close`.
pub(crate) fn send(
    stream: &mut TcpStream,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}

/// Reads the status line and headers.
pub(crate) fn read_head(reader: &mut impl BufRead) -> Result<Response, Box<dyn std::error::Error>> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| format!("bad status line {line:?}"))?
        .parse()?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        let (name, value) = trimmed.split_once(':').ok_or("bad header")?;
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    Ok(Response {
        status,
        headers,
        body: Vec::new(),
    })
}

/// Reads the body: chunked, by content length, or to the end.
pub(crate) fn read_body(
    reader: &mut impl BufRead,
    head: &Response,
) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let mut body = Vec::new();
    if head.header("transfer-encoding") == Some("chunked") {
        while let Some(chunk) = read_chunk(reader)? {
            body.extend_from_slice(&chunk);
        }
    } else if let Some(length) = head.header("content-length") {
        body.resize(length.parse()?, 0);
        reader.read_exact(&mut body)?;
    } else {
        reader.read_to_end(&mut body)?;
    }
    Ok(body)
}

/// Reads one chunk of a chunked body; `None` at the last chunk.
pub(crate) fn read_chunk(
    reader: &mut impl BufRead,
) -> Result<Option<Vec<u8>>, Box<dyn std::error::Error>> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let size =
        usize::from_str_radix(line.trim(), 16).map_err(|_| format!("bad chunk size {line:?}"))?;
    let mut chunk = vec![0; size + 2];
    reader.read_exact(&mut chunk)?;
    chunk.truncate(size);
    Ok((size > 0).then_some(chunk))
}

/// The conversation in a chat guest's reply (`guest-examples/chat`).
pub(crate) fn chat_history(reply: &serde_json::Value) -> Vec<&str> {
    reply["history"]
        .as_array()
        .map(|turns| turns.iter().filter_map(serde_json::Value::as_str).collect())
        .unwrap_or_default()
}
