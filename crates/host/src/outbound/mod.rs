//! Outbound HTTP for guests: `wasi:http/outgoing-handler`, linked for every component, with
//! nothing reachable unless an operator rule allows it.
//!
//! A request passes three checks: its scheme, host and port against the rules (`hooks`, before
//! anything leaves the instance); the instance's and invocation's limits (`hooks`); and the
//! address its host resolves to (`client`'s connector, when a connection is opened). The host
//! owns the client, attaches credentials the guest never sees, and relays the response.
//!
//! Modules:
//! - `rules`, `address`: what a rule matches, and which resolved addresses a request may reach
//!   (pure, tested as data);
//! - `auth`, `aws`, `sigv4`, `secret`: credentials and where the host finds them;
//! - [`config`]: what the operator grants, the limits and their defaults;
//! - `client`: the pooled client on the outbound runtime, and its guarded connector;
//! - `hooks`: the per-instance `wasi:http` hooks that admit or refuse each request;
//! - `drain`: a request body the host will not or cannot send, read and dropped, so the guest
//!   writing it sees the request's error;
//! - `exchange`, `body`, `log`: one request's life on the outbound runtime, its relayed body,
//!   and its one log line;
//! - `stats`: the requests counted by destination host and outcome.

mod address;
pub mod auth;
pub mod aws;
mod body;
mod client;
pub mod config;
mod drain;
mod exchange;
mod hooks;
mod log;
pub mod rules;
pub mod secret;
mod sigv4;
mod stats;

pub use auth::{AuthRule, Credential};
pub use aws::{AwsCredentialSource, AwsCredentials};
pub use config::OutboundConfig;
pub(crate) use hooks::OutboundHooks;
pub use rules::Rule;
pub use secret::Secret;
pub use stats::{
    DestinationCounts, MAX_DESTINATIONS, NO_DESTINATION, OTHER_DESTINATIONS, OutboundSnapshot,
};

use aws::AwsCredentialProvider;
use client::OutboundClient;
use stats::OutboundStats;

/// What every instance of a host shares for outbound HTTP.
#[derive(Debug)]
pub struct Outbound {
    config: OutboundConfig,
    /// None when no rule allows anything: every request is refused before it is planned.
    client: Option<OutboundClient>,
    aws: Option<AwsCredentialProvider>,
    stats: OutboundStats,
}

impl Outbound {
    /// Starts the outbound runtime and client if any rule allows a destination.
    pub fn new(config: OutboundConfig) -> std::io::Result<Self> {
        let client = if config.allow.is_empty() {
            None
        } else {
            let threads = match config.threads {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get() / 4),
                n => n,
            };
            Some(OutboundClient::new(
                config.allow.clone().into(),
                config.connect_timeout,
                threads,
                &config.extra_roots,
            )?)
        };
        let aws = config
            .auth
            .iter()
            .any(AuthRule::is_sigv4)
            .then(|| AwsCredentialProvider::new(config.aws.clone()));
        Ok(Self {
            config,
            client,
            aws,
            stats: OutboundStats::default(),
        })
    }

    /// Counts of the requests guests made.
    pub fn stats(&self) -> OutboundSnapshot {
        self.stats.snapshot()
    }

    /// Counts of the requests guests made, by destination host.
    pub fn destinations(&self) -> Vec<DestinationCounts> {
        self.stats.destinations()
    }
}

/// The certificates in a PEM file's text, each as DER; an error if it holds none or one is
/// malformed.
pub fn pem_certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let certificates = CertificateDer::pem_slice_iter(pem)
        .map(|certificate| certificate.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("not a PEM certificate file: {error}"))?;
    if certificates.is_empty() {
        return Err("no certificate in it".into());
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file with no certificate, or a broken one, is refused with a reason.
    #[test]
    fn pem_files_without_certificates_are_refused() {
        assert!(pem_certificates(b"").is_err());
        assert!(pem_certificates(b"just text").is_err());
        let broken = b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n";
        assert!(pem_certificates(broken).is_err());
    }
}
