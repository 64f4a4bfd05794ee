//! The credential chain against a fake container endpoint and IMDS on 127.0.0.1.

use super::*;
use endpoints::parse_credentials;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex as SyncMutex;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The role the fake IMDS lists.
const ROLE: &str = "agent-role";

/// A local server playing the container endpoint (at `/container`) and IMDSv2, which
/// records every request it answers as `METHOD /path`.
struct FakeEndpoints {
    address: SocketAddr,
    state: Arc<FakeState>,
    server: tokio::task::JoinHandle<()>,
}

struct FakeState {
    requests: SyncMutex<Vec<String>>,
    /// The Authorization value the container endpoint wants.
    container_token: SyncMutex<String>,
    /// The IMDSv2 tokens handed out and still accepted.
    imds_tokens: SyncMutex<Vec<String>>,
    /// How long the credentials handed out last.
    lifetime: SyncMutex<Duration>,
    /// Whether the credential paths answer 500.
    failing: SyncMutex<bool>,
}

impl FakeEndpoints {
    async fn start(lifetime: Duration) -> Result<Self, std::io::Error> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let state = Arc::new(FakeState {
            requests: SyncMutex::default(),
            container_token: SyncMutex::new("container-token".to_owned()),
            imds_tokens: SyncMutex::default(),
            lifetime: SyncMutex::new(lifetime),
            failing: SyncMutex::new(false),
        });
        let shared = state.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                let service = service_fn(move |request| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(state.answer(&request).await) }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        Ok(Self {
            address,
            state,
            server,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    fn imds(&self) -> AwsCredentialSource {
        AwsCredentialSource::Imds {
            endpoint: self.url(""),
        }
    }

    /// How many requests matched `METHOD /path`.
    fn count(&self, line: &str) -> usize {
        let requests = self
            .state
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        requests.iter().filter(|seen| *seen == line).count()
    }

    fn set<T>(field: &SyncMutex<T>, value: T) {
        *field.lock().unwrap_or_else(|e| e.into_inner()) = value;
    }
}

impl Drop for FakeEndpoints {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeState {
    async fn answer(&self, request: &http::Request<Incoming>) -> http::Response<Full<Bytes>> {
        let path = request.uri().path();
        let line = format!("{} {path}", request.method());
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line.clone());
        let header = |name| request.headers().get(name).and_then(|v| v.to_str().ok());
        let imds_token_ok = header(IMDS_TOKEN_HEADER).is_some_and(|token| {
            let tokens = self.imds_tokens.lock().unwrap_or_else(|e| e.into_inner());
            tokens.iter().any(|known| known == token)
        });
        let failing = *self.failing.lock().unwrap_or_else(|e| e.into_inner());
        let roles_path = IMDS_CREDENTIALS_PATH;
        let role_path = format!("{IMDS_CREDENTIALS_PATH}{ROLE}");
        match (request.method().as_str(), path) {
            ("GET", "/container") => {
                let authorized = {
                    let wanted = self
                        .container_token
                        .lock()
                        .unwrap_or_else(|e| e.into_inner());
                    header("authorization") == Some(wanted.as_str())
                };
                if !authorized {
                    return reply(StatusCode::FORBIDDEN, "");
                }
                // Overlapping callers would each arrive during this pause.
                tokio::time::sleep(Duration::from_millis(50)).await;
                self.credentials("container", failing)
            }
            ("GET", "/large") => reply(StatusCode::OK, &"x".repeat(MAX_ANSWER_BYTES + 1)),
            ("PUT", IMDS_TOKEN_PATH) => {
                if header(IMDS_TOKEN_TTL_HEADER) != Some("21600") {
                    return reply(StatusCode::BAD_REQUEST, "");
                }
                let mut tokens = self.imds_tokens.lock().unwrap_or_else(|e| e.into_inner());
                let token = format!("imds-token-{}", tokens.len());
                tokens.push(token.clone());
                reply(StatusCode::OK, &token)
            }
            ("GET", _) if !imds_token_ok => reply(StatusCode::UNAUTHORIZED, ""),
            ("GET", p) if p == roles_path => reply(StatusCode::OK, &format!("{ROLE}\n")),
            ("GET", p) if p == role_path => self.credentials("imds", failing),
            _ => reply(StatusCode::NOT_FOUND, ""),
        }
    }

    fn credentials(&self, source: &str, failing: bool) -> http::Response<Full<Bytes>> {
        if failing {
            return reply(StatusCode::INTERNAL_SERVER_ERROR, "");
        }
        let lifetime = *self.lifetime.lock().unwrap_or_else(|e| e.into_inner());
        let expires = humantime::format_rfc3339_seconds(SystemTime::now() + lifetime);
        let document = serde_json::json!({
            "Code": "Success",
            "AccessKeyId": format!("ASIA-{source}"),
            "SecretAccessKey": format!("secret-{source}"),
            "Token": format!("session-{source}"),
            "Expiration": expires.to_string(),
        });
        reply(StatusCode::OK, &document.to_string())
    }
}

fn reply(status: StatusCode, body: &str) -> http::Response<Full<Bytes>> {
    let mut response = http::Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = status;
    response
}

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);

/// The container source sends its token and gives the endpoint's credentials.
#[tokio::test]
async fn container_source_gives_credentials() -> TestResult {
    let fake = FakeEndpoints::start(HOUR).await?;
    let provider = AwsCredentialProvider::new(vec![AwsCredentialSource::Container {
        uri: fake.url("/container"),
        token: Some(Secret::new("container-token")),
        token_file: None,
    }]);
    let credentials = provider.credentials().await?;
    assert_eq!(credentials.access_key_id, "ASIA-container");
    assert_eq!(credentials.secret_access_key.expose(), "secret-container");
    assert_eq!(
        credentials.session_token.as_ref().map(Secret::expose),
        Some("session-container")
    );
    let expires = credentials.expires.ok_or("no expiry")?;
    assert!(expires > SystemTime::now() + HOUR - MINUTE);
    Ok(())
}

/// The token file is read on each fetch, so a rotated token is used, and it wins over the
/// fixed token.
#[tokio::test]
async fn container_token_file_is_read_on_each_fetch() -> TestResult {
    let fake = FakeEndpoints::start(MINUTE).await?;
    let file = std::env::temp_dir().join(format!("aws-token-{}", fake.address.port()));
    std::fs::write(&file, "container-token\n")?;
    let provider = AwsCredentialProvider::new(vec![AwsCredentialSource::Container {
        uri: fake.url("/container"),
        token: Some(Secret::new("stale-token")),
        token_file: Some(file.clone()),
    }]);
    provider.credentials().await?;
    FakeEndpoints::set(&fake.state.container_token, "rotated-token".to_owned());
    std::fs::write(&file, "rotated-token")?;
    let refreshed = provider.credentials().await;
    std::fs::remove_file(&file)?;
    assert_eq!(refreshed?.access_key_id, "ASIA-container");
    assert_eq!(fake.count("GET /container"), 2);
    Ok(())
}

/// The IMDSv2 flow finds the role and its credentials, and reuses its session token.
#[tokio::test]
async fn imds_flow_reuses_its_token() -> TestResult {
    let fake = FakeEndpoints::start(MINUTE).await?;
    let provider = AwsCredentialProvider::new(vec![fake.imds()]);
    assert_eq!(provider.credentials().await?.access_key_id, "ASIA-imds");
    assert_eq!(provider.credentials().await?.access_key_id, "ASIA-imds");
    assert_eq!(fake.count("PUT /latest/api/token"), 1);
    let role = format!("GET {IMDS_CREDENTIALS_PATH}{ROLE}");
    assert_eq!(fake.count(&role), 2);
    Ok(())
}

/// A token IMDS stopped accepting is replaced once, within the same fetch.
#[tokio::test]
async fn rejected_imds_token_is_replaced() -> TestResult {
    let fake = FakeEndpoints::start(MINUTE).await?;
    let provider = AwsCredentialProvider::new(vec![fake.imds()]);
    provider.credentials().await?;
    FakeEndpoints::set(&fake.state.imds_tokens, Vec::new());
    assert_eq!(provider.credentials().await?.access_key_id, "ASIA-imds");
    assert_eq!(fake.count("PUT /latest/api/token"), 2);
    Ok(())
}

/// Credentials that expire within five minutes are fetched again on the next call; ones
/// that last an hour are not.
#[tokio::test]
async fn refreshes_only_credentials_about_to_expire() -> TestResult {
    for (lifetime, fetches) in [(MINUTE, 3), (HOUR, 1)] {
        let fake = FakeEndpoints::start(lifetime).await?;
        let provider = AwsCredentialProvider::new(vec![fake.imds()]);
        for _ in 0..3 {
            provider.credentials().await?;
        }
        let role = format!("GET {IMDS_CREDENTIALS_PATH}{ROLE}");
        assert_eq!(fake.count(&role), fetches, "lifetime {lifetime:?}");
    }
    Ok(())
}

/// A failing first source falls through to the next, and the failure is not cached.
#[tokio::test]
async fn failing_source_falls_through() -> TestResult {
    let fake = FakeEndpoints::start(HOUR).await?;
    let provider = AwsCredentialProvider::new(vec![
        AwsCredentialSource::Container {
            uri: fake.url("/container"),
            token: Some(Secret::new("wrong-token")),
            token_file: None,
        },
        fake.imds(),
    ]);
    assert_eq!(provider.credentials().await?.access_key_id, "ASIA-imds");
    assert_eq!(fake.count("GET /container"), 1);
    Ok(())
}

/// When every source fails, the error names each endpoint and what it answered.
#[tokio::test]
async fn exhausted_chain_names_each_failure() -> TestResult {
    let fake = FakeEndpoints::start(HOUR).await?;
    let provider = AwsCredentialProvider::new(vec![
        AwsCredentialSource::Container {
            uri: fake.url("/container"),
            token: None,
            token_file: None,
        },
        AwsCredentialSource::Container {
            uri: fake.url("/large"),
            token: None,
            token_file: None,
        },
    ]);
    let Err(error) = provider.credentials().await else {
        return Err("credentials from failing sources".into());
    };
    let message = error.to_string();
    let container = fake.url("/container");
    assert!(
        message.contains(&format!("{container} answered 403 Forbidden")),
        "{message}"
    );
    assert!(
        message.contains("answered with more than 65536 bytes"),
        "{message}"
    );
    let none = AwsCredentialProvider::new(Vec::new()).credentials().await;
    assert!(matches!(none, Err(CredentialError::NoSource)));
    Ok(())
}

/// With nothing cached, a failed chain is not asked again at once: the next request fails
/// at once instead of waiting out the endpoints again.
#[tokio::test]
async fn a_failed_chain_fails_fast_for_a_while() -> TestResult {
    let fake = FakeEndpoints::start(HOUR).await?;
    let provider = AwsCredentialProvider::new(vec![AwsCredentialSource::Container {
        uri: fake.url("/container"),
        token: None,
        token_file: None,
    }]);
    assert!(provider.credentials().await.is_err());
    let again = provider.credentials().await;
    assert!(
        matches!(again, Err(CredentialError::Recent(_))),
        "{again:?}"
    );
    assert_eq!(fake.count("GET /container"), 1);
    Ok(())
}

/// A refresh that fails leaves the cached credentials in use until they expire.
#[tokio::test]
async fn failed_refresh_keeps_valid_credentials() -> TestResult {
    let fake = FakeEndpoints::start(MINUTE).await?;
    let provider = AwsCredentialProvider::new(vec![fake.imds()]);
    provider.credentials().await?;
    FakeEndpoints::set(&fake.state.failing, true);
    assert_eq!(provider.credentials().await?.access_key_id, "ASIA-imds");
    // Within the pause after a failure, no new attempt is made.
    provider.credentials().await?;
    let role = format!("GET {IMDS_CREDENTIALS_PATH}{ROLE}");
    assert_eq!(fake.count(&role), 2);
    Ok(())
}

/// Two concurrent calls make one fetch.
#[tokio::test]
async fn concurrent_calls_share_one_fetch() -> TestResult {
    let fake = FakeEndpoints::start(HOUR).await?;
    let provider = AwsCredentialProvider::new(vec![AwsCredentialSource::Container {
        uri: fake.url("/container"),
        token: Some(Secret::new("container-token")),
        token_file: None,
    }]);
    let (first, second) = tokio::join!(provider.credentials(), provider.credentials());
    assert_eq!(first?.access_key_id, second?.access_key_id);
    assert_eq!(fake.count("GET /container"), 1);
    Ok(())
}

/// An endpoint that accepts the connection but never answers times out in IMDS_TIMEOUT.
#[tokio::test]
async fn silent_endpoint_times_out() -> TestResult {
    let silent = TcpListener::bind("127.0.0.1:0").await?;
    let provider = AwsCredentialProvider::new(vec![AwsCredentialSource::Imds {
        endpoint: format!("http://{}/", silent.local_addr()?),
    }]);
    let started = Instant::now();
    let result = provider.credentials().await;
    assert!(started.elapsed() < IMDS_TIMEOUT * 2);
    let Err(CredentialError::Unavailable { failures }) = result else {
        return Err("credentials from a silent endpoint".into());
    };
    assert!(matches!(failures[..], [CredentialError::Timeout { .. }]));
    Ok(())
}

/// Static credentials are given without a request and never expire.
#[tokio::test]
async fn static_credentials_never_expire() -> TestResult {
    let provider = AwsCredentialProvider::new(vec![AwsCredentialSource::Static(fixed())]);
    let credentials = provider.credentials().await?;
    assert_eq!(credentials.access_key_id, "AKIDEXAMPLE");
    assert!(credentials.is_valid_for(Duration::from_secs(10 * 365 * 86_400), SystemTime::now()));
    Ok(())
}

/// Debug output of credentials, sources and the provider shows no secret (and needs no
/// runtime to build the provider).
#[test]
fn debug_shows_no_secret() {
    let provider = AwsCredentialProvider::new(vec![
        AwsCredentialSource::Static(fixed()),
        AwsCredentialSource::Container {
            uri: "http://169.254.170.2/v2/credentials".to_owned(),
            token: Some(Secret::new("container-secret")),
            token_file: None,
        },
    ]);
    let shown = format!("{:?} {provider:?}", fixed());
    assert!(shown.contains("AKIDEXAMPLE"), "{shown}");
    for secret in ["EXAMPLEKEY", "session-secret", "container-secret"] {
        assert!(!shown.contains(secret), "{shown}");
    }
}

/// Parsing accepts fractional seconds and rejects a time that is not RFC 3339.
#[test]
fn parses_expirations() -> TestResult {
    let answer =
        br#"{"AccessKeyId":"A","SecretAccessKey":"S","Expiration":"2026-11-30T21:00:00.000Z"}"#;
    let credentials = parse_credentials(answer, "test")?;
    assert_eq!(
        credentials.expires,
        Some(humantime::parse_rfc3339("2026-11-30T21:00:00Z")?)
    );
    let answer = br#"{"AccessKeyId":"A","SecretAccessKey":"S","Expiration":"tomorrow"}"#;
    let parsed = parse_credentials(answer, "test");
    assert!(matches!(parsed, Err(CredentialError::BadExpiration { .. })));
    Ok(())
}

fn fixed() -> AwsCredentials {
    AwsCredentials {
        access_key_id: "AKIDEXAMPLE".to_owned(),
        secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
        session_token: Some(Secret::new("session-secret")),
        expires: None,
    }
}
