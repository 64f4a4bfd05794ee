//! A mock model server on 127.0.0.1 for guests to call through the host: an OpenAI-compatible
//! chat completions endpoint (JSON or server-sent events), Bedrock's Converse, and a few plain
//! routes (echo, status, redirect, big, slow, drip). It records every request and counts connections and
//! streams, so tests can check what the host sent and when a stream was cut.
//!
//! Plain HTTP/1.1 with keep-alive ([`MockModel::start`]), or TLS offering h2 and http/1.1 by ALPN
//! with the test certificate in `tests/fixtures` ([`MockModel::start_tls`]), served by hyper on its
//! own thread and tokio runtime, so it works from synchronous tests and stops when dropped.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Bytes, Frame, Incoming};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, LOCATION};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_rustls::TlsAcceptor;

use crate::server::Server;

/// What the mock model answers, and how fast.
#[derive(Debug, Clone)]
pub(crate) struct MockConfig {
    /// How long before the first token (or the whole non-streamed reply).
    pub first_token_delay: Duration,
    /// The reply, one token per streamed event; joined for a non-streamed reply.
    pub tokens: Vec<String>,
    /// The pause between two streamed tokens.
    pub token_pause: Duration,
    /// How long a stream stays open after `data: [DONE]`, as a model may before it ends the
    /// body: a client that stops at `[DONE]` then leaves with the body unfinished.
    pub linger_after_done: Duration,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            first_token_delay: Duration::ZERO,
            tokens: ["Hello", " from", " the", " mock"]
                .map(String::from)
                .to_vec(),
            token_pause: Duration::ZERO,
            linger_after_done: Duration::ZERO,
        }
    }
}

/// One request as the mock received it.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub method: String,
    /// The path and query, as received.
    pub path: String,
    /// The HTTP version as hyper prints it: `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
    /// Lowercase names, in the order received (hyper groups a repeated name's values).
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    /// What a mock server received: the request's head and its whole body.
    pub(crate) fn new(parts: &hyper::http::request::Parts, body: &[u8]) -> Self {
        Self {
            method: parts.method.to_string(),
            path: parts
                .uri
                .path_and_query()
                .map_or_else(|| parts.uri.path().to_owned(), ToString::to_string),
            version: format!("{:?}", parts.version),
            headers: parts
                .headers
                .iter()
                .map(|(name, value)| {
                    let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                    (name.as_str().to_owned(), value)
                })
                .collect(),
            body: String::from_utf8_lossy(body).into_owned(),
        }
    }

    /// The first value of the header `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A running mock model server; stopped when dropped.
#[derive(Debug)]
pub(crate) struct MockModel {
    address: SocketAddr,
    /// `http`, or `https` when started with TLS.
    scheme: &'static str,
    tally: Arc<Tally>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// What the server saw, shared between its connections and the test.
#[derive(Debug, Default)]
struct Tally {
    requests: Mutex<Vec<Recorded>>,
    connections_accepted: AtomicUsize,
    connections_closed: AtomicUsize,
    streams_finished: AtomicUsize,
    streams_cut: AtomicUsize,
}

/// A mock's reply: any body, boxed.
pub(crate) type Reply = Response<BoxBody<Bytes, Infallible>>;

/// The size of each chunk of `GET /big/{n}`: big enough to be quick, small enough that a reply of
/// a few chunks shows the client reading a body in pieces.
const BIG_CHUNK: usize = 64 * 1024;
static BIG_BYTES: [u8; BIG_CHUNK] = [b'x'; BIG_CHUNK];

impl MockModel {
    /// Binds 127.0.0.1 on a free port and serves plain HTTP/1.1 on a thread of its own.
    pub(crate) fn start(config: MockConfig) -> Result<Self, Box<dyn std::error::Error>> {
        Self::launch(config, None)
    }

    /// Like [`start`](Self::start), but over TLS as `127.0.0.1` with the fixture certificate
    /// (signed by `outbound-ca.pem`), offering `h2` and `http/1.1` by ALPN.
    pub(crate) fn start_tls(config: MockConfig) -> Result<Self, Box<dyn std::error::Error>> {
        Self::launch(config, Some(tls_acceptor()?))
    }

