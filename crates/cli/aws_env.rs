//! The AWS SDKs' environment variables, read into the host's credential sources and region: the
//! binary reads its environment, the host library never does.

use std::path::PathBuf;

use wasm_agent_host::outbound::{AwsCredentialSource, AwsCredentials, Secret};

/// Where the ECS agent serves credentials; AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is a path on
/// it (the address every AWS SDK uses).
const ECS_CREDENTIALS_ENDPOINT: &str = "http://169.254.170.2";

/// The instance metadata service's address on EC2, which AgentCore's MMDS also answers on.
const DEFAULT_IMDS_ENDPOINT: &str = "http://169.254.169.254";

/// The sources of AWS credentials this environment names, in the SDKs' order: static keys, the
/// container endpoint, then IMDS (unless AWS_EC2_METADATA_DISABLED=true). Empty values count as
/// unset; a relative container URI wins over a full one, as in the SDKs.
pub(crate) fn aws_credential_sources(
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<AwsCredentialSource> {
    let var = |name: &str| env(name).filter(|value| !value.is_empty());
    let mut sources = Vec::new();
    if let (Some(access_key_id), Some(secret_access_key)) =
        (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
    {
        sources.push(AwsCredentialSource::Static(AwsCredentials {
            access_key_id,
            secret_access_key: Secret::new(secret_access_key),
            session_token: var("AWS_SESSION_TOKEN").map(Secret::new),
            expires: None,
        }));
    }
    let container_uri = var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .map(|path| format!("{ECS_CREDENTIALS_ENDPOINT}{path}"))
        .or_else(|| var("AWS_CONTAINER_CREDENTIALS_FULL_URI"));
    if let Some(uri) = container_uri {
        sources.push(AwsCredentialSource::Container {
            uri,
            token: var("AWS_CONTAINER_AUTHORIZATION_TOKEN").map(Secret::new),
            token_file: var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE").map(PathBuf::from),
        });
    }
    let imds_disabled = var("AWS_EC2_METADATA_DISABLED")
        .is_some_and(|disabled| disabled.eq_ignore_ascii_case("true"));
    if !imds_disabled {
        sources.push(AwsCredentialSource::Imds {
            endpoint: var("AWS_EC2_METADATA_SERVICE_ENDPOINT")
                .unwrap_or_else(|| DEFAULT_IMDS_ENDPOINT.to_owned()),
        });
    }
    sources
}

/// The region from AWS_REGION, else AWS_DEFAULT_REGION.
pub(crate) fn aws_region(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    ["AWS_REGION", "AWS_DEFAULT_REGION"]
        .into_iter()
        .find_map(|name| env(name).filter(|value| !value.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An environment holding exactly `vars`.
    fn environment(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        move |name| {
            vars.iter()
                .find(|(var, _)| var == name)
                .map(|(_, value)| value.clone())
        }
    }

    /// Static keys, then the container endpoint with its token and file, then IMDS at its
    /// configured endpoint.
    #[test]
    fn reads_every_source_in_order() -> Result<(), String> {
        let env = environment(&[
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "session"),
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://127.0.0.1:9911/creds",
            ),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "token"),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "/run/token"),
            (
                "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                "http://[fd00:ec2::254]",
            ),
        ]);
        let sources = aws_credential_sources(&env);
        let [
            AwsCredentialSource::Static(keys),
            AwsCredentialSource::Container {
                uri,
                token,
                token_file,
            },
            AwsCredentialSource::Imds { endpoint },
        ] = &sources[..]
        else {
            return Err(format!("unexpected sources: {sources:?}"));
        };
        assert_eq!(keys.access_key_id, "AKID");
        assert_eq!(keys.secret_access_key.expose(), "secret");
        assert_eq!(
            keys.session_token.as_ref().map(Secret::expose),
            Some("session")
        );
        assert_eq!(uri, "http://127.0.0.1:9911/creds");
        assert_eq!(token.as_ref().map(Secret::expose), Some("token"));
        assert_eq!(
            token_file.as_deref(),
            Some(std::path::Path::new("/run/token"))
        );
        assert_eq!(endpoint, "http://[fd00:ec2::254]");
        Ok(())
    }

    /// An empty environment names IMDS at its default address, and nothing else.
    #[test]
    fn defaults_to_imds() -> Result<(), String> {
        let sources = aws_credential_sources(&environment(&[]));
        let [AwsCredentialSource::Imds { endpoint }] = &sources[..] else {
            return Err(format!("unexpected sources: {sources:?}"));
        };
        assert_eq!(endpoint, DEFAULT_IMDS_ENDPOINT);
        Ok(())
    }

    /// A relative container URI is rooted at the ECS agent and wins over a full one; empty
    /// values and half a key pair count as unset; IMDS can be disabled.
    #[test]
    fn relative_uri_empty_values_and_disabled_imds() -> Result<(), String> {
        let env = environment(&[
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", ""),
            (
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "/v2/credentials/abc",
            ),
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://127.0.0.1/ignored",
            ),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", ""),
            ("AWS_EC2_METADATA_DISABLED", "TRUE"),
        ]);
        let sources = aws_credential_sources(&env);
        let [
            AwsCredentialSource::Container {
                uri,
                token: None,
                token_file: None,
            },
        ] = &sources[..]
        else {
            return Err(format!("unexpected sources: {sources:?}"));
        };
        assert_eq!(uri, "http://169.254.170.2/v2/credentials/abc");
        Ok(())
    }

    /// AWS_REGION wins over AWS_DEFAULT_REGION; an empty one is skipped.
    #[test]
    fn reads_the_region() {
        let both = environment(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ]);
        assert_eq!(aws_region(&both).as_deref(), Some("eu-west-1"));
        let empty = environment(&[("AWS_REGION", ""), ("AWS_DEFAULT_REGION", "us-east-1")]);
        assert_eq!(aws_region(&empty).as_deref(), Some("us-east-1"));
        assert_eq!(aws_region(&environment(&[])), None);
    }
}
