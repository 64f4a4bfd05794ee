//! Signing a guest's request with AWS Signature Version 4 and the host's credentials.
//!
//! What is signed: the method; the path, normalized and then percent-encoded a second time, as
//! every AWS service but S3 expects (`…v1%3A0` is signed as `…v1%253A0`); the query; the SHA-256
//! of the body; and every header the request carries except `user-agent`, `x-amzn-trace-id`
//! (aws-sigv4's defaults: proxies and tracers change them) and the hop-by-hop headers (a proxy
//! may drop or rewrite them); plus the `x-amz-date`, `x-amz-content-sha256` and
//! `x-amz-security-token` headers the signature adds.

use std::time::SystemTime;

use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningError, SigningSettings,
};
use aws_sigv4::sign::v4::SigningParams;
use http::HeaderName;
use http::header::{HOST, HeaderValue};
use http::request::Parts;

use super::aws::AwsCredentials;

/// The headers a signature sets: the guest's values are removed, never sent next to the host's.
const SIGNATURE_HEADERS: [&str; 4] = [
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

/// Hop-by-hop headers (RFC 9110 §7.6.1, and the older `keep-alive` and `proxy-connection`):
/// they concern one connection, so a signature over them could break on the way.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
pub(super) enum SignError {
    /// A header's value is not visible ASCII, which a canonical request cannot hold.
    #[error("the {name} header is not visible ASCII text, so it cannot be signed")]
    HeaderNotText {
        /// The header.
        name: HeaderName,
    },
    /// Neither a `host` header nor the URI names the host the signature is for.
    #[error("the request names no host to sign for")]
    NoHost,
    /// The credentials hold characters a header cannot carry.
    #[error("the AWS credentials cannot be sent in a header")]
    InvalidCredentials,
    /// aws-sigv4 could not build the canonical request (a URI or header it cannot read).
    #[error("the request cannot be signed: {0}")]
    Unsignable(#[from] SigningError),
}

/// Signs a request in place with SigV4 for `service` in `region`: replaces any authorization,
/// x-amz-date, x-amz-security-token and x-amz-content-sha256 the guest set, and adds
/// x-amz-content-sha256 (S3 requires it, and Bedrock accepts it).
pub(super) fn sign(
    parts: &mut Parts,
    body: &[u8],
    credentials: &AwsCredentials,
    service: &str,
    region: &str,
    time: SystemTime,
) -> Result<(), SignError> {
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    sign_with(parts, body, credentials, service, region, time, settings)
}

/// [`sign`] with the given settings.
fn sign_with(
    parts: &mut Parts,
    body: &[u8],
    credentials: &AwsCredentials,
    service: &str,
    region: &str,
    time: SystemTime,
    settings: SigningSettings,
) -> Result<(), SignError> {
    for name in SIGNATURE_HEADERS {
        parts.headers.remove(name);
    }
    // aws-sigv4 panics on a request without a host.
    if !parts.headers.contains_key(HOST) && parts.uri.host().is_none() {
        return Err(SignError::NoHost);
    }
    let headers = parts
        .headers
        .iter()
        .filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str()))
        .map(|(name, value)| match value.to_str() {
            Ok(value) => Ok((name.as_str(), value)),
            Err(_) => Err(SignError::HeaderNotText { name: name.clone() }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let identity = aws_credential_types::Credentials::new(
        &credentials.access_key_id,
        credentials.secret_access_key.expose(),
        credentials
            .session_token
            .as_ref()
            .map(|token| token.expose().to_owned()),
        credentials.expires,
        "wasm-agent",
    )
    .into();
    let params = SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .expect("every signing parameter is set")
        .into();
    let uri = parts.uri.to_string();
    let request = SignableRequest::new(
        parts.method.as_str(),
        uri.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(body),
    )?;
    let (instructions, _signature) = aws_sigv4::http_request::sign(request, &params)?.into_parts();
    let (signature_headers, _query) = instructions.into_parts();
    for header in signature_headers {
        let mut value =
            HeaderValue::from_str(header.value()).map_err(|_| SignError::InvalidCredentials)?;
        value.set_sensitive(header.sensitive());
        parts.headers.insert(header.name(), value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use sha2::{Digest, Sha256};

    use super::super::secret::Secret;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// 2015-08-30T12:36:00Z, the AWS SigV4 test suite's time.
    const SUITE_TIME: Duration = Duration::from_secs(1_440_938_160);

    fn suite_credentials(session_token: Option<&str>) -> AwsCredentials {
        AwsCredentials {
            access_key_id: "AKIDEXAMPLE".to_owned(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            session_token: session_token.map(Secret::new),
            expires: None,
        }
    }

    fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> Result<Parts, http::Error> {
        let mut builder = http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        Ok(builder.body(())?.into_parts().0)
    }

    fn header<'a>(parts: &'a Parts, name: &str) -> Result<&'a str, Box<dyn std::error::Error>> {
        let mut values = parts.headers.get_all(name).iter();
        let value = values.next().ok_or_else(|| format!("no {name} header"))?;
        assert!(values.next().is_none(), "two {name} headers");
        Ok(value.to_str()?)
    }

    /// With aws-sigv4's default settings, the suite's get-vanilla and
    /// get-vanilla-with-session-token requests get the published signatures.
    #[test]
    fn default_settings_match_the_aws_test_suite() -> TestResult {
        let cases = [
            (
                None,
                "host;x-amz-date",
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
            (
                Some("6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"),
                "host;x-amz-date;x-amz-security-token",
                "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
            ),
        ];
        for (token, signed, signature) in cases {
            let mut parts = request(
                "GET",
                "https://example.amazonaws.com/",
                &[("host", "example.amazonaws.com")],
            )?;
            let credentials = suite_credentials(token);
            let time = SystemTime::UNIX_EPOCH + SUITE_TIME;
            let settings = SigningSettings::default();
            sign_with(
                &mut parts,
                b"",
                &credentials,
                "service",
                "us-east-1",
                time,
                settings,
            )?;
            assert_eq!(
                header(&parts, "authorization")?,
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                     SignedHeaders={signed}, Signature={signature}"
                )
            );
            assert_eq!(header(&parts, "x-amz-date")?, "20150830T123600Z");
            if let Some(token) = token {
                assert_eq!(header(&parts, "x-amz-security-token")?, token);
                assert!(parts.headers["x-amz-security-token"].is_sensitive());
            }
        }
        Ok(())
    }

    /// The guest's authorization and x-amz-* headers are replaced, x-amz-content-sha256 is the
    /// body's SHA-256, and neither user-agent nor hop-by-hop headers are signed.
    #[test]
    fn replaces_the_guests_signature_headers() -> TestResult {
        let body = br#"{"messages":[]}"#;
        let mut parts = request(
            "POST",
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/converse",
            &[
                ("host", "bedrock-runtime.us-east-1.amazonaws.com"),
                ("content-type", "application/json"),
                ("user-agent", "guest/1.0"),
                ("te", "trailers"),
                ("authorization", "Bearer guest-dummy"),
                ("x-amz-date", "20000101T000000Z"),
                ("x-amz-security-token", "guest-token"),
                ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
            ],
        )?;
        let credentials = suite_credentials(Some("host-token"));
        let time = SystemTime::UNIX_EPOCH + SUITE_TIME;
        sign(&mut parts, body, &credentials, "bedrock", "us-east-1", time)?;
        let authorization = header(&parts, "authorization")?;
        assert!(authorization.starts_with(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, \
             SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, \
             Signature="
        ));
        assert_eq!(header(&parts, "x-amz-date")?, "20150830T123600Z");
        assert_eq!(header(&parts, "x-amz-security-token")?, "host-token");
        let body_hash = format!("{:x}", Sha256::digest(body));
        assert_eq!(header(&parts, "x-amz-content-sha256")?, body_hash);
        assert_eq!(header(&parts, "user-agent")?, "guest/1.0");
        Ok(())
    }

    /// A Bedrock model-id path is signed double-encoded (`%3A` as `%253A`): the signature equals
    /// one computed independently from AWS's documented algorithm (Python's hmac and hashlib,
    /// over the canonical request with the path
    /// `/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse`).
    #[test]
    fn signs_a_bedrock_model_path() -> TestResult {
        let mut parts = request(
            "POST",
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
            &[
                ("host", "bedrock-runtime.us-east-1.amazonaws.com"),
                ("content-type", "application/json"),
            ],
        )?;
        let body = br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#;
        let credentials = suite_credentials(Some("session-token-example"));
        // 2026-08-30T12:00:00Z
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_788_091_200);
        sign(&mut parts, body, &credentials, "bedrock", "us-east-1", time)?;
        assert_eq!(
            header(&parts, "authorization")?,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260830/us-east-1/bedrock/aws4_request, \
             SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, \
             Signature=f569cb437ef22aa197628f748f5e9a48065398febb3be36c4521ae4124b9fd34"
        );
        assert_eq!(
            parts.uri.path(),
            "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
        );
        Ok(())
    }

    /// Requests that cannot be signed give an error, not a panic or a partial signature.
    #[test]
    fn unsignable_requests_are_errors() -> TestResult {
        let credentials = suite_credentials(None);
        let time = SystemTime::UNIX_EPOCH + SUITE_TIME;
        let mut no_host = request("GET", "/path", &[])?;
        let result = sign(
            &mut no_host,
            b"",
            &credentials,
            "service",
            "us-east-1",
            time,
        );
        assert!(matches!(result, Err(SignError::NoHost)));
        let mut binary = request("GET", "https://example.amazonaws.com/", &[])?;
        binary
            .headers
            .insert("x-name", HeaderValue::from_bytes(b"caf\xe9")?);
        let result = sign(&mut binary, b"", &credentials, "service", "us-east-1", time);
        assert!(matches!(result, Err(SignError::HeaderNotText { .. })));
        assert!(!binary.headers.contains_key("authorization"));
        Ok(())
    }
}
