//! The host's own AWS credentials, for signing guests' requests: a chain of sources (fixed keys,
//! the container credentials endpoint, IMDSv2) behind a cache that replaces them before they
//! expire. The endpoints are the host's: the guests' allow-list never applies to them, and guests
//! never see what they answer.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::StatusCode;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Mutex;
use tracing::{info, warn};

use super::secret::Secret;

/// How long before they expire cached credentials are replaced. The AWS SDKs refresh this early,
/// and IMDS and the container endpoints hand out new credentials at least five minutes before the
/// old ones expire; a request signed just before the refresh still has minutes to reach AWS.
const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);

/// After a failed refresh, how long credentials that have not expired yet are used without trying
/// again: an attempt can take seconds per source, and every signed request waits for it.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);

/// Time for each request to the instance metadata service, connection included. It is link-local
/// and answers in milliseconds, while off EC2 its address leads nowhere: waiting longer would only
/// delay the next source (the AWS SDKs wait 1 s too).
const IMDS_TIMEOUT: Duration = Duration::from_secs(1);

/// Time for each request to the container credentials endpoint, connection included: a local
/// agent (ECS, EKS Pod Identity) that answers quickly, while a guest's request waits for it (the
/// AWS SDKs' connect timeout).
const CONTAINER_TIMEOUT: Duration = Duration::from_secs(2);

/// Bytes read from an endpoint's answer: credentials JSON is under 4 KiB, so this only stops an
/// endpoint that misbehaves from filling the host's memory.
const MAX_ANSWER_BYTES: usize = 64 << 10;

/// Lifetime asked for an IMDSv2 session token: the longest IMDS grants (6 hours), so one token
/// serves many refreshes.
const IMDS_TOKEN_TTL: Duration = Duration::from_secs(21_600);

/// How long before its TTL ends an IMDSv2 token is replaced, so that it cannot expire between
/// being taken from the cache and reaching IMDS.
const IMDS_TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// Where IMDSv2 hands out session tokens.
const IMDS_TOKEN_PATH: &str = "/latest/api/token";
/// Where IMDS lists the instance's role, and serves its credentials under the role's name.
const IMDS_CREDENTIALS_PATH: &str = "/latest/meta-data/iam/security-credentials/";
/// The header asking IMDS for a token's lifetime in seconds.
const IMDS_TOKEN_TTL_HEADER: &str = "x-aws-ec2-metadata-token-ttl-seconds";
/// The header carrying an IMDSv2 token.
const IMDS_TOKEN_HEADER: &str = "x-aws-ec2-metadata-token";

/// AWS credentials.
#[derive(Clone)]
pub struct AwsCredentials {
    /// The access key id: not a secret, and what identifies the credentials in logs.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// The session token of temporary credentials.
    pub session_token: Option<Secret>,
    /// When temporary credentials stop working; `None` for keys that do not expire.
    pub expires: Option<SystemTime>,
}

