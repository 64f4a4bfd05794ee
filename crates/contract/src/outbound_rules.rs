//! Outbound rules: `scheme://host[:port]`, what they match, and how they are written.
//!
//! The form follows Spin's `allowed_outbound_hosts`, which operators already know: the scheme is
//! required (`http`, `https` or `*`); the host is a name, a `*.` suffix (which does not match the
//! bare domain), `*`, an IP address (IPv6 in brackets) or a CIDR range; the port is a number, a
//! range `a..b` (end excluded), `*`, or absent for the scheme's own port. Paths are refused: a
//! rule names a destination, not a resource, and a path rule would suggest a check nobody makes.
//!
//! Pure text and addresses, so it lives here rather than in the host, which enforces the rules:
//! the parser is fuzzed without building a WebAssembly runtime.

use std::net::IpAddr;

use ipnet::IpNet;

/// One destination rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    text: String,
    scheme: SchemePattern,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SchemePattern {
    Http,
    Https,
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// `*`: any host, by name or address.
    Any,
    /// `*.example.com`: any name below `example.com`, not `example.com` itself.
    Below(String),
    /// An exact name, lowercase.
    Name(String),
    /// An address or a range of them, written as one.
    Net(IpNet),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortPattern {
    /// No port written: the scheme's own.
    SchemeDefault,
    Exact(u16),
    /// `a..b`, end excluded.
    Range(u16, u16),
    Any,
}

/// The destination of a request, as rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destination<'a> {
    /// `http` or `https`.
    pub scheme: &'a str,
    /// The host, lowercase; an IPv6 address without brackets.
    pub host: &'a str,
    /// The port, explicit or the scheme's default.
    pub port: u16,
}

