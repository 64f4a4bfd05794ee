//! Fetching credentials from the endpoints that hand them out: the container credentials
//! endpoint and IMDSv2, each over plain HTTP with a short timeout and a bounded answer.

use std::path::Path;
use std::time::Instant;

use bytes::Bytes;
use http::header::{AUTHORIZATION, HeaderValue};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use serde::Deserialize;

use super::*;

impl AwsCredentialProvider {
    /// Credentials from the container credentials endpoint.
    pub(super) async fn container(
        &self,
        uri: &str,
        token: Option<&Secret>,
        token_file: Option<&Path>,
    ) -> Result<AwsCredentials, CredentialError> {
        let origin = container_origin(uri);
        let token = match token_file {
            Some(path) => Some(read_token_file(path).await?),
            None => token.cloned(),
        };
        let mut request = Request::get(uri);
        if let Some(token) = &token {
            request = request.header(AUTHORIZATION, header_value(token, &origin)?);
        }
        let request = request
            .body(Full::default())
            .map_err(|source| invalid_endpoint(&origin, source))?;
        let answer = self.send(request, CONTAINER_TIMEOUT, &origin).await?;
        parse_credentials(&answer, &origin)
    }

    /// Credentials from IMDSv2. A cached token IMDS no longer accepts (its service restarted) is
    /// replaced once.
    pub(super) async fn imds(
        &self,
        endpoint: &str,
        token: &mut Option<ImdsToken>,
    ) -> Result<AwsCredentials, CredentialError> {
        let endpoint = endpoint.trim_end_matches('/');
        let cached = token.as_ref().is_some_and(|t| t.is_usable_for(endpoint));
        match self.imds_credentials(endpoint, token).await {
            Err(CredentialError::Status {
                status: StatusCode::UNAUTHORIZED,
                ..
            }) if cached => {
                *token = None;
                self.imds_credentials(endpoint, token).await
            }
            result => result,
        }
    }

    /// The IMDSv2 flow: a token, the role's name, the role's credentials.
    async fn imds_credentials(
        &self,
        endpoint: &str,
        token: &mut Option<ImdsToken>,
    ) -> Result<AwsCredentials, CredentialError> {
        let token = self.imds_token(endpoint, token).await?;
        let roles_url = format!("{endpoint}{IMDS_CREDENTIALS_PATH}");
        let roles = self.imds_get(&roles_url, &token).await?;
        let role = std::str::from_utf8(&roles)
            .ok()
            .and_then(|roles| roles.lines().map(str::trim).find(|role| !role.is_empty()))
            .ok_or_else(|| CredentialError::NoRole {
                origin: imds_origin(&roles_url),
            })?;
        let credentials_url = format!("{roles_url}{role}");
        let answer = self.imds_get(&credentials_url, &token).await?;
        parse_credentials(&answer, &imds_origin(&credentials_url))
    }

    /// The cached IMDSv2 token, or a new one.
    async fn imds_token(
        &self,
        endpoint: &str,
        cached: &mut Option<ImdsToken>,
    ) -> Result<Secret, CredentialError> {
        if let Some(token) = cached.as_ref()
            && token.is_usable_for(endpoint)
        {
            return Ok(token.value.clone());
        }
        let url = format!("{endpoint}{IMDS_TOKEN_PATH}");
        let origin = imds_origin(&url);
        let request = Request::put(&url)
            .header(IMDS_TOKEN_TTL_HEADER, IMDS_TOKEN_TTL.as_secs())
            .body(Full::default())
            .map_err(|source| invalid_endpoint(&origin, source))?;
        let asked_at = Instant::now();
        let answer = self.send(request, IMDS_TIMEOUT, &origin).await?;
        let value = std::str::from_utf8(&answer)
            .map(|value| Secret::new(value.trim()))
            .map_err(|_| CredentialError::InvalidToken {
                origin: origin.clone(),
            })?;
        header_value(&value, &origin)?;
        *cached = Some(ImdsToken {
            endpoint: endpoint.to_owned(),
            value: value.clone(),
            renew_at: asked_at + IMDS_TOKEN_TTL - IMDS_TOKEN_MARGIN,
        });
        Ok(value)
    }

