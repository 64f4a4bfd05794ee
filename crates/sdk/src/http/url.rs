//! Splits an `http://` or `https://` URL into the parts a wasi:http request is built from.
//!
//! Pure string work, so it is tested on any target. It accepts what a handler would reasonably
//! pass and refuses the rest with a reason rather than guessing: no user info (credentials
//! belong in a header, or better, with the host), ASCII only (percent-encode the rest).

/// A URL split for wasi:http: scheme, authority and path with query; the fragment is dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// `true` for `https`.
    pub(crate) is_https: bool,
    /// The host as written (lowercased), and the port if the URL names one: what the
    /// `host` header will say.
    pub(crate) authority: String,
    /// The host alone, IPv6 addresses in brackets.
    pub(crate) host: String,
    /// The port, the scheme's default when the URL names none.
    pub(crate) port: u16,
    /// `/` at least, with the query if any.
    pub(crate) path_with_query: String,
}

impl Target {
    /// Splits `url`, or says why it cannot be sent.
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        if let Some(bad) = url.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(format!(
                "the URL contains {bad:?}; percent-encode spaces and non-ASCII characters"
            ));
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| "the URL must start with http:// or https://".to_owned())?;
        let is_https = if scheme.eq_ignore_ascii_case("https") {
            true
        } else if scheme.eq_ignore_ascii_case("http") {
            false
        } else {
            return Err(format!(
                "the URL scheme {scheme:?} is not supported; use http:// or https://"
            ));
        };
        let rest = rest
            .split_once('#')
            .map_or(rest, |(before, _fragment)| before);
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_with_query) = rest.split_at(end);
        let path_with_query = match path_with_query.chars().next() {
            None => "/".to_owned(),
            Some('?') => format!("/{path_with_query}"),
            Some(_) => path_with_query.to_owned(),
        };
        if authority.contains('@') {
            return Err(
                "the URL carries credentials (user@host); send them in a header instead".to_owned(),
            );
        }
        let (host, port) = split_host_port(authority)?;
        let default_port = if is_https { 443 } else { 80 };
        let port = match port {
            None | Some("") => default_port,
            Some(digits) => parse_port(digits)?,
        };
        let host = host.to_ascii_lowercase();
        let authority = if authority.len() > host.len() {
            format!("{host}:{port}")
        } else {
            host.clone()
        };
        Ok(Self {
            is_https,
            authority,
            host,
            port,
            path_with_query,
        })
    }

    /// Scheme, host and port, the port always written: where the request goes, without the
    /// path and query (which may carry secrets), for error messages.
    pub(crate) fn origin(&self) -> String {
        let scheme = if self.is_https { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }
}

/// Splits `host[:port]` or `[v6]:port`; the port is `None` when there is no colon.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), String> {
    let (host, port) = if authority.starts_with('[') {
        let close = authority
            .find(']')
            .ok_or_else(|| "the URL has an unclosed [ in its host".to_owned())?;
        let (host, after) = authority.split_at(close + 1);
        let port = match after.strip_prefix(':') {
            Some(port) => Some(port),
            None if after.is_empty() => None,
            None => return Err(format!("the URL host {authority:?} is malformed")),
        };
        let inside = &host[1..host.len() - 1];
        if inside.is_empty()
            || !inside
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(format!("the URL host {host:?} is not an IPv6 address"));
        }
        (host, port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        {
            return Err(format!("the URL host {host:?} is not a valid host name"));
        }
        (host, port)
    };
    if host.is_empty() {
        return Err("the URL has no host".to_owned());
    }
    Ok((host, port))
}

fn parse_port(digits: &str) -> Result<u16, String> {
    match digits.parse::<u16>() {
        Ok(port) if port > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(port),
        _ => Err(format!(
            "the URL port {digits:?} is not a number from 1 to 65535"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scheme, host, port and path with query come apart; the fragment and default port go.
    #[test]
    fn splits_the_parts() -> Result<(), String> {
        let target = Target::parse("https://API.Example.com/v1/chat?x=1&y=2#frag")?;
        assert!(target.is_https);
        assert_eq!(target.authority, "api.example.com");
        assert_eq!(target.port, 443);
        assert_eq!(target.path_with_query, "/v1/chat?x=1&y=2");
        assert_eq!(target.origin(), "https://api.example.com:443");

        let target = Target::parse("http://127.0.0.1:9000")?;
        assert!(!target.is_https);
        assert_eq!(target.authority, "127.0.0.1:9000");
        assert_eq!(target.path_with_query, "/");
        assert_eq!(target.origin(), "http://127.0.0.1:9000");

        let target = Target::parse("HTTP://host?q=1")?;
        assert_eq!(target.path_with_query, "/?q=1");
        assert_eq!(target.port, 80);
        Ok(())
    }

    /// IPv6 literals keep their brackets, with or without a port.
    #[test]
    fn ipv6_hosts() -> Result<(), String> {
        let target = Target::parse("http://[::1]:8080/x")?;
        assert_eq!(target.host, "[::1]");
        assert_eq!(target.authority, "[::1]:8080");
        assert_eq!(target.origin(), "http://[::1]:8080");
        assert_eq!(Target::parse("https://[fe80::1]")?.port, 443);
        Ok(())
    }

    /// Anything that is not a plain http(s) URL is refused, not guessed at.
    #[test]
    fn refuses_what_it_cannot_send() {
        for url in [
            "ftp://example.com/",
            "example.com/path",
            "https://",
            "https:///path",
            "https://user:pw@example.com/",
            "https://example.com:0/",
            "https://example.com:99999/",
            "https://example.com:+80/",
            "https://exa mple.com/",
            "https://exämple.com/",
            "https://[::1/",
            "https://[::1]x/",
            "https://ex$ample.com/",
        ] {
            assert!(Target::parse(url).is_err(), "{url} should be refused");
        }
    }
}
