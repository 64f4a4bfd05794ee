//! A small blocking HTTP/1.1 and WebSocket client over raw TCP: the soak controls exactly when
//! it writes, reads and hangs up, which a full client library would hide.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The session id header.
pub(crate) const SESSION_HEADER: &str = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id";
/// The request id header.
pub(crate) const REQUEST_HEADER: &str = "X-Amzn-Bedrock-AgentCore-Runtime-Request-Id";

/// Opens a connection whose reads and writes give up after `timeout`.
pub(crate) fn connect(address: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&address, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Writes a request; `Connection: close` unless `keep_alive`.
pub(crate) fn send(
    stream: &mut TcpStream,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    keep_alive: bool,
) -> io::Result<()> {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: soak\r\nConnection: {connection}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
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

/// A response's status line and headers.
#[derive(Debug, Default)]
pub(crate) struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first header with this name (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the body is a stream of server-sent events.
    pub(crate) fn is_event_stream(&self) -> bool {
        self.header("content-type")
            .is_some_and(|t| t.starts_with("text/event-stream"))
    }
}

/// Reads the status line and headers. `UnexpectedEof` if the connection ends before any byte.
pub(crate) fn read_head(reader: &mut impl BufRead) -> io::Result<Head> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(invalid("the connection ended in the headers"));
        }
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        let (name, value) = trimmed
            .split_once(':')
            .ok_or_else(|| invalid("bad header"))?;
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    Ok(Head { status, headers })
}

/// Reads the whole body: chunked, by length, or to the end of the connection.
pub(crate) fn read_body(reader: &mut impl BufRead, head: &Head) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    if head.header("transfer-encoding") == Some("chunked") {
        while let Some(chunk) = read_chunk(reader)? {
            body.extend_from_slice(&chunk);
        }
    } else if let Some(length) = head.header("content-length") {
        let length: usize = length.parse().map_err(|_| invalid("bad content-length"))?;
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    } else {
        reader.read_to_end(&mut body)?;
    }
    Ok(body)
}

/// Reads one chunk of a chunked body; `None` at the last one.
pub(crate) fn read_chunk(reader: &mut impl BufRead) -> io::Result<Option<Vec<u8>>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let size = usize::from_str_radix(line.trim(), 16)
        .map_err(|_| invalid(format!("bad chunk size {line:?}")))?;
    let mut chunk = vec![0; size + 2];
    reader.read_exact(&mut chunk)?;
    chunk.truncate(size);
    if size == 0 {
        // The trailer section ends with an empty line, read with the chunk's CRLF above.
        return Ok(None);
    }
    Ok(Some(chunk))
}

/// The `data:` of each server-sent event in a chunked stream, read as the events arrive.
#[derive(Debug)]
pub(crate) struct Events<R> {
    reader: R,
    pending: Vec<u8>,
    ended: bool,
}

impl<R: BufRead> Events<R> {
    /// The events of the body that follows `reader`'s head.
    pub(crate) fn new(reader: R) -> Self {
        Self {
            reader,
            pending: Vec::new(),
            ended: false,
        }
    }

    /// The next event's data, `None` at the end of the stream.
    pub(crate) fn next_data(&mut self) -> io::Result<Option<String>> {
        loop {
            if let Some(end) = find(&self.pending, b"\n\n") {
                let frame: Vec<u8> = self.pending.drain(..end + 2).collect();
                let text = String::from_utf8_lossy(&frame);
                let data: Vec<&str> = text
                    .lines()
                    .filter_map(|line| line.strip_prefix("data:"))
                    .map(|data| data.strip_prefix(' ').unwrap_or(data))
                    .collect();
                if !data.is_empty() {
                    return Ok(Some(data.join("\n")));
                }
                continue;
            }
            if self.ended {
                return if self.pending.iter().all(u8::is_ascii_whitespace) {
                    Ok(None)
                } else {
                    Err(invalid("the stream ended inside an event"))
                };
            }
            match read_chunk(&mut self.reader)? {
                Some(chunk) => self.pending.extend_from_slice(&chunk),
                None => self.ended = true,
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// An `InvalidData` error with `message`.
pub(crate) fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// A WebSocket connection, client side: masked frames out, plain frames in.
#[derive(Debug)]
pub(crate) struct WebSocket {
    reader: BufReader<TcpStream>,
}

/// A frame the server sent.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    Text(String),
    Binary(Vec<u8>),
    /// A close frame, with its code (1005 if it had none).
    Close(u16),
    Other,
}

/// The sample key of RFC 6455; the server's accept value is not checked.
const WS_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

impl WebSocket {
    /// Opens `/ws` on `stream` with the given extra headers; fails unless the server switches
    /// protocols.
    pub(crate) fn open(mut stream: TcpStream, headers: &[(&str, &str)]) -> io::Result<Self> {
        let mut head = format!(
            "GET /ws HTTP/1.1\r\nHost: soak\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n"
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        let mut reader = BufReader::new(stream);
        let response = read_head(&mut reader)?;
        if response.status != 101 {
            return Err(invalid(format!(
                "the upgrade was answered {}",
                response.status
            )));
        }
        Ok(Self { reader })
    }

    /// Sends a text message.
    pub(crate) fn send_text(&mut self, text: &str) -> io::Result<()> {
        self.send_frame(0x1, text.as_bytes())
    }

    /// Sends a close frame with `code`.
    pub(crate) fn send_close(&mut self, code: u16) -> io::Result<()> {
        self.send_frame(0x8, &code.to_be_bytes())
    }

    fn send_frame(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        let mask = [0x5a, 0x0f, 0xa5, 0xf0];
        let mut frame = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= usize::from(u16::MAX) => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
        let stream = self.reader.get_mut();
        stream.write_all(&frame)?;
        stream.flush()
    }

    /// Reads the next frame.
    pub(crate) fn receive(&mut self) -> io::Result<Frame> {
        let mut head = [0u8; 2];
        self.reader.read_exact(&mut head)?;
        let length = match head[1] & 0x7f {
            126 => {
                let mut bytes = [0u8; 2];
                self.reader.read_exact(&mut bytes)?;
                u64::from(u16::from_be_bytes(bytes))
            }
            127 => {
                let mut bytes = [0u8; 8];
                self.reader.read_exact(&mut bytes)?;
                u64::from_be_bytes(bytes)
            }
            n => u64::from(n),
        };
        let mut mask = [0u8; 4];
        if head[1] & 0x80 != 0 {
            self.reader.read_exact(&mut mask)?;
        }
        let mut payload = vec![0u8; usize::try_from(length).map_err(|_| invalid("huge frame"))?];
        self.reader.read_exact(&mut payload)?;
        if head[1] & 0x80 != 0 {
            for (byte, m) in payload.iter_mut().zip(mask.iter().cycle()) {
                *byte ^= m;
            }
        }
        Ok(match head[0] & 0x0f {
            0x1 => Frame::Text(String::from_utf8_lossy(&payload).into_owned()),
            0x2 => Frame::Binary(payload),
            0x8 if payload.len() >= 2 => Frame::Close(u16::from_be_bytes([payload[0], payload[1]])),
            0x8 => Frame::Close(1005),
            _ => Frame::Other,
        })
    }
}