impl AwsCredentials {
    /// Whether the credentials still work `margin` after `now`.
    fn is_valid_for(&self, margin: Duration, now: SystemTime) -> bool {
        self.expires.is_none_or(|expires| expires > now + margin)
    }
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Where the host's AWS credentials come from, in the order the binary found them.
#[derive(Debug, Clone)]
pub enum AwsCredentialSource {
    /// Fixed credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN).
    Static(AwsCredentials),
    /// The container credentials endpoint (ECS, and any runtime that sets
    /// AWS_CONTAINER_CREDENTIALS_FULL_URI or _RELATIVE_URI): GET `uri` with an Authorization
    /// header from the token file if there is one (read on each fetch: it is rotated), else from
    /// the token.
    Container {
        /// The endpoint, taken as given; the client speaks plain HTTP only, so an `https` URI
        /// fails when fetched.
        uri: String,
        /// The Authorization header's value.
        token: Option<Secret>,
        /// A file holding the Authorization header's value; it wins over `token`, as in the SDKs.
        token_file: Option<PathBuf>,
    },
    /// The instance metadata service, IMDSv2 (PUT /latest/api/token with
    /// X-aws-ec2-metadata-token-ttl-seconds, then GET /latest/meta-data/iam/security-credentials/
    /// to find the role, then GET .../ROLE with X-aws-ec2-metadata-token). AgentCore's microVM
    /// metadata service (MMDS) speaks it.
    Imds {
        /// Scheme and authority, e.g. `http://169.254.169.254`.
        endpoint: String,
    },
}

impl AwsCredentialSource {
    /// The source, as log lines name it.
    fn describe(&self) -> String {
        match self {
            Self::Static(_) => "the static credentials".to_owned(),
            Self::Container { uri, .. } => container_origin(uri),
            Self::Imds { endpoint } => imds_origin(endpoint),
        }
    }
}

/// Why the host has no AWS credentials. Each message names the source, and never a secret;
/// `origin` is the endpoint and path a request went to.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The sources failed moments ago and are not asked again yet, so that requests fail at
    /// once instead of each waiting out the endpoints' timeouts.
    #[error("no source gave AWS credentials moments ago ({0}); asking again shortly")]
    Recent(String),
    /// No source is configured: the operator has to give one.
    #[error("no source of AWS credentials is configured")]
    NoSource,
    /// Every source failed; each failure, in the sources' order.
    #[error("no source gave AWS credentials: {}", list(failures))]
    Unavailable {
        /// Why each source failed.
        failures: Vec<CredentialError>,
    },
    /// An endpoint's address is not a valid URI.
    #[error("{origin} is not a valid URI: {source}")]
    InvalidEndpoint {
        origin: String,
        /// What `http` said.
        source: http::Error,
    },
    /// An endpoint did not answer in time (off AWS, IMDS never does).
    #[error("{origin} did not answer within {timeout:?}")]
    Timeout {
        origin: String,
        /// The time it had.
        timeout: Duration,
    },
    /// An endpoint could not be reached, or its answer could not be read.
    #[error("{origin} could not be reached: {}", chain(&**source))]
    Unreachable {
        origin: String,
        /// The connection's or the body's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An endpoint refused: 401 or 403 for a wrong token, 404 for no role.
    #[error("{origin} answered {status}")]
    Status {
        origin: String,
        /// Its answer's status.
        status: StatusCode,
    },
    /// An endpoint's answer is larger than any credentials.
    #[error("{origin} answered with more than {limit} bytes")]
    TooLarge {
        origin: String,
        /// The bytes read at most.
        limit: usize,
    },
    /// An endpoint's answer is not credentials JSON.
    #[error("{origin} answered with something other than credentials: {source}")]
    Malformed {
        origin: String,
        /// What the JSON parser said (it quotes no string value).
        source: serde_json::Error,
    },
    /// Credentials whose `Expiration` is not an RFC 3339 time.
    #[error("{origin} gave an expiration that is not an RFC 3339 time ({value:?}): {source}")]
    BadExpiration {
        origin: String,
        /// The expiration as given.
        value: String,
        /// What the parser said.
        source: humantime::TimestampError,
    },
    /// IMDS lists no role: the instance has no instance profile attached.
    #[error("{origin} lists no IAM role: attach one to the instance")]
    NoRole { origin: String },
    /// A token is empty or cannot be sent in a header.
    #[error("the token for {origin} is empty or not a valid header value")]
    InvalidToken { origin: String },
    /// The container authorization token file could not be read.
    #[error("cannot read the container authorization token file {path}: {source}", path = path.display())]
    TokenFile {
        /// The file named.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// Fetches and caches the host's AWS credentials; refreshed before they expire.
pub struct AwsCredentialProvider {
    sources: Vec<AwsCredentialSource>,
    client: Client<HttpConnector, Full<Bytes>>,
    /// Held across a fetch, so that concurrent callers share it.
    cache: Mutex<Cache>,
}

/// What the provider keeps between calls.
#[derive(Default)]
struct Cache {
    credentials: Option<AwsCredentials>,
    /// When a refresh last failed.
    failed_at: Option<Instant>,
    /// Why it failed, while there are no credentials to fall back on.
    last_error: Option<String>,
    imds_token: Option<ImdsToken>,
}

/// An IMDSv2 session token and when to replace it.
struct ImdsToken {
    endpoint: String,
    value: Secret,
    renew_at: Instant,
}

impl AwsCredentialProvider {
    /// A provider that tries `sources` in order.
    pub fn new(sources: Vec<AwsCredentialSource>) -> Self {
        // Fetches come in bursts of at most three requests, an hour or more apart: a kept
        // connection would only go stale in between.
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build_http();
        Self {
            sources,
            client,
            cache: Mutex::new(Cache::default()),
        }
    }

    /// Current credentials: cached ones while they are valid for more than `REFRESH_BEFORE`,
    /// else fetched again from the first source that gives some. Concurrent callers share one
    /// fetch. If a refresh fails but the cached credentials have not expired yet, they are used,
    /// and the refresh is retried after `RETRY_AFTER_FAILURE`.
    pub async fn credentials(&self) -> Result<AwsCredentials, CredentialError> {
        let mut cache = self.cache.lock().await;
        if let Some(cached) = &cache.credentials {
            let now = SystemTime::now();
            let pausing = cache
                .failed_at
                .is_some_and(|at| at.elapsed() < RETRY_AFTER_FAILURE);
            if cached.is_valid_for(REFRESH_BEFORE, now)
                || (pausing && cached.is_valid_for(Duration::ZERO, now))
            {
                return Ok(cached.clone());
            }
        }
        let has_valid = cache
            .credentials
            .as_ref()
            .is_some_and(|c| c.is_valid_for(Duration::ZERO, SystemTime::now()));
        if !has_valid
            && let Some(error) = &cache.last_error
            && cache
                .failed_at
                .is_some_and(|at| at.elapsed() < RETRY_AFTER_FAILURE)
        {
            return Err(CredentialError::Recent(error.clone()));
        }
        match self.fetch(&mut cache.imds_token).await {
            Ok(fresh) => {
                cache.credentials = Some(fresh.clone());
                cache.failed_at = None;
                cache.last_error = None;
                Ok(fresh)
            }
            Err(error) => match cache.credentials.clone() {
                Some(cached) if cached.is_valid_for(Duration::ZERO, SystemTime::now()) => {
                    warn!(%error, "cannot refresh the AWS credentials; using the cached ones until they expire");
                    cache.failed_at = Some(Instant::now());
                    Ok(cached)
                }
                _ => {
                    cache.failed_at = Some(Instant::now());
                    cache.last_error = Some(error.to_string());
                    Err(error)
                }
            },
        }
    }

    /// Credentials from the first source that gives some.
    async fn fetch(
        &self,
        imds_token: &mut Option<ImdsToken>,
    ) -> Result<AwsCredentials, CredentialError> {
        if self.sources.is_empty() {
            return Err(CredentialError::NoSource);
        }
        let mut failures = Vec::new();
        for source in &self.sources {
            let fetched = match source {
                AwsCredentialSource::Static(credentials) => Ok(credentials.clone()),
                AwsCredentialSource::Container {
                    uri,
                    token,
                    token_file,
                } => {
                    self.container(uri, token.as_ref(), token_file.as_deref())
                        .await
                }
                AwsCredentialSource::Imds { endpoint } => self.imds(endpoint, imds_token).await,
            };
            match fetched {
                Ok(credentials) => {
                    info!(
                        source = %source.describe(),
                        access_key_id = %credentials.access_key_id,
                        expires = %credentials.expires.map_or_else(
                            || "never".to_owned(),
                            |at| humantime::format_rfc3339_seconds(at).to_string(),
                        ),
                        "fetched AWS credentials",
                    );
                    return Ok(credentials);
                }
                Err(error) => {
                    warn!(%error, "an AWS credential source failed");
                    failures.push(error);
                }
            }
        }
        Err(CredentialError::Unavailable { failures })
    }
}

impl fmt::Debug for AwsCredentialProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredentialProvider")
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

impl ImdsToken {
    /// Whether the token is for `endpoint` and has time left.
    fn is_usable_for(&self, endpoint: &str) -> bool {
        self.endpoint == endpoint && Instant::now() < self.renew_at
    }
}

/// The failures of a chain, for one message.
fn list(failures: &[CredentialError]) -> String {
    let messages: Vec<String> = failures.iter().map(ToString::to_string).collect();
    messages.join("; ")
}

mod endpoints;

use endpoints::{chain, container_origin, imds_origin};

#[cfg(test)]
mod tests {
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
        assert!(
            credentials.is_valid_for(Duration::from_secs(10 * 365 * 86_400), SystemTime::now())
        );
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
}
