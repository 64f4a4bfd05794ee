//! Scale-out: three `wasm-agent serve` replicas behind the real nginx running
//! `deploy/nginx/wasm-agent.conf`, rewritten only to point at them. A session stays on one
//! replica with its state, sessions spread over every replica, streamed events pass as emitted,
//! WebSockets upgrade, and the bearer-token example guards invocations but not `/ping`.

use std::fs::File;
use std::io::BufReader;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tungstenite::{ClientRequestBuilder, Message, WebSocket};

use crate::server::{
    Response, SESSION_HEADER, Server, chat_history, connect_to, read_chunk, read_head, request_to,
    send,
};
use crate::support::{TestResult, eventually, scratch};

/// Where Debian's `nginx` package installs nginx.
const NGINX: &str = "/usr/sbin/nginx";

/// The configuration under test, as shipped.
const SNIPPET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nginx/wasm-agent.conf");

/// As many replicas as the snippet's upstream names.
const REPLICAS: usize = 3;

/// Far above nginx's start (its own retries to bind a port in use take 2.5 s), so that a busy
/// machine does not fail the test.
const START_LIMIT: Duration = Duration::from_secs(30);

type Error = Box<dyn std::error::Error>;

/// nginx running the snippet in the foreground, in one process (`master_process off`), so
/// killing it leaves no worker behind and no worker switches to an unprivileged user that could
/// not write the scratch directory. Killed when dropped, and its scratch directory removed; its
/// log goes to the test's stderr first if the test is failing by then.
struct Nginx {
    child: Child,
    address: SocketAddr,
    dir: PathBuf,
}

