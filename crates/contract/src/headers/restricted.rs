//! The request headers AgentCore never lets through to agent code.

/// Lowercase names from AWS's runtime header allowlist page, as the SDK's `RESTRICTED_HEADERS`
/// (108 names), sorted by bytes so [`is_restricted`] can binary-search.
const RESTRICTED: &[&str] = &[
    ":authority",
    ":method",
    ":path",
    ":scheme",
    ":status",
    "accept",
    "accept-ch",
    "accept-ch-lifetime",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "access-control-allow-credentials",
    "access-control-allow-headers",
    "access-control-allow-methods",
    "access-control-allow-origin",
    "access-control-expose-headers",
    "access-control-max-age",
    "access-control-request-headers",
    "access-control-request-method",
    "cache-control",
    "cf-connecting-ip",
    "cf-ray",
    "clear-site-data",
    "connection",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-range",
    "content-security-policy",
    "content-security-policy-report-only",
    "content-type",
    "cookie",
    "cross-origin-embedder-policy",
    "cross-origin-opener-policy",
    "cross-origin-resource-policy",
    "date",
    "downlink",
    "dpr",
    "ect",
    "etag",
    "expect-ct",
    "expires",
    "feature-policy",
    "forwarded",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "keep-alive",
    "last-modified",
    "link",
    "location",
    "origin",
    "permissions-policy",
    "pragma",
    "proxy-authorization",
    "proxy-connection",
    "public-key-pins",
    "public-key-pins-report-only",
    "range",
    "referer",
    "referrer-policy",
    "retry-after",
    "rtt",
    "save-data",
    "sec-websocket-accept",
    "sec-websocket-extensions",
    "sec-websocket-key",
    "sec-websocket-protocol",
    "sec-websocket-version",
    "server",
    "set-cookie",
    "strict-transport-security",
    "te",
    "trailer",
    "transfer-encoding",
    "true-client-ip",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "viewport-width",
    "width",
    "www-authenticate",
    "x-amz-cf-id",
    "x-cache",
    "x-client-ip",
    "x-cluster-client-ip",
    "x-content-type-options",
    "x-csrf-token",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-frame-options",
    "x-original-host",
    "x-original-url",
    "x-originating-ip",
    "x-real-ip",
    "x-requested-with",
    "x-rewrite-url",
    "x-served-by",
    "x-source-ip",
    "x-xss-protection",
];

/// Whether `lowercase_name` is on the restricted list; the name must already be lowercase.
pub(super) fn is_restricted(lowercase_name: &str) -> bool {
    RESTRICTED.binary_search(&lowercase_name).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The list is lowercase, strictly sorted (so no duplicates) and as long as the SDK's.
    #[test]
    fn list_is_sorted_lowercase_and_complete() {
        assert_eq!(RESTRICTED.len(), 108);
        for name in RESTRICTED {
            assert_eq!(*name, name.to_ascii_lowercase(), "{name} is not lowercase");
        }
        for pair in RESTRICTED.windows(2) {
            assert!(pair[0] < pair[1], "{} is not before {}", pair[0], pair[1]);
        }
    }

    /// Every listed name is found, and near misses are not.
    #[test]
    fn lookup_finds_exact_names_only() {
        assert!(RESTRICTED.iter().all(|name| is_restricted(name)));
        assert!(is_restricted(":authority"));
        assert!(is_restricted("sec-websocket-extensions"));
        assert!(!is_restricted("authorization"));
        assert!(!is_restricted("x-authorization"));
        assert!(!is_restricted("content"));
        assert!(!is_restricted("Host"));
    }
}
