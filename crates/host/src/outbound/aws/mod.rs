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
use endpoints::{chain, container_origin, imds_origin};

mod endpoints;

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
        /// The endpoint or file asked, for the person reading the error.
        origin: String,
        /// What `http` said.
        source: http::Error,
    },
    /// An endpoint did not answer in time (off AWS, IMDS never does).
    #[error("{origin} did not answer within {timeout:?}")]
    Timeout {
        /// The endpoint or file asked, for the person reading the error.
        origin: String,
        /// The time it had.
        timeout: Duration,
    },
    /// An endpoint could not be reached, or its answer could not be read.
    #[error("{origin} could not be reached: {}", chain(&**source))]
    Unreachable {
        /// The endpoint or file asked, for the person reading the error.
        origin: String,
        /// The connection's or the body's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An endpoint refused: 401 or 403 for a wrong token, 404 for no role.
    #[error("{origin} answered {status}")]
    Status {
        /// The endpoint or file asked, for the person reading the error.
        origin: String,
        /// Its answer's status.
        status: StatusCode,
    },
    /// An endpoint's answer is larger than any credentials.
    #[error("{origin} answered with more than {limit} bytes")]
    TooLarge {
        /// The endpoint or file asked, for the person reading the error.
        origin: String,
        /// The bytes read at most.
        limit: usize,
    },
    /// An endpoint's answer is not credentials JSON.
    #[error("{origin} answered with something other than credentials: {source}")]
    Malformed {
        /// The endpoint or file asked, for the person reading the error.
        origin: String,
        /// What the JSON parser said (it quotes no string value).
        source: serde_json::Error,
    },
    /// Credentials whose `Expiration` is not an RFC 3339 time.
    #[error("{origin} gave an expiration that is not an RFC 3339 time ({value:?}): {source}")]
    BadExpiration {
        /// The endpoint or file asked, for the person reading the error.
        origin: String,
        /// The expiration as given.
        value: String,
        /// What the parser said.
        source: humantime::TimestampError,
    },
    /// IMDS lists no role: the instance has no instance profile attached.
    #[error("{origin} lists no IAM role: attach one to the instance")]
    NoRole {
        /// The endpoint asked.
        origin: String,
    },
    /// A token is empty or cannot be sent in a header.
    #[error("the token for {origin} is empty or not a valid header value")]
    InvalidToken {
        /// The endpoint the token is for.
        origin: String,
    },
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

#[cfg(test)]
mod tests;