    /// A GET to IMDS with the session token.
    async fn imds_get(&self, url: &str, token: &Secret) -> Result<Bytes, CredentialError> {
        let origin = imds_origin(url);
        let request = Request::get(url)
            .header(IMDS_TOKEN_HEADER, header_value(token, &origin)?)
            .body(Full::default())
            .map_err(|source| invalid_endpoint(&origin, source))?;
        self.send(request, IMDS_TIMEOUT, &origin).await
    }

    /// Sends `request` and reads a successful answer's body, all within `timeout`.
    async fn send(
        &self,
        request: Request<Full<Bytes>>,
        timeout: Duration,
        origin: &str,
    ) -> Result<Bytes, CredentialError> {
        let exchange = async {
            let response = self.client.request(request).await.map_err(|source| {
                CredentialError::Unreachable {
                    origin: origin.to_owned(),
                    source: source.into(),
                }
            })?;
            let status = response.status();
            if !status.is_success() {
                return Err(CredentialError::Status {
                    origin: origin.to_owned(),
                    status,
                });
            }
            match Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
            {
                Ok(body) => Ok(body.to_bytes()),
                Err(error) if error.is::<LengthLimitError>() => Err(CredentialError::TooLarge {
                    origin: origin.to_owned(),
                    limit: MAX_ANSWER_BYTES,
                }),
                Err(source) => Err(CredentialError::Unreachable {
                    origin: origin.to_owned(),
                    source,
                }),
            }
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(CredentialError::Timeout {
                    origin: origin.to_owned(),
                    timeout,
                })
            })
    }
}

/// The credentials JSON that IMDS and the container endpoints answer with.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CredentialsDocument {
    access_key_id: String,
    secret_access_key: String,
    token: Option<String>,
    expiration: Option<String>,
}

/// Credentials from an endpoint's answer.
pub(super) fn parse_credentials(
    answer: &[u8],
    origin: &str,
) -> Result<AwsCredentials, CredentialError> {
    let document: CredentialsDocument =
        serde_json::from_slice(answer).map_err(|source| CredentialError::Malformed {
            origin: origin.to_owned(),
            source,
        })?;
    let expires = document
        .expiration
        .map(|value| {
            humantime::parse_rfc3339(&value).map_err(|source| CredentialError::BadExpiration {
                origin: origin.to_owned(),
                value,
                source,
            })
        })
        .transpose()?;
    Ok(AwsCredentials {
        access_key_id: document.access_key_id,
        secret_access_key: Secret::new(document.secret_access_key),
        session_token: document.token.map(Secret::new),
        expires,
    })
}

/// The container authorization token, read afresh: the runtime rotates the file.
async fn read_token_file(path: &Path) -> Result<Secret, CredentialError> {
    let owned = path.to_owned();
    let read = tokio::task::spawn_blocking(move || std::fs::read_to_string(owned))
        .await
        .unwrap_or_else(|joined| Err(std::io::Error::other(joined)));
    let token = read.map_err(|source| CredentialError::TokenFile {
        path: path.to_owned(),
        source,
    })?;
    Ok(Secret::new(token.trim()))
}

/// A token as a header value, marked sensitive so that no formatting of the request shows it.
fn header_value(token: &Secret, origin: &str) -> Result<HeaderValue, CredentialError> {
    let invalid = || CredentialError::InvalidToken {
        origin: origin.to_owned(),
    };
    if token.expose().is_empty() {
        return Err(invalid());
    }
    let mut value = HeaderValue::from_str(token.expose()).map_err(|_| invalid())?;
    value.set_sensitive(true);
    Ok(value)
}

fn invalid_endpoint(origin: &str, source: http::Error) -> CredentialError {
    CredentialError::InvalidEndpoint {
        origin: origin.to_owned(),
        source,
    }
}

pub(super) fn container_origin(uri: &str) -> String {
    format!("the container credentials endpoint {uri}")
}

pub(super) fn imds_origin(url: &str) -> String {
    format!("the instance metadata service {url}")
}

/// An error and its causes, for one message: hyper's own messages ("client error (Connect)")
/// leave the reason to their sources.
pub(super) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        message = format!("{message}: {error}");
        cause = error.source();
    }
    message
}