/// The port a scheme uses when none is given.
pub fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl Rule {
    /// Parses a rule; the error says what is wrong and shows the form.
    pub fn parse(text: &str) -> Result<Self, String> {
        let fail = |why: &str| {
            Err(format!(
                "`{text}`: {why} (write scheme://host[:port], e.g. https://api.openai.com, \
                 https://*.amazonaws.com, http://127.0.0.1:8080 or http://10.0.0.0/8:*)"
            ))
        };
        let Some((scheme, rest)) = text.split_once("://") else {
            return fail("no scheme");
        };
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => SchemePattern::Http,
            "https" => SchemePattern::Https,
            "*" => SchemePattern::Any,
            _ => return fail("the scheme must be http, https or *"),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = match split_host_port(rest) {
            Ok(split) => split,
            Err(why) => return fail(why),
        };
        let host = match parse_host(host) {
            Ok(host) => host,
            Err(why) => return fail(why),
        };
        let port = match port.map(parse_port).transpose() {
            Ok(port) => port.unwrap_or(PortPattern::SchemeDefault),
            Err(why) => return fail(why),
        };
        Ok(Self {
            text: text.to_owned(),
            scheme,
            host,
            port,
        })
    }

    /// The rule as the operator wrote it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether a request to `to` matches this rule by its scheme, host and port.
    pub fn matches(&self, to: &Destination<'_>) -> bool {
        self.matches_scheme_and_port(to) && self.matches_host(to.host)
    }

    /// Whether this rule names addresses (an IP or a range), rather than names, and covers
    /// `address` for a request with `to`'s scheme and port: the only way a request may reach an
    /// address that is not public.
    pub fn names_address(&self, to: &Destination<'_>, address: IpAddr) -> bool {
        matches!(&self.host, HostPattern::Net(net) if net.contains(&address))
            && self.matches_scheme_and_port(to)
    }

    fn matches_scheme_and_port(&self, to: &Destination<'_>) -> bool {
        let scheme = match self.scheme {
            SchemePattern::Http => to.scheme == "http",
            SchemePattern::Https => to.scheme == "https",
            SchemePattern::Any => default_port(to.scheme).is_some(),
        };
        let port = match self.port {
            PortPattern::SchemeDefault => default_port(to.scheme) == Some(to.port),
            PortPattern::Exact(port) => to.port == port,
            PortPattern::Range(start, end) => (start..end).contains(&to.port),
            PortPattern::Any => true,
        };
        scheme && port
    }

    fn matches_host(&self, host: &str) -> bool {
        let address = host.parse::<IpAddr>().ok();
        match &self.host {
            HostPattern::Any => true,
            HostPattern::Below(domain) => {
                address.is_none()
                    && host.len() > domain.len() + 1
                    && host.ends_with(domain.as_str())
                    && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
            }
            HostPattern::Name(name) => address.is_none() && host == name,
            HostPattern::Net(net) => address.is_some_and(|a| net.contains(&a)),
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Splits `host[:port]`, where an IPv6 host is in brackets (`[::1]:8080`, `[fd00::]/8:*`).
fn split_host_port(rest: &str) -> Result<(&str, Option<&str>), &'static str> {
    if rest.starts_with('[') {
        let close = rest.find(']').ok_or("an unclosed `[`")?;
        let after = &rest[close + 1..];
        let (host, port) = rest.split_at(close + 1 + after.find(':').unwrap_or(after.len()));
        return Ok((host, port.strip_prefix(':')));
    }
    Ok(match rest.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    })
}

/// Why a bracketed host was refused.
const BRACKETS: &str = "brackets hold an IPv6 address, not a name";

fn parse_host(host: &str) -> Result<HostPattern, &'static str> {
    let host = host.to_ascii_lowercase();
    if host == "*" {
        return Ok(HostPattern::Any);
    }
    if let Some(domain) = host.strip_prefix("*.") {
        return is_name(domain)
            .then(|| HostPattern::Below(domain.to_owned()))
            .ok_or("the host after `*.` is not a valid name");
    }
    // Brackets hold an IPv6 address, alone or before a range's `/len`; never a name.
    let (host, bracketed) = match host.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((address, len)) if len.is_empty() || len.starts_with('/') => {
                (format!("{address}{len}"), true)
            }
            _ => return Err(BRACKETS),
        },
        None => (host, false),
    };
    if host.contains('/') {
        return host
            .parse::<IpNet>()
            .map(|net| HostPattern::Net(net.trunc()))
            .map_err(|_| "paths are not allowed, and this is not a CIDR range");
    }
    if let Ok(address) = host.parse::<IpAddr>() {
        return Ok(HostPattern::Net(IpNet::from(address)));
    }
    if bracketed {
        return Err(BRACKETS);
    }
    if host.contains('*') {
        return Err("a wildcard is allowed only as the whole host or a leading `*.`");
    }
    is_name(&host)
        .then_some(HostPattern::Name(host))
        .ok_or("the host is not a valid name or address")
}

fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn parse_port(port: &str) -> Result<PortPattern, &'static str> {
    if port == "*" {
        return Ok(PortPattern::Any);
    }
    if let Some((start, end)) = port.split_once("..") {
        let start: u16 = start.parse().map_err(|_| "the port range is not a..b")?;
        let end: u16 = end.parse().map_err(|_| "the port range is not a..b")?;
        return (start < end)
            .then_some(PortPattern::Range(start, end))
            .ok_or("the port range is empty");
    }
    port.parse()
        .map(PortPattern::Exact)
        .map_err(|_| "the port is not a number, a range a..b or *")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to(scheme: &'static str, host: &'static str, port: u16) -> Destination<'static> {
        Destination { scheme, host, port }
    }

    fn allows(rule: &str, dest: Destination<'_>) -> bool {
        Rule::parse(rule)
            .unwrap_or_else(|e| panic!("{e}"))
            .matches(&dest)
    }

    /// Without a port a rule allows only the scheme's own port; the scheme must match.
    #[test]
    fn scheme_and_default_port() {
        assert!(allows(
            "https://api.openai.com",
            to("https", "api.openai.com", 443)
        ));
        assert!(!allows(
            "https://api.openai.com",
            to("https", "api.openai.com", 8443)
        ));
        assert!(!allows(
            "https://api.openai.com",
            to("http", "api.openai.com", 80)
        ));
        assert!(!allows(
            "https://api.openai.com",
            to("http", "api.openai.com", 443)
        ));
        assert!(allows("*://example.com", to("http", "example.com", 80)));
        assert!(allows("*://example.com", to("https", "example.com", 443)));
        assert!(!allows("*://example.com", to("http", "example.com", 443)));
        assert!(allows(
            "https://api.openai.com/",
            to("https", "api.openai.com", 443)
        ));
    }

    /// Ports: exact, `*`, and ranges with the end excluded.
    #[test]
    fn ports() {
        assert!(allows("http://h:8080", to("http", "h", 8080)));
        assert!(!allows("http://h:8080", to("http", "h", 80)));
        assert!(allows("http://h:*", to("http", "h", 1)));
        assert!(allows("http://h:8000..8002", to("http", "h", 8001)));
        assert!(!allows("http://h:8000..8002", to("http", "h", 8002)));
    }

    /// `*.` matches names below the domain, never the domain itself or a look-alike suffix.
    #[test]
    fn wildcard_suffix() {
        let rule = "https://*.amazonaws.com";
        assert!(allows(
            rule,
            to("https", "bedrock-runtime.us-east-1.amazonaws.com", 443)
        ));
        assert!(!allows(rule, to("https", "amazonaws.com", 443)));
        assert!(!allows(rule, to("https", "evilamazonaws.com", 443)));
        assert!(!allows(rule, to("https", "amazonaws.com.evil.io", 443)));
    }

    /// Names compare exactly (case folded when parsed); an address never matches a name rule.
    #[test]
    fn names_and_addresses() {
        assert!(allows(
            "https://API.OpenAI.com",
            to("https", "api.openai.com", 443)
        ));
        assert!(!allows(
            "https://api.openai.com",
            to("https", "api.openai.com.evil.io", 443)
        ));
        assert!(allows(
            "http://127.0.0.1:9000",
            to("http", "127.0.0.1", 9000)
        ));
        assert!(!allows(
            "http://127.0.0.1:9000",
            to("http", "localhost", 9000)
        ));
        assert!(allows("http://10.0.0.0/8:*", to("http", "10.1.2.3", 5)));
        assert!(!allows("http://10.0.0.0/8:*", to("http", "11.1.2.3", 5)));
        assert!(allows("http://[::1]:8080", to("http", "::1", 8080)));
        assert!(allows("http://[fd00::]/8:*", to("http", "fd12::1", 1)));
        assert!(allows("*://*:*", to("https", "anything.example", 1234)));
    }

    /// Only an address rule lets a request reach a given address.
    #[test]
    fn address_rules_name_addresses() -> Result<(), String> {
        let dest = to("http", "internal.example", 8080);
        let by_range = Rule::parse("http://10.0.0.0/8:8080")?;
        assert!(by_range.names_address(&dest, "10.9.9.9".parse().map_err(|_| "ip")?));
        assert!(
            !by_range.names_address(&to("http", "x", 80), "10.9.9.9".parse().map_err(|_| "ip")?)
        );
        let by_name = Rule::parse("http://*:*")?;
        assert!(!by_name.names_address(&dest, "10.9.9.9".parse().map_err(|_| "ip")?));
        Ok(())
    }

    /// What is not a destination is refused with a reason and the form to write.
    #[test]
    fn malformed_rules_are_refused() {
        for (rule, why) in [
            ("api.openai.com", "no scheme"),
            ("ftp://example.com", "scheme"),
            ("https://example.com/v1", "paths are not allowed"),
            ("https://ex*ample.com", "wildcard"),
            ("https://example.com:http", "port"),
            ("https://h:9..9", "empty"),
            ("https://*.", "after `*.`"),
            ("https://[::1", "unclosed"),
            ("https://exa mple.com", "valid name"),
            ("http://[2]", "brackets"),
            ("https://[example]com", "brackets"),
            ("http://[::]1:80", "brackets"),
        ] {
            let error = Rule::parse(rule).err().unwrap_or_default();
            assert!(error.contains(why), "{rule}: {error}");
            assert!(error.contains("scheme://host[:port]"), "{rule}: {error}");
        }
    }
}