impl Nginx {
    /// Starts nginx in front of `replicas`, and waits until it answers `/ping` through them.
    fn start(name: &str, replicas: &[SocketAddr]) -> Result<Self, Error> {
        if !Path::new(NGINX).exists() {
            return Err(format!(
                "{NGINX} is missing: these tests run the real nginx; install it with \
                 `apt-get install nginx` (`make test` does, through tests/tools/install.sh)"
            )
            .into());
        }
        let dir = scratch(name)?;
        let snippet = std::fs::read_to_string(SNIPPET)?;
        std::fs::write(dir.join("nginx.conf"), main_config(&dir))?;
        // The free port is found by binding it and letting it go for nginx: another process
        // may take it in between, and then nginx exits and the next attempt takes another.
        let mut failures = String::new();
        for _ in 0..3 {
            let address = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
            let config = rewrite(&snippet, replicas, address)?;
            std::fs::write(dir.join("wasm-agent.conf"), config)?;
            let mut child = Command::new(NGINX)
                .arg("-p")
                .arg(&dir)
                .arg("-c")
                .arg(dir.join("nginx.conf"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(File::create(dir.join("stderr.log"))?)
                .spawn()?;
            let mut exited = false;
            let ready = eventually(START_LIMIT, || {
                exited = !matches!(child.try_wait(), Ok(None));
                exited || is_ready(address)
            });
            if ready && !exited {
                return Ok(Self {
                    child,
                    address,
                    dir,
                });
            }
            let _ = child.kill();
            let _ = child.wait();
            failures.push_str(&logs(&dir));
        }
        Err(format!("nginx never answered /ping:\n{failures}").into())
    }

    /// Opens a connection.
    fn connect(&self) -> std::io::Result<TcpStream> {
        connect_to(self.address)
    }

    /// Sends one request and reads the whole response.
    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, Error> {
        request_to(self.address, method, path, headers, body)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- nginx's log ---\n{}--- end of nginx's log ---",
                logs(&self.dir)
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What nginx wrote to its stderr and its error log in `dir`.
fn logs(dir: &Path) -> String {
    let read = |name| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    format!("{}{}", read("stderr.log"), read("error.log"))
}

/// Whether nginx at `address` answers `/ping` from a replica: a 200 from nginx with a
/// replica's body, not an answer from another program that took the port.
fn is_ready(address: SocketAddr) -> bool {
    request_to(address, "GET", "/ping", &[], b"").is_ok_and(|ping| {
        ping.status == 200
            && ping
                .header("server")
                .is_some_and(|s| s.starts_with("nginx"))
            && ping.json().is_ok_and(|body| body["status"].is_string())
    })
}

/// The snippet with its upstream servers replaced by `replicas` and its port by `address`;
/// fails if the snippet no longer has the lines this test rewrites.
fn rewrite(snippet: &str, replicas: &[SocketAddr], address: SocketAddr) -> Result<String, Error> {
    let mut upstreams = replicas.iter();
    let mut listens = 0;
    let mut config = String::new();
    for line in snippet.lines() {
        let indent = &line[..line.len() - line.trim_start().len()];
        if line.trim_start().starts_with("server wasm-agent-") {
            let replica = upstreams
                .next()
                .ok_or("more upstream servers than replicas")?;
            config.push_str(&format!("{indent}server {replica};\n"));
        } else if line.trim() == "listen 8080;" {
            listens += 1;
            config.push_str(&format!("{indent}listen {address};\n"));
        } else {
            config.push_str(line);
            config.push('\n');
        }
    }
    if upstreams.next().is_some() || listens != 1 {
        return Err(format!(
            "{SNIPPET} no longer has {REPLICAS} `server wasm-agent-N:8080;` lines and one \
             `listen 8080;`, which this test rewrites"
        )
        .into());
    }
    Ok(config)
}

/// A main configuration around the rewritten snippet that keeps all nginx writes in `dir`.
fn main_config(dir: &Path) -> String {
    let dir = dir.display();
    let http = [
        format!("access_log {dir}/access.log;"),
        format!("client_body_temp_path {dir}/client_body;"),
        format!("proxy_temp_path {dir}/proxy;"),
        format!("fastcgi_temp_path {dir}/fastcgi;"),
        format!("uwsgi_temp_path {dir}/uwsgi;"),
        format!("scgi_temp_path {dir}/scgi;"),
        format!("include {dir}/wasm-agent.conf;"),
    ];
    format!(
        "daemon off;\nmaster_process off;\npid {dir}/nginx.pid;\n\
         error_log {dir}/error.log notice;\nevents {{}}\nhttp {{\n    {}\n}}\n",
        http.join("\n    ")
    )
}

/// The placeholder token the snippet accepts, read from it so that the two never disagree.
fn token() -> Result<String, Error> {
    let snippet = std::fs::read_to_string(SNIPPET)?;
    let (_, rest) = snippet
        .split_once("\"Bearer ")
        .ok_or("the snippet has no bearer token")?;
    let (token, _) = rest.split_once('"').ok_or("the bearer token is unquoted")?;
    Ok(format!("Bearer {token}"))
}

/// Three replicas of one guest, and nginx in front of them. nginx is stopped first.
struct Deployment {
    nginx: Nginx,
    replicas: Vec<Server>,
    authorization: String,
}

impl Deployment {
    /// Starts the replicas on `guest`, then nginx; `name` names the scratch directory.
    fn start(name: &str, guest: &str) -> Result<Self, Error> {
        let replicas = (0..REPLICAS)
            .map(|_| Server::start(guest, &[]))
            .collect::<Result<Vec<_>, _>>()?;
        let addresses: Vec<_> = replicas.iter().map(|r| r.address).collect();
        Ok(Self {
            nginx: Nginx::start(name, &addresses)?,
            replicas,
            authorization: token()?,
        })
    }

    /// `POST /invocations` through nginx with the token, in `session` if any; fails unless 200.
    fn invoke(&self, session: Option<&str>, body: &Value) -> Result<Value, Error> {
        let mut headers = vec![("Authorization", self.authorization.as_str())];
        headers.extend(session.map(|session| (SESSION_HEADER, session)));
        let body = body.to_string();
        let response = self
            .nginx
            .request("POST", "/invocations", &headers, body.as_bytes())?;
        if response.status != 200 {
            return Err(format!("status {}: {}", response.status, response.text()).into());
        }
        Ok(response.json()?)
    }

    /// Each replica's `invocation ended` lines, once they number `count` in all: a replica
    /// writes the line as its reply goes, so the client may see the reply first.
    fn ended_lines(&self, count: usize) -> Result<Vec<Vec<String>>, Error> {
        let lines = || -> Vec<Vec<String>> {
            let ended = |log: String| {
                log.lines()
                    .filter(|line| line.contains("invocation ended"))
                    .map(str::to_owned)
                    .collect()
            };
            self.replicas.iter().map(|r| ended(r.log())).collect()
        };
        let total = || lines().iter().map(Vec::len).sum::<usize>();
        if !eventually(Duration::from_secs(10), || total() >= count) {
            return Err(format!("{} invocations ended, not {count}", total()).into());
        }
        Ok(lines())
    }
}

/// How many of each replica's lines are of `session`.
fn served(lines: &[Vec<String>], session: &str) -> Vec<usize> {
    let field = format!("session_id={session} ");
    lines
        .iter()
        .map(|lines| lines.iter().filter(|line| line.contains(&field)).count())
        .collect()
}

/// Every invocation of a session reaches the same replica, whose instance keeps the session's
/// state: sessions taking turns each see their whole conversation, and each session's
/// invocations are all in one replica's log.
#[test]
fn a_session_stays_on_one_replica_with_its_state() -> TestResult {
    let deployment = Deployment::start("scale-out-affinity", "chat")?;
    // Seven: with a number of sessions that three divides, round robin would send each session
    // to the same replica every round, and pass for affinity.
    let sessions: Vec<String> = (0..7).map(|s| format!("affinity-{s}")).collect();
    let turns = ["one", "two", "three"];
    for (turn, message) in turns.iter().enumerate() {
        for session in &sessions {
            let reply = deployment.invoke(Some(session), &json!({ "message": message }))?;
            assert_eq!(chat_history(&reply), turns[..=turn], "{session}");
            assert_eq!(reply["session_id"], session.as_str());
        }
    }
    let lines = deployment.ended_lines(sessions.len() * turns.len())?;
    for session in &sessions {
        let mut counts = served(&lines, session);
        counts.sort_unstable();
        assert_eq!(counts, [0, 0, turns.len()], "{session}: {lines:#?}");
    }
    Ok(())
}

/// Different sessions spread over all three replicas, each session on one of them; invocations
/// without a session spread too (nginx falls back to round robin on an empty hash key).
#[test]
fn sessions_and_sessionless_invocations_spread_over_every_replica() -> TestResult {
    let deployment = Deployment::start("scale-out-spread", "chat")?;
    // 60, not fewer: where a session lands depends on the replicas' ports, which change from run
    // to run; even a replica holding only a quarter of the hash ring is missed by all 60 about
    // once in 10^7 runs.
    let sessions: Vec<String> = (0..60).map(|s| format!("spread-{s}")).collect();
    for session in &sessions {
        deployment.invoke(Some(session), &json!({ "message": "hello" }))?;
    }
    let sessionless = 30;
    for _ in 0..sessionless {
        let reply = deployment.invoke(None, &json!({ "message": "alone" }))?;
        assert_eq!(
            chat_history(&reply),
            ["alone"],
            "no session: a fresh instance"
        );
    }
    let lines = deployment.ended_lines(sessions.len() + sessionless)?;
    let mut sessions_per_replica = [0; REPLICAS];
    for session in &sessions {
        let counts = served(&lines, session);
        assert_eq!(counts.iter().sum::<usize>(), 1, "{session}: {lines:#?}");
        let replica = counts.iter().position(|&c| c == 1).ok_or("nowhere")?;
        sessions_per_replica[replica] += 1;
    }
    assert!(
        sessions_per_replica.iter().all(|&n| n > 0),
        "sessions per replica: {sessions_per_replica:?}"
    );
    let sessionless_per_replica: Vec<usize> = lines
        .iter()
        .map(|lines| {
            lines
                .iter()
                .filter(|line| !line.contains("session_id="))
                .count()
        })
        .collect();
    assert_eq!(sessionless_per_replica.iter().sum::<usize>(), sessionless);
    assert!(
        sessionless_per_replica.iter().all(|&n| n > 0),
        "invocations without a session per replica: {sessionless_per_replica:?}"
    );
    Ok(())
}

/// Without the bearer token (or with a wrong one) nginx answers `/invocations` and `/ws` with a
/// 401 and a JSON error; with it the invocation runs, and the handler sees neither the token
/// nor the platform's own headers a client forged;
/// `/ping` needs no token.
#[test]
fn the_bearer_token_guards_invocations_but_not_ping() -> TestResult {
    let deployment = Deployment::start("scale-out-auth", "echo")?;
    let nginx = &deployment.nginx;
    let body = br#"{"echo": "hello"}"#;
    let wrong = [("Authorization", "Bearer wrong")];
    let refused = [
        nginx.request("POST", "/invocations", &[], body)?,
        nginx.request("POST", "/invocations", &wrong, body)?,
        nginx.request("GET", "/ws", &[], b"")?,
    ];
    for response in &refused {
        assert_eq!(response.status, 401, "{}", response.text());
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.header("www-authenticate"), Some("Bearer"));
        assert!(response.json()?["error"].is_string(), "{}", response.text());
    }
    // The platform's own headers, forged by a client, and the token: none reaches the handler.
    let forged = [
        ("Authorization", deployment.authorization.as_str()),
        ("WorkloadAccessToken", "forged-token"),
        ("X-Amz-Bedrock-AgentCore-Identity-WAT", "forged-token"),
        ("OAuth2CallbackUrl", "https://attacker.example/callback"),
        (SESSION_HEADER, "auth"),
    ];
    let body = json!({ "echo": "hello" }).to_string();
    let response = nginx.request("POST", "/invocations", &forged, body.as_bytes())?;
    assert_eq!(response.status, 200, "{}", response.text());
    let reply = response.json()?;
    assert_eq!(reply["payload"]["echo"], "hello");
    let context = &reply["context"];
    let headers = context["headers"].as_array().ok_or("no headers")?;
    assert!(headers.is_empty(), "the handler saw: {headers:?}");
    for field in ["workload_access_token", "oauth2_callback_url"] {
        assert!(
            context[field].is_null(),
            "the handler saw {field}: {context}"
        );
    }
    let ping = nginx.request("GET", "/ping", &[], b"")?;
    assert_eq!(ping.status, 200, "{}", ping.text());
    assert_eq!(ping.json()?["status"], "Healthy");
    Ok(())
}

/// A streamed reply's first event reaches the client through nginx while the guest is still
/// running (here paused for a minute before its next event): nginx holds no event back.
#[test]
fn streamed_events_pass_through_as_emitted() -> TestResult {
    let deployment = Deployment::start("scale-out-stream", "stream")?;
    let mut stream = deployment.nginx.connect()?;
    let payload = json!({ "count": 2, "pause_ms": 60_000 }).to_string();
    let headers = [("Authorization", deployment.authorization.as_str())];
    send(
        &mut stream,
        "POST",
        "/invocations",
        &headers,
        payload.as_bytes(),
    )?;
    let mut reader = BufReader::new(stream);
    let head = read_head(&mut reader)?;
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    let mut events = String::new();
    while !events.contains("\n\n") {
        let chunk = read_chunk(&mut reader)?.ok_or("the stream ended")?;
        events.push_str(&String::from_utf8(chunk)?);
    }
    assert_eq!(events, "data: {\"index\":0}\n\n");
    for replica in &deployment.replicas {
        replica.assert_not_logged("invocation ended");
    }
    Ok(())
}

/// Reads until a data message or a close frame.
fn next(socket: &mut WebSocket<TcpStream>) -> Result<Message, Error> {
    loop {
        match socket.read()? {
            Message::Ping(_) | Message::Pong(_) => continue,
            other => return Ok(other),
        }
    }
}

/// A WebSocket with the token upgrades through nginx, messages go both ways, and the handler
/// sees the session of the handshake.
#[test]
fn a_websocket_upgrades_through_nginx() -> TestResult {
    let deployment = Deployment::start("scale-out-ws", "ws-echo")?;
    let uri: tungstenite::http::Uri = format!("ws://{}/ws", deployment.nginx.address).parse()?;
    let request = ClientRequestBuilder::new(uri)
        .with_header("Authorization", deployment.authorization.as_str())
        .with_header(SESSION_HEADER, "ws-session");
    let (mut socket, _) = tungstenite::client(request, deployment.nginx.connect()?)?;
    socket.send(Message::text("hello"))?;
    assert_eq!(next(&mut socket)?, Message::text("hello"));
    socket.send(Message::text("context"))?;
    let Message::Text(context) = next(&mut socket)? else {
        return Err("no context".into());
    };
    let context: Value = serde_json::from_str(context.as_str())?;
    assert_eq!(context["session_id"], "ws-session");
    Ok(())
}
