//! The flags that grant guests the network and an environment, and how they become the host's
//! outbound configuration. Secrets named by `--outbound-auth` and the AWS credential sources
//! are read from this process's environment here, once, at start.

use std::time::Duration;

use clap::Args;
use wasm_agent_host::OutboundConfig;
use wasm_agent_host::outbound::config::{
    DEFAULT_BETWEEN_BYTES_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, DEFAULT_FIRST_BYTE_TIMEOUT,
    DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_REQUESTS, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_THREADS,
};
use wasm_agent_host::outbound::{AuthRule, Rule, pem_certificates};

use crate::aws_env::{aws_credential_sources, aws_region};
use crate::units::{duration_text, parse_duration, parse_size, size_text};

/// What guests may reach and see.
#[derive(Debug, Args)]
pub(crate) struct OutboundArgs {
    /// Let guests send HTTP requests to a destination: scheme://host[:port], e.g.
    /// https://api.openai.com, https://*.amazonaws.com, http://127.0.0.1:9000,
    /// http://10.0.0.0/8:* (repeatable). Without a port only the scheme's own is allowed. A rule
    /// naming hosts reaches public addresses only: loopback, private and link-local addresses
    /// (the metadata service) need a rule naming that address or range. Nothing is allowed
    /// without a rule.
    #[arg(
        long = "allow-outbound",
        value_name = "RULE",
        env = "WASM_AGENT_ALLOW_OUTBOUND",
        value_delimiter = ','
    )]
    pub allow_outbound: Vec<String>,

    /// Attach the host's credentials to requests matching RULE, replacing the guest's:
    /// RULE=sigv4:SERVICE[:REGION] signs with the host's AWS credentials (environment, the
    /// container credentials endpoint, or IMDSv2; region default from AWS_REGION);
    /// RULE=bearer-env:VAR sends `Authorization: Bearer $VAR`; RULE=header-env:NAME:VAR sends
    /// header NAME with $VAR. Variables are read once, at start; guests never see them.
    #[arg(
        long = "outbound-auth",
        value_name = "RULE=SCHEME",
        env = "WASM_AGENT_OUTBOUND_AUTH",
        value_delimiter = ','
    )]
    pub outbound_auth: Vec<String>,

    /// A PEM file of certificates to trust as roots besides the Mozilla store, for a private
    /// CA or a TLS-inspecting proxy (repeatable).
    #[arg(
        long = "outbound-ca",
        value_name = "FILE",
        env = "WASM_AGENT_OUTBOUND_CA",
        value_delimiter = ','
    )]
    pub outbound_ca: Vec<std::path::PathBuf>,

    /// Time to open a connection (TCP and TLS).
    #[arg(long, env = "WASM_AGENT_OUTBOUND_CONNECT_TIMEOUT", value_parser = parse_duration,
          default_value = duration_text(DEFAULT_CONNECT_TIMEOUT))]
    pub outbound_connect_timeout: Duration,

    /// The longest wait for a response's first byte (a guest may ask for less).
    #[arg(long, env = "WASM_AGENT_OUTBOUND_FIRST_BYTE_TIMEOUT", value_parser = parse_duration,
          default_value = duration_text(DEFAULT_FIRST_BYTE_TIMEOUT))]
    pub outbound_first_byte_timeout: Duration,

    /// The longest silence within a response body (a guest may ask for less).
    #[arg(long, env = "WASM_AGENT_OUTBOUND_BETWEEN_BYTES_TIMEOUT", value_parser = parse_duration,
          default_value = duration_text(DEFAULT_BETWEEN_BYTES_TIMEOUT))]
    pub outbound_between_bytes_timeout: Duration,

    /// The largest response body a guest may receive.
    #[arg(long, env = "WASM_AGENT_OUTBOUND_MAX_RESPONSE", value_parser = parse_size,
          default_value = size_text(DEFAULT_MAX_RESPONSE_BYTES))]
    pub outbound_max_response: u64,

    /// Requests one invocation may make.
    #[arg(long, env = "WASM_AGENT_OUTBOUND_MAX_REQUESTS", default_value_t = DEFAULT_MAX_REQUESTS)]
    pub outbound_max_requests: u32,

    /// Requests one instance may have in flight at once.
    #[arg(long, env = "WASM_AGENT_OUTBOUND_MAX_IN_FLIGHT",
          default_value_t = DEFAULT_MAX_IN_FLIGHT)]
    pub outbound_max_in_flight: u32,

    /// Threads that run outbound connections (at normal priority, apart from guest code); 0
    /// means one per four cores, at least one.
    #[arg(long, env = "WASM_AGENT_OUTBOUND_THREADS", default_value_t = DEFAULT_THREADS)]
    pub outbound_threads: usize,

    /// An environment variable every guest sees, as NAME=VALUE (repeatable): a model's
    /// endpoint or id, never a secret (use --outbound-auth). Guests see none by default.
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,

    /// Pass this process's variable NAME to every guest (repeatable; skipped if unset).
    #[arg(
        long = "env-inherit",
        value_name = "NAME",
        env = "WASM_AGENT_ENV_INHERIT",
        value_delimiter = ','
    )]
    pub env_inherit: Vec<String>,
}

