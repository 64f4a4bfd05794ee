//! Credentials the host attaches to a guest's requests: `RULE=SCHEME`, where the scheme says
//! what to attach and where the host finds the secret. The guest's own value, if it set one, is
//! replaced, so a guest written against an SDK that insists on an API key can send a
//! placeholder while the real key stays in the host.

use http::HeaderName;
use http::header::{AUTHORIZATION, HeaderValue};
use http::request::Parts;

use super::rules::{Destination, Rule};
use super::secret::Secret;

/// Headers a credential may not set: they frame or route the request, which is the host's.
const RESERVED: &[&str] = &[
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-connection",
];

/// What the host attaches to a matching request.
#[derive(Debug, Clone)]
pub enum Credential {
    /// `authorization: Bearer <secret>`.
    Bearer(Secret),
    /// A header of the operator's choosing.
    Header {
        /// The header's name.
        name: HeaderName,
        /// Its value.
        value: Secret,
    },
    /// An AWS Signature Version 4 with the host's AWS credentials.
    SigV4 {
        /// The signing name of the service (`bedrock` for Bedrock's runtime).
        service: String,
        /// The region signed for.
        region: String,
    },
}

/// A destination rule and the credential for requests it matches.
#[derive(Debug, Clone)]
pub struct AuthRule {
    /// The requests it applies to.
    pub rule: Rule,
    /// What is attached to them.
    pub credential: Credential,
    /// The environment variable the secret was read from, if any: never a guest's to see.
    pub variable: Option<String>,
}

impl AuthRule {
    /// Parses `RULE=SCHEME`: `sigv4:SERVICE[:REGION]`, `bearer-env:VAR` or
    /// `header-env:NAME:VAR`. Variables are read through `env` (the binary's environment, read
    /// once at start); a sigv4 rule without a region takes `default_region`.
    pub fn parse(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
        default_region: Option<&str>,
    ) -> Result<Self, String> {
        let form = "write RULE=sigv4:SERVICE[:REGION], RULE=bearer-env:VAR or \
                    RULE=header-env:NAME:VAR";
        let (rule, scheme) = text
            .split_once('=')
            .ok_or_else(|| format!("`{text}`: no `=` ({form})"))?;
        let rule = Rule::parse(rule)?;
        let read = |var: &str| {
            env(var)
                .filter(|value| !value.is_empty())
                .map(Secret::new)
                .ok_or_else(|| format!("`{text}`: the environment variable {var} is not set"))
        };
        let credential = match scheme.split(':').collect::<Vec<_>>().as_slice() {
            ["sigv4", service] | ["sigv4", service, ""] if !service.is_empty() => {
                let region = default_region.ok_or_else(|| {
                    format!("`{text}`: no region (write sigv4:{service}:REGION, or set AWS_REGION)")
                })?;
                Credential::SigV4 {
                    service: (*service).to_owned(),
                    region: region.to_owned(),
                }
            }
            ["sigv4", service, region] if !service.is_empty() => Credential::SigV4 {
                service: (*service).to_owned(),
                region: (*region).to_owned(),
            },
            ["bearer-env", var] if !var.is_empty() => Credential::Bearer(read(var)?),
            ["header-env", name, var] if !var.is_empty() => {
                let name = HeaderName::try_from(*name)
                    .map_err(|_| format!("`{text}`: `{name}` is not a header name"))?;
                if RESERVED.contains(&name.as_str()) {
                    return Err(format!("`{text}`: `{name}` is the host's to set"));
                }
                let value = read(var)?;
                if HeaderValue::from_str(value.expose()).is_err() {
                    return Err(format!("`{text}`: {var} is not a valid header value"));
                }
                Credential::Header { name, value }
            }
            _ => return Err(format!("`{text}`: unknown credential `{scheme}` ({form})")),
        };
        if let Credential::Bearer(secret) = &credential
            && HeaderValue::from_str(secret.expose()).is_err()
        {
            return Err(format!("`{text}`: the token is not a valid header value"));
        }
        let variable = match credential {
            Credential::SigV4 { .. } => None,
            _ => scheme.rsplit(':').next().map(str::to_owned),
        };
        Ok(Self {
            rule,
            credential,
            variable,
        })
    }

    /// Whether it signs with AWS credentials.
    pub fn is_sigv4(&self) -> bool {
        matches!(self.credential, Credential::SigV4 { .. })
    }
}

/// The credential of the first rule matching `to`, if any.
pub fn credential_for<'a>(rules: &'a [AuthRule], to: &Destination<'_>) -> Option<&'a Credential> {
    rules
        .iter()
        .find(|auth| auth.rule.matches(to))
        .map(|auth| &auth.credential)
}