    fn launch(
        config: MockConfig,
        tls: Option<TlsAcceptor>,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let (runtime, listener, address) = crate::support::loopback_listener()?;
        let tally = Arc::new(Tally::default());
        let (stop, stopped) = oneshot::channel();
        let served = tally.clone();
        let thread = std::thread::Builder::new()
            .name("mock-model".into())
            .spawn(move || {
                runtime.block_on(serve(listener, tls, Arc::new(config), served, stopped))
            })?;
        Ok(Self {
            address,
            scheme,
            tally,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    /// Its base URL, `http://127.0.0.1:PORT` (`https://` with TLS).
    pub(crate) fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.address)
    }

    /// Serves `guest` as an agent with this mock as its model: allowed to reach it, and granted
    /// `MODEL_ENDPOINT` (its `/v1`) and `MODEL_ID`, with `extra` flags.
    pub(crate) fn serve_agent(
        &self,
        guest: &str,
        model_id: &str,
        extra: &[&str],
    ) -> Result<Server, Box<dyn std::error::Error>> {
        let url = self.url();
        let endpoint = format!("MODEL_ENDPOINT={url}/v1");
        let model = format!("MODEL_ID={model_id}");
        let mut flags = vec![
            "--allow-outbound",
            &url,
            "--env",
            &endpoint,
            "--env",
            &model,
        ];
        flags.extend_from_slice(extra);
        Server::start(guest, &flags)
    }

    /// Every request received so far, in order.
    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.tally
            .requests
            .lock()
            .map(|requests| requests.clone())
            .unwrap_or_default()
    }

    /// How many connections it accepted.
    pub(crate) fn connections_accepted(&self) -> usize {
        self.tally.connections_accepted.load(Ordering::SeqCst)
    }

    /// How many connections ended, closed by the client or broken.
    pub(crate) fn connections_closed(&self) -> usize {
        self.tally.connections_closed.load(Ordering::SeqCst)
    }

    /// How many streamed completions sent every token and `[DONE]`.
    pub(crate) fn streams_finished(&self) -> usize {
        self.tally.streams_finished.load(Ordering::SeqCst)
    }