/// Variables that hold AWS secrets: never a guest's, whatever the flags say.
const AWS_SECRET_VARIABLES: &[&str] = &[
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
];

/// Bounds that catch a typo rather than a configuration.
const MAX_REQUESTS: u32 = 1_000_000;
const MAX_IN_FLIGHT: u32 = 10_000;
const MAX_THREADS: usize = 1024;

impl OutboundArgs {
    /// The outbound configuration and the guests' environment, reading variables through
    /// `env` (this process's environment, in production); `name` names a setting in an
    /// error, by the flag, variable or config file line it came from.
    pub(crate) fn configure(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        name: &dyn Fn(&str) -> String,
    ) -> Result<(OutboundConfig, Vec<(String, String)>), String> {
        let allow = self
            .allow_outbound
            .iter()
            .map(|rule| {
                Rule::parse(rule.trim()).map_err(|e| format!("{} {e}", name("allow-outbound")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let region = aws_region(env);
        let auth = self
            .outbound_auth
            .iter()
            .map(|rule| {
                AuthRule::parse(rule.trim(), env, region.as_deref())
                    .map_err(|e| format!("{} {e}", name("outbound-auth")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let aws = if auth.iter().any(AuthRule::is_sigv4) {
            aws_credential_sources(env)
        } else {
            Vec::new()
        };
        if !(1..=MAX_REQUESTS).contains(&self.outbound_max_requests) {
            return Err(format!(
                "{} must be 1 to {MAX_REQUESTS}",
                name("outbound-max-requests")
            ));
        }
        if !(1..=MAX_IN_FLIGHT).contains(&self.outbound_max_in_flight) {
            return Err(format!(
                "{} must be 1 to {MAX_IN_FLIGHT}",
                name("outbound-max-in-flight")
            ));
        }
        if self.outbound_threads > MAX_THREADS {
            return Err(format!(
                "{} must be 0 (automatic) to {MAX_THREADS}",
                name("outbound-threads")
            ));
        }
        let secrets: Vec<&str> = auth
            .iter()
            .filter_map(|rule| rule.variable.as_deref())
            .chain(AWS_SECRET_VARIABLES.iter().copied())
            .collect();
        let granted = self.env.iter().map(|(variable, _)| ("env", variable));
        let inherited = self
            .env_inherit
            .iter()
            .map(|variable| ("env-inherit", variable));
        if let Some((key, variable)) = granted
            .chain(inherited)
            .find(|(_, variable)| secrets.contains(&variable.as_str()))
        {
            return Err(format!(
                "{} {variable}: that variable holds a credential; guests must not see it \
                 (the host attaches it with --outbound-auth)",
                name(key)
            ));
        }
        let mut guest_env = self.env.clone();
        for name in &self.env_inherit {
            if let Some(value) = env(name) {
                guest_env.push((name.clone(), value));
            }
        }
        let mut extra_roots = Vec::new();
        for path in &self.outbound_ca {
            let failed = |e: &dyn std::fmt::Display| {
                format!("{} {}: {e}", name("outbound-ca"), path.display())
            };
            let pem = std::fs::read(path).map_err(|e| failed(&e))?;
            extra_roots.extend(pem_certificates(&pem).map_err(|e| failed(&e))?);
        }
        let config = OutboundConfig {
            allow,
            auth,
            aws,
            connect_timeout: self.outbound_connect_timeout,
            first_byte_timeout: self.outbound_first_byte_timeout,
            between_bytes_timeout: self.outbound_between_bytes_timeout,
            max_response_bytes: self.outbound_max_response,
            max_requests: self.outbound_max_requests,
            max_in_flight: self.outbound_max_in_flight,
            threads: self.outbound_threads,
            extra_roots,
        };
        Ok((config, guest_env))
    }
}

/// Parses `NAME=VALUE`.
/// The grant is not repeated in the error: a value may be a secret pasted by mistake.
pub(crate) fn parse_env(text: &str) -> Result<(String, String), String> {
    const NOT_A_GRANT: &str = "a grant is not NAME=VALUE (its text is not repeated here, in \
                               case it holds a secret)";
    let (name, value) = text.split_once('=').ok_or(NOT_A_GRANT)?;
    if name.is_empty() || name.contains('\0') || value.contains('\0') {
        return Err(NOT_A_GRANT.to_owned());
    }
    Ok((name.to_owned(), value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, flag_name};
    use clap::Parser;
    use wasm_agent_host::outbound::config::DEFAULT_MAX_RESPONSE_BYTES;

    fn outbound(args: &[&str]) -> Result<OutboundArgs, String> {
        let mut argv = vec!["wasm-agent", "invoke", "h.wasm"];
        argv.extend_from_slice(args);
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        match cli.command {
            crate::args::Command::Invoke(invoke) => Ok(invoke.limits.outbound),
            _ => Err("not invoke".into()),
        }
    }

    fn env(name: &str) -> Option<String> {
        match name {
            "API_KEY" => Some("sk-secret".into()),
            "MODEL_ID" => Some("gpt-4o-mini".into()),
            "AWS_REGION" => Some("us-west-2".into()),
            _ => None,
        }
    }

    /// The help text's defaults are the host's.
    #[test]
    fn defaults_are_the_hosts() -> Result<(), String> {
        let (config, guest_env) = outbound(&[])?.configure(&env, &flag_name)?;
        let host = OutboundConfig::default();
        assert_eq!(config.connect_timeout, host.connect_timeout);
        assert_eq!(config.first_byte_timeout, host.first_byte_timeout);
        assert_eq!(config.between_bytes_timeout, host.between_bytes_timeout);
        assert_eq!(config.max_response_bytes, DEFAULT_MAX_RESPONSE_BYTES);
        assert!(config.allow.is_empty() && config.auth.is_empty() && guest_env.is_empty());
        Ok(())
    }

    /// Rules, credentials and the guest environment come through; sigv4 takes AWS_REGION.
    #[test]
    fn flags_configure_outbound() -> Result<(), String> {
        let args = outbound(&[
            "--allow-outbound",
            "https://api.openai.com,https://*.amazonaws.com",
            "--outbound-auth",
            "https://api.openai.com=bearer-env:API_KEY",
            "--outbound-auth",
            "https://*.amazonaws.com=sigv4:bedrock",
            "--env",
            "MODEL_ENDPOINT=https://api.openai.com/v1",
            "--env-inherit",
            "MODEL_ID,UNSET_VAR",
        ])?;
        let (config, guest_env) = args.configure(&env, &flag_name)?;
        assert_eq!(config.allow.len(), 2);
        assert_eq!(config.auth.len(), 2);
        assert!(matches!(&config.auth[1].credential,
            wasm_agent_host::outbound::Credential::SigV4 { region, .. } if region == "us-west-2"));
        assert_eq!(
            guest_env,
            [
                (
                    "MODEL_ENDPOINT".to_owned(),
                    "https://api.openai.com/v1".to_owned()
                ),
                ("MODEL_ID".to_owned(), "gpt-4o-mini".to_owned()),
            ]
        );
        Ok(())
    }

    /// A bad rule or a missing variable is an error naming the flag.
    #[test]
    fn bad_flags_are_errors() -> Result<(), String> {
        let error = outbound(&["--allow-outbound", "api.openai.com"])?
            .configure(&env, &flag_name)
            .err()
            .unwrap_or_default();
        assert!(error.starts_with("--allow-outbound"), "{error}");
        let error = outbound(&["--outbound-auth", "https://a.io=bearer-env:NOPE"])?
            .configure(&env, &flag_name)
            .err()
            .unwrap_or_default();
        assert!(error.contains("NOPE is not set"), "{error}");
        assert!(outbound(&["--env", "NOEQUALS"]).is_err());
        for flags in [
            &[
                "--outbound-auth",
                "https://a.io=bearer-env:API_KEY",
                "--env-inherit",
                "API_KEY",
            ][..],
            &[
                "--outbound-auth",
                "https://a.io=header-env:x-key:API_KEY",
                "--env",
                "API_KEY=x",
            ],
            &["--env-inherit", "AWS_SECRET_ACCESS_KEY"],
        ] {
            let error = outbound(flags)?
                .configure(&env, &flag_name)
                .err()
                .unwrap_or_default();
            assert!(error.contains("holds a credential"), "{flags:?}: {error}");
        }
        Ok(())
    }
}
