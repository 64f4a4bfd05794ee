//! The outbound allow-list parser: it never panics, a refusal shows the form to write, a rule
//! prints back to itself, case in the scheme and host changes nothing a rule matches, and a
//! host in brackets is an IPv6 address or range, never a name.
//!
//! Input: the rule's text, then the fields of a destination to match it against: scheme
//! (`http` when the field is empty), host, and port (two bytes, big-endian).

use std::net::IpAddr;

use wasm_agent_contract::outbound_rules::{Destination, Rule, default_port};

use crate::input::Fields;

/// Checks the rule parser and matcher against `data`.
pub fn check(data: &[u8]) {
    let mut fields = Fields::new(data);
    let text = fields.text();
    let scheme = fields.text();
    let host = fields.text().to_ascii_lowercase();
    let port = match fields.bytes() {
        [high, low, ..] => u16::from_be_bytes([*high, *low]),
        _ => default_port(&scheme).unwrap_or(80),
    };
    let scheme = if scheme.is_empty() { "http" } else { &scheme };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(&host);
    let to = Destination { scheme, host, port };

    let rule = match Rule::parse(&text) {
        Ok(rule) => rule,
        Err(error) => {
            assert!(error.contains("scheme://host[:port]"), "{text:?}: {error}");
            return;
        }
    };
    assert_eq!(rule.as_str(), text);
    assert_eq!(Rule::parse(&rule.to_string()).as_ref(), Ok(&rule));

    let folded = Rule::parse(&text.to_ascii_lowercase())
        .unwrap_or_else(|error| panic!("{text:?} parses but not in lowercase: {error}"));
    assert_eq!(
        rule.matches(&to),
        folded.matches(&to),
        "{text:?} against {to:?}"
    );
    let bracketed = text
        .split_once("://")
        .is_some_and(|(_, rest)| rest.starts_with('['));
    if bracketed && host.parse::<IpAddr>().is_err() {
        assert!(
            !rule.matches(&to),
            "{text:?} is bracketed but matches the name {host:?}"
        );
    }
    if let Ok(address) = host.parse::<IpAddr>() {
        let named = rule.names_address(&to, address);
        assert_eq!(named, folded.names_address(&to, address), "{text:?}");
        assert!(
            !named || rule.matches(&to),
            "{text:?} names {address} but refuses {to:?}"
        );
    }
}