    /// How many streamed completions lost their client before the end.
    pub(crate) fn streams_cut(&self) -> usize {
        self.tally.streams_cut.load(Ordering::SeqCst)
    }
}

impl Drop for MockModel {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The path of a file in `tests/fixtures`.
pub(crate) fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The TLS side of [`MockModel::start_tls`]: the fixture server certificate, ring as the only
/// provider (as in the host), and ALPN preferring h2.
fn tls_acceptor() -> Result<TlsAcceptor, Box<dyn std::error::Error>> {
    let chain = CertificateDer::pem_file_iter(fixture("outbound-server.pem"))?
        .collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(fixture("outbound-server.key"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Accepts connections until `stopped`; each is served by a task of its own, after a TLS
/// handshake if there is an acceptor. Dropping the runtime afterwards ends the connections
/// still open.
async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<TlsAcceptor>,
    config: Arc<MockConfig>,
    tally: Arc<Tally>,
    mut stopped: oneshot::Receiver<()>,
) {
    loop {
        let stream = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        tally.connections_accepted.fetch_add(1, Ordering::SeqCst);
        let (tls, config, tally) = (tls.clone(), config.clone(), tally.clone());
        tokio::spawn(async move {
            let answering = tally.clone();
            let service =
                service_fn(move |request| respond(request, config.clone(), answering.clone()));
            // Keep-alive stays on, and the server never closes first: a server that closes as
            // soon as it has replied races wasi:http clients still reading the reply.
            match tls {
                None => {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
                Some(tls) => {
                    if let Ok(stream) = tls.accept(stream).await {
                        let _ = auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                }
            }
            tally.connections_closed.fetch_add(1, Ordering::SeqCst);
        });
    }
}

/// Records the request, then routes it.
async fn respond(
    request: Request<Incoming>,
    config: Arc<MockConfig>,
    tally: Arc<Tally>,
) -> Result<Reply, hyper::Error> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let recorded = Recorded::new(&parts, &body);
    if let Ok(mut requests) = tally.requests.lock() {
        requests.push(recorded.clone());
    }

    let path = parts.uri.path();
    let route = path.strip_prefix('/').and_then(|path| path.split_once('/'));
    let reply = match (parts.method, route) {
        (Method::POST, _) if path.ends_with("/chat/completions") => {
            chat_completions(&recorded.body, &config, tally).await
        }
        (Method::POST, Some(("model", rest))) if rest.ends_with("/converse") => {
            converse(&config).await
        }
        (Method::GET, Some(("status", code))) => {
            match code
                .parse()
                .ok()
                .and_then(|code| StatusCode::from_u16(code).ok())
            {
                Some(status) => json_reply(status, &json!({ "status": status.as_u16() })),
                None => echo(&recorded),
            }
        }
        (Method::GET, Some(("big", size))) => match size.parse() {
            Ok(size) => big(size),
            Err(_) => echo(&recorded),
        },
        (Method::GET, Some(("slow", millis))) => {
            if let Ok(millis) = millis.parse() {
                tokio::time::sleep(Duration::from_millis(millis)).await;
            }
            echo(&recorded)
        }
        (Method::GET, Some(("drip", millis))) => match millis.parse() {
            Ok(millis) => drip(Duration::from_millis(millis)),
            Err(_) => echo(&recorded),
        },
        (Method::GET, None) if path == "/redirect" => redirect(),
        _ => echo(&recorded),
    };
    Ok(reply)
}

/// `POST …/chat/completions`: the tokens as one JSON completion, or as server-sent events when
/// the request asks for `"stream": true`.
async fn chat_completions(body: &str, config: &MockConfig, tally: Arc<Tally>) -> Reply {
    let request: Value = match serde_json::from_str(body) {
        Ok(request) => request,
        Err(error) => {
            let error = json!({ "error": { "message": error.to_string(), "type": "invalid_request_error" } });
            return json_reply(StatusCode::BAD_REQUEST, &error);
        }
    };
    let model = request.get("model").cloned().unwrap_or(json!("mock"));
    if request["stream"] == true {
        return completion_stream(model, config.clone(), tally);
    }
    tokio::time::sleep(config.first_token_delay).await;
    json_reply(
        StatusCode::OK,
        &json!({
            "id": "chatcmpl-mock",
            "object": "chat.completion",
            "model": model,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": config.tokens.concat() },
                "finish_reason": "stop",
            }],
        }),
    )
}

/// The streamed completion: headers at once, then one event per token, each its own chunk on
/// the wire, sent by a task that stops when the client goes away.
fn completion_stream(model: Value, config: MockConfig, tally: Arc<Tally>) -> Reply {
    let chunk = move |delta: Value, finish_reason: Value| {
        let chunk = json!({
            "id": "chatcmpl-mock",
            "object": "chat.completion.chunk",
            "model": model,
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish_reason }],
        });
        Bytes::from(format!("data: {chunk}\n\n"))
    };
    let (events, body) = ChannelBody::new(Some(tally));
    tokio::spawn(async move {
        tokio::time::sleep(config.first_token_delay).await;
        for (index, token) in config.tokens.iter().enumerate() {
            if index > 0 {
                tokio::time::sleep(config.token_pause).await;
            }
            if events
                .send(chunk(json!({ "content": token }), Value::Null))
                .await
                .is_err()
            {
                return;
            }
        }
        let last = chunk(json!({}), json!("stop"));
        if events.send(last).await.is_ok()
            && events
                .send(Bytes::from_static(b"data: [DONE]\n\n"))
                .await
                .is_ok()
        {
            tokio::time::sleep(config.linger_after_done).await;
        }
    });
    let mut reply = Response::new(body.boxed());
    let headers = reply.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    reply
}

/// `POST /model/{model-id}/converse`: Bedrock's Converse reply with the tokens joined.
async fn converse(config: &MockConfig) -> Reply {
    tokio::time::sleep(config.first_token_delay).await;
    let output_tokens = config.tokens.len();
    json_reply(
        StatusCode::OK,
        &json!({
            "output": {
                "message": { "role": "assistant", "content": [{ "text": config.tokens.concat() }] },
            },
            "stopReason": "end_turn",
            "usage": {
                "inputTokens": 1,
                "outputTokens": output_tokens,
                "totalTokens": output_tokens + 1,
            },
            "metrics": { "latencyMs": 1 },
        }),
    )
}

/// `GET /big/{size}`: `size` bytes of `x`, in chunks of [`BIG_CHUNK`].
fn big(size: usize) -> Reply {
    let (chunks, body) = ChannelBody::new(None);
    tokio::spawn(async move {
        let mut left = size;
        while left > 0 {
            let length = left.min(BIG_CHUNK);
            if chunks
                .send(Bytes::from_static(&BIG_BYTES[..length]))
                .await
                .is_err()
            {
                return;
            }
            left -= length;
        }
    });
    Response::new(body.boxed())
}

/// `GET /drip/{ms}`: a 200 whose body never ends, one byte every `ms` milliseconds: an upstream
/// slow enough to hold a guest and never silent long enough to time out between bytes.
fn drip(pause: Duration) -> Reply {
    let (bytes, body) = ChannelBody::new(None);
    tokio::spawn(async move {
        while bytes.send(Bytes::from_static(b"x")).await.is_ok() {
            tokio::time::sleep(pause).await;
        }
    });
    Response::new(body.boxed())
}

/// `GET /redirect`: a 302 to `/v1/landing`, which shows whether a client follows redirects.
fn redirect() -> Reply {
    let mut reply = json_reply(StatusCode::FOUND, &json!({ "location": "/v1/landing" }));
    reply
        .headers_mut()
        .insert(LOCATION, HeaderValue::from_static("/v1/landing"));
    reply
}

/// Any other request: what was received, as JSON.
fn echo(request: &Recorded) -> Reply {
    json_reply(
        StatusCode::OK,
        &json!({
            "method": request.method,
            "path": request.path,
            "headers": request.headers,
            "body": request.body,
        }),
    )
}

/// A JSON reply with this status.
pub(crate) fn json_reply(status: StatusCode, body: &Value) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(body.to_string())).boxed());
    *reply.status_mut() = status;
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    reply
}