/// Puts a header credential on a request, replacing the guest's value. SigV4 is applied where
/// the body is at hand (`client`).
pub fn attach_header(parts: &mut Parts, credential: &Credential) {
    let (name, value) = match credential {
        Credential::Bearer(token) => (AUTHORIZATION, format!("Bearer {}", token.expose())),
        Credential::Header { name, value } => (name.clone(), value.expose().to_owned()),
        Credential::SigV4 { .. } => return,
    };
    // Checked valid when the rule was parsed.
    if let Ok(mut value) = HeaderValue::from_str(&value) {
        value.set_sensitive(true);
        parts.headers.remove(&name);
        parts.headers.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "OPENAI_API_KEY" => Some("sk-host-secret".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    /// Each scheme parses into its credential; secrets come from the environment given.
    #[test]
    fn schemes_parse() -> Result<(), String> {
        let bearer = AuthRule::parse(
            "https://api.openai.com=bearer-env:OPENAI_API_KEY",
            &env,
            None,
        )?;
        assert!(
            matches!(&bearer.credential, Credential::Bearer(s) if s.expose() == "sk-host-secret")
        );
        let header = AuthRule::parse(
            "https://x.io=header-env:x-api-key:OPENAI_API_KEY",
            &env,
            None,
        )?;
        assert!(
            matches!(&header.credential, Credential::Header { name, .. } if name == "x-api-key")
        );
        let signed = AuthRule::parse(
            "https://*.amazonaws.com=sigv4:bedrock",
            &env,
            Some("eu-west-1"),
        )?;
        assert!(matches!(&signed.credential,
            Credential::SigV4 { service, region } if service == "bedrock" && region == "eu-west-1"));
        let regional = AuthRule::parse(
            "https://*.amazonaws.com=sigv4:bedrock:us-east-1",
            &env,
            None,
        )?;
        assert!(
            matches!(&regional.credential, Credential::SigV4 { region, .. } if region == "us-east-1")
        );
        Ok(())
    }

    /// Missing variables, missing regions, reserved headers and unknown schemes are refused,
    /// and no message shows a secret.
    #[test]
    fn bad_rules_are_refused() {
        for (text, why) in [
            ("https://a.io=bearer-env:MISSING", "MISSING is not set"),
            ("https://a.io=bearer-env:EMPTY", "EMPTY is not set"),
            ("https://a.io=sigv4:bedrock", "no region"),
            (
                "https://a.io=header-env:host:OPENAI_API_KEY",
                "the host's to set",
            ),
            ("https://a.io=basic:OPENAI_API_KEY", "unknown credential"),
            ("https://a.io", "no `=`"),
            ("a.io=bearer-env:OPENAI_API_KEY", "no scheme"),
        ] {
            let error = AuthRule::parse(text, &env, None).err().unwrap_or_default();
            assert!(error.contains(why), "{text}: {error}");
            assert!(!error.contains("sk-host-secret"), "{error}");
        }
    }

    /// A header credential replaces what the guest set, and is marked sensitive.
    #[test]
    fn attaching_replaces_the_guest_value() -> Result<(), Box<dyn std::error::Error>> {
        let rule = AuthRule::parse(
            "https://api.openai.com=bearer-env:OPENAI_API_KEY",
            &env,
            None,
        )?;
        let (mut parts, ()) = http::Request::builder()
            .uri("https://api.openai.com/v1/chat/completions")
            .header("authorization", "Bearer guest-placeholder")
            .header("authorization", "Bearer second")
            .body(())?
            .into_parts();
        attach_header(&mut parts, &rule.credential);
        let values: Vec<_> = parts.headers.get_all(AUTHORIZATION).iter().collect();
        assert_eq!(values.len(), 1);
        assert_eq!(values[0], "Bearer sk-host-secret");
        assert!(values[0].is_sensitive());
        Ok(())
    }

    /// The first matching rule's credential applies.
    #[test]
    fn first_match_wins() -> Result<(), String> {
        let rules = vec![
            AuthRule::parse(
                "https://api.openai.com=header-env:x-first:OPENAI_API_KEY",
                &env,
                None,
            )?,
            AuthRule::parse("https://*:*=bearer-env:OPENAI_API_KEY", &env, None)?,
        ];
        let to = Destination {
            scheme: "https",
            host: "api.openai.com",
            port: 443,
        };
        assert!(matches!(
            credential_for(&rules, &to),
            Some(Credential::Header { .. })
        ));
        let other = Destination {
            host: "example.com",
            ..to
        };
        assert!(matches!(
            credential_for(&rules, &other),
            Some(Credential::Bearer(_))
        ));
        let plain = Destination {
            scheme: "http",
            ..other
        };
        assert!(credential_for(&rules, &plain).is_none());
        Ok(())
    }
}