/// A response body fed by a channel, so that each chunk sent is a frame of its own, written
/// when it is sent. With a tally it counts as a stream: finished if hyper read it to the end,
/// cut if hyper dropped it before (the connection ended).
pub(crate) struct ChannelBody {
    chunks: mpsc::Receiver<Bytes>,
    tally: Option<Arc<Tally>>,
    ended: bool,
}

impl ChannelBody {
    /// The sender and the body. A channel of one, so the sender waits for each chunk to be
    /// taken and notices soon that the client is gone.
    fn new(tally: Option<Arc<Tally>>) -> (mpsc::Sender<Bytes>, Self) {
        let (sender, chunks) = mpsc::channel(1);
        let body = Self {
            chunks,
            tally,
            ended: false,
        };
        (sender, body)
    }

    /// A body that counts nothing.
    pub(crate) fn plain() -> (mpsc::Sender<Bytes>, Self) {
        Self::new(None)
    }
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.chunks.poll_recv(cx) {
            Poll::Ready(Some(chunk)) => Poll::Ready(Some(Ok(Frame::data(chunk)))),
            Poll::Ready(None) => {
                // The sender is dropped only after its last chunk or once the body is gone, so
                // an end seen here is the whole stream.
                if !self.ended
                    && let Some(tally) = &self.tally
                {
                    tally.streams_finished.fetch_add(1, Ordering::SeqCst);
                }
                self.ended = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for ChannelBody {
    fn drop(&mut self) {
        if !self.ended
            && let Some(tally) = &self.tally
        {
            tally.streams_cut.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufReader, Write};
    use std::net::TcpStream;
    use std::time::Instant;

    use hyper_util::client::legacy::Client;

    use super::*;
    use crate::server::{self, read_body, read_chunk, read_head, send};
    use crate::support::{TestResult, eventually};

    /// Sends one request with `Connection: close` and reads the whole reply.
    fn request(
        mock: &MockModel,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<server::Response, Box<dyn std::error::Error>> {
        let mut stream = TcpStream::connect(mock.address())?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        send(&mut stream, method, path, headers, body.as_bytes())?;
        let mut reader = BufReader::new(stream);
        let mut reply = read_head(&mut reader)?;
        reply.body = read_body(&mut reader, &reply)?;
        Ok(reply)
    }

    /// Opens a connection and asks for a streamed completion; returns the reader after the head.
    fn start_stream(mock: &MockModel) -> Result<BufReader<TcpStream>, Box<dyn std::error::Error>> {
        let mut stream = TcpStream::connect(mock.address())?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let body = r#"{"model":"mock-1","stream":true,"messages":[]}"#;
        send(
            &mut stream,
            "POST",
            "/v1/chat/completions",
            &[],
            body.as_bytes(),
        )?;
        let mut reader = BufReader::new(stream);
        let head = read_head(&mut reader)?;
        assert_eq!(head.status, 200);
        assert_eq!(head.header("content-type"), Some("text/event-stream"));
        assert_eq!(head.header("transfer-encoding"), Some("chunked"));
        Ok(reader)
    }

    /// A streamed completion arrives as one chunk per event, the first after the delay and the
    /// next ones a pause apart, then a stop chunk and `[DONE]`; the stream counts as finished.
    #[test]
    fn a_stream_arrives_in_timed_pieces() -> TestResult {
        let (delay, pause) = (Duration::from_millis(300), Duration::from_millis(150));
        let mock = MockModel::start(MockConfig {
            first_token_delay: delay,
            tokens: ["a", "b", "c"].map(String::from).to_vec(),
            token_pause: pause,
            ..MockConfig::default()
        })?;
        let sent = Instant::now();
        let mut reader = start_stream(&mock)?;
        let mut events = Vec::new();
        while let Some(chunk) = read_chunk(&mut reader)? {
            events.push((sent.elapsed(), String::from_utf8(chunk)?));
        }
        assert_eq!(events.len(), 5, "{events:?}");
        assert!(
            events[0].0 >= delay,
            "the first token came at {:?}",
            events[0].0
        );
        for pair in events[..3].windows(2) {
            // The second of a pair can be read late, not early: half a pause is enough margin.
            assert!(
                pair[1].0 - pair[0].0 >= pause / 2,
                "tokens not spaced: {events:?}"
            );
        }
        let mut tokens = Vec::new();
        for (_, event) in &events[..4] {
            let data = event
                .strip_prefix("data: ")
                .and_then(|e| e.strip_suffix("\n\n"));
            let chunk: Value = serde_json::from_str(data.ok_or("not one event")?)?;
            assert_eq!(chunk["model"], "mock-1");
            assert_eq!(chunk["object"], "chat.completion.chunk");
            tokens.push(chunk["choices"][0]["delta"]["content"].clone());
            if tokens.len() == 4 {
                assert_eq!(chunk["choices"][0]["finish_reason"], "stop");
            }
        }
        assert_eq!(tokens, [json!("a"), json!("b"), json!("c"), Value::Null]);
        assert_eq!(events[4].1, "data: [DONE]\n\n");
        assert!(eventually(Duration::from_secs(5), || mock
            .streams_finished()
            == 1));
        assert_eq!(mock.streams_cut(), 0);
        Ok(())
    }

    /// Two requests on one keep-alive connection count as one connection, and closing it is
    /// counted.
    #[test]
    fn keep_alive_connections_are_counted() -> TestResult {
        let mock = MockModel::start(MockConfig::default())?;
        let mut stream = TcpStream::connect(mock.address())?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        for path in ["/one", "/two"] {
            write!(stream, "GET {path} HTTP/1.1\r\nHost: mock\r\n\r\n")?;
            let mut reply = read_head(&mut reader)?;
            reply.body = read_body(&mut reader, &reply)?;
            assert_eq!(reply.status, 200);
            assert_eq!(reply.json()?["path"], path);
        }
        assert_eq!(mock.connections_accepted(), 1);
        assert_eq!(mock.connections_closed(), 0);
        drop((reader, stream));
        assert!(eventually(Duration::from_secs(5), || mock
            .connections_closed()
            == 1));
        let paths: Vec<_> = mock.requests().into_iter().map(|r| r.path).collect();
        assert_eq!(paths, ["/one", "/two"]);
        Ok(())
    }

    /// A client that goes away mid-stream is counted as a cut stream and a closed connection.
    #[test]
    fn a_client_leaving_mid_stream_is_counted() -> TestResult {
        let mock = MockModel::start(MockConfig {
            tokens: vec!["t".to_owned(); 20],
            token_pause: Duration::from_millis(100),
            ..MockConfig::default()
        })?;
        let mut reader = start_stream(&mock)?;
        assert!(read_chunk(&mut reader)?.is_some());
        drop(reader);
        assert!(
            eventually(Duration::from_secs(10), || mock.streams_cut() == 1
                && mock.connections_closed() == 1),
            "cut {}, closed {}",
            mock.streams_cut(),
            mock.connections_closed()
        );
        assert_eq!(mock.streams_finished(), 0);
        Ok(())
    }

    /// Converse and non-streamed completions reply with the tokens joined, in their APIs' shapes.
    #[test]
    fn converse_and_completion_shapes() -> TestResult {
        let mock = MockModel::start(MockConfig::default())?;
        let path = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse";
        let reply = request(&mock, "POST", path, &[], r#"{"messages":[]}"#)?;
        assert_eq!(reply.status, 200);
        let reply = reply.json()?;
        assert_eq!(reply["output"]["message"]["role"], "assistant");
        assert_eq!(
            reply["output"]["message"]["content"][0]["text"],
            "Hello from the mock"
        );
        assert_eq!(reply["stopReason"], "end_turn");
        assert_eq!(
            reply["usage"],
            json!({"inputTokens": 1, "outputTokens": 4, "totalTokens": 5})
        );
        assert_eq!(mock.requests()[0].path, path);

        let body = r#"{"model":"gpt-mock","messages":[]}"#;
        let reply = request(&mock, "POST", "/openai/v1/chat/completions", &[], body)?.json()?;
        assert_eq!(reply["object"], "chat.completion");
        assert_eq!(reply["model"], "gpt-mock");
        assert_eq!(
            reply["choices"][0]["message"]["content"],
            "Hello from the mock"
        );
        assert_eq!(reply["choices"][0]["finish_reason"], "stop");
        Ok(())
    }

    /// The mock is on 127.0.0.1; the echo route records and returns the headers and body; status,
    /// redirect, big and slow answer as documented.
    #[test]
    fn echo_and_helper_routes() -> TestResult {
        let mock = MockModel::start(MockConfig::default())?;
        assert_eq!(
            mock.url(),
            format!("http://127.0.0.1:{}", mock.address().port())
        );
        let reply = request(&mock, "PUT", "/any/where?x=1", &[("X-Custom", "v")], "hi")?;
        let echoed = reply.json()?;
        assert_eq!(echoed["method"], "PUT");
        assert_eq!(echoed["path"], "/any/where?x=1");
        assert_eq!(echoed["body"], "hi");
        assert!(
            echoed["headers"]
                .as_array()
                .ok_or("no headers")?
                .contains(&json!(["x-custom", "v"]))
        );
        let recorded = &mock.requests()[0];
        assert_eq!(recorded.header("X-CUSTOM"), Some("v"));
        assert_eq!(recorded.header("content-length"), Some("2"));
        assert_eq!(recorded.body, "hi");

        assert_eq!(request(&mock, "GET", "/status/503", &[], "")?.status, 503);
        let redirect = request(&mock, "GET", "/redirect", &[], "")?;
        assert_eq!(redirect.status, 302);
        assert_eq!(redirect.header("location"), Some("/v1/landing"));
        let big = request(&mock, "GET", "/big/200000", &[], "")?;
        assert_eq!(big.body.len(), 200_000);
        assert!(big.body.iter().all(|&byte| byte == b'x'));
        let started = Instant::now();
        assert_eq!(request(&mock, "GET", "/slow/200", &[], "")?.status, 200);
        assert!(started.elapsed() >= Duration::from_millis(200));
        Ok(())
    }

    /// Over TLS the mock speaks HTTP/2 to a client that offers it and trusts only the fixture
    /// CA: two requests share one connection, and a streamed completion still arrives an event
    /// at a time.
    #[test]
    fn tls_serves_http2_on_one_connection() -> TestResult {
        let mock = MockModel::start_tls(MockConfig {
            tokens: ["a", "b"].map(String::from).to_vec(),
            token_pause: Duration::from_millis(300),
            ..MockConfig::default()
        })?;
        assert_eq!(
            mock.url(),
            format!("https://127.0.0.1:{}", mock.address().port())
        );
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_file_iter(fixture("outbound-ca.pem"))? {
            roots.add(ca?)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .enable_http2()
            .build();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let first_event = runtime.block_on(async {
            let client = Client::builder(TokioExecutor::new()).build(connector);
            let echo = Request::get(format!("{}/one", mock.url())).body(Full::new(Bytes::new()))?;
            let echo = client.request(echo).await?;
            assert_eq!(echo.version(), hyper::Version::HTTP_2);
            echo.into_body().collect().await?;
            let completion = Request::post(format!("{}/v1/chat/completions", mock.url()))
                .body(Full::new(Bytes::from(r#"{"model":"m","stream":true}"#)))?;
            let mut events = client.request(completion).await?.into_body();
            let first = events.frame().await.ok_or("no event")??;
            while events.frame().await.transpose()?.is_some() {}
            Ok::<_, Box<dyn std::error::Error>>(first.into_data().map_err(|_| "not data")?)
        })?;
        // Alone in its frame: it was sent before the next token was produced.
        let first_event = String::from_utf8(first_event.to_vec())?;
        assert!(first_event.contains(r#""content":"a""#), "{first_event}");
        assert!(!first_event.contains(r#""content":"b""#), "{first_event}");
        let versions: Vec<_> = mock.requests().into_iter().map(|r| r.version).collect();
        assert_eq!(versions, ["HTTP/2.0", "HTTP/2.0"]);
        assert_eq!(mock.connections_accepted(), 1);
        Ok(())
    }
}
