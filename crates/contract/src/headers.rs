//! Request header names of the AgentCore contract and the rule for forwarding headers to handlers.
//!
//! Names compare case-insensitively in ASCII. HTTP header names are tokens, which are ASCII, so this
//! agrees with the SDK's Python `str.lower()` for every name a server can receive.

mod context;
mod restricted;

pub use context::{RequestContext, request_context};

/// The session a request belongs to; AgentCore routes every request of a session to one microVM.
pub const SESSION_ID: &str = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id";

/// The id AgentCore gives one invocation; when absent the server generates a UUID.
pub const REQUEST_ID: &str = "X-Amzn-Bedrock-AgentCore-Runtime-Request-Id";

/// The workload identity token (WAT), preferred over [`WORKLOAD_ACCESS_TOKEN`] since SDK #607.
/// It is the one `x-amz-` header that is forwarded.
pub const IDENTITY_WAT: &str = "X-Amz-Bedrock-AgentCore-Identity-WAT";

/// The older header carrying the workload access token, read when [`IDENTITY_WAT`] is absent or empty.
pub const WORKLOAD_ACCESS_TOKEN: &str = "WorkloadAccessToken";

/// The URL an OAuth2 flow started by the agent redirects back to.
pub const OAUTH2_CALLBACK_URL: &str = "OAuth2CallbackUrl";

/// The caller's credentials; always forwarded, under exactly this spelling whatever the wire casing.
pub const AUTHORIZATION: &str = "Authorization";

/// The prefix of caller-defined headers, the only `x-amzn-` headers that are forwarded.
pub const CUSTOM_PREFIX: &str = "X-Amzn-Bedrock-AgentCore-Runtime-Custom-";

/// Whether a request header named `name` may reach agent code, by the SDK's `is_forwardable_header`.
///
/// A header is forwarded unless it is on AWS's restricted list (content negotiation, caching,
/// hop-by-hop, proxy, CORS, WebSocket and similar headers), or starts with `x-amz-` (reserved for
/// SigV4) other than [`IDENTITY_WAT`], or starts with `x-amzn-` without [`CUSTOM_PREFIX`].
/// Case-insensitive. [`AUTHORIZATION`] passes; `Proxy-Authorization` does not.
pub fn is_forwardable(name: &str) -> bool {
    is_forwardable_lowercase(&name.to_ascii_lowercase())
}

/// [`is_forwardable`] for a name that is already lowercase.
fn is_forwardable_lowercase(lower: &str) -> bool {
    if restricted::is_restricted(lower) {
        return false;
    }
    if lower.starts_with("x-amz-") {
        return lower.eq_ignore_ascii_case(IDENTITY_WAT);
    }
    !lower.starts_with("x-amzn-") || starts_with_ignore_ascii_case(lower, CUSTOM_PREFIX)
}

/// Whether `text` begins with `prefix`, ignoring ASCII case.
fn starts_with_ignore_ascii_case(text: &str, prefix: &str) -> bool {
    text.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The constants carry the SDK's spellings.
    #[test]
    fn constants_match_sdk() {
        assert_eq!(SESSION_ID, "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id");
        assert_eq!(REQUEST_ID, "X-Amzn-Bedrock-AgentCore-Runtime-Request-Id");
        assert_eq!(IDENTITY_WAT, "X-Amz-Bedrock-AgentCore-Identity-WAT");
        assert_eq!(WORKLOAD_ACCESS_TOKEN, "WorkloadAccessToken");
        assert_eq!(OAUTH2_CALLBACK_URL, "OAuth2CallbackUrl");
        assert_eq!(AUTHORIZATION, "Authorization");
        assert_eq!(CUSTOM_PREFIX, "X-Amzn-Bedrock-AgentCore-Runtime-Custom-");
    }

    /// Generic headers and the custom prefix are forwarded; Authorization is too.
    #[test]
    fn generic_custom_and_authorization_allowed() {
        assert!(is_forwardable("X-Other-Header"));
        assert!(is_forwardable("X-Api-Key"));
        assert!(is_forwardable("baggage"));
        assert!(is_forwardable("Authorization"));
        assert!(is_forwardable("authorization"));
        assert!(is_forwardable(
            "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Foo"
        ));
    }

    /// The custom prefix must be complete, through its trailing dash.
    #[test]
    fn custom_prefix_boundary() {
        assert!(is_forwardable("X-Amzn-Bedrock-AgentCore-Runtime-Custom-"));
        assert!(!is_forwardable("X-Amzn-Bedrock-AgentCore-Runtime-Custom"));
        assert!(!is_forwardable("X-Amzn-Bedrock-AgentCore-Runtime-Custo"));
        assert!(!is_forwardable(
            "X-Amzn-Bedrock-AgentCore-Runtime-CustomFoo"
        ));
    }

    /// Prefix and list matching ignore case.
    #[test]
    fn matching_is_case_insensitive() {
        assert!(is_forwardable(
            "x-amzn-bedrock-agentcore-runtime-custom-foo"
        ));
        assert!(is_forwardable(
            "X-AMZN-BEDROCK-AGENTCORE-RUNTIME-CUSTOM-FOO"
        ));
        assert!(!is_forwardable("CONTENT-TYPE"));
        assert!(!is_forwardable("x-AMZ-date"));
        assert!(!is_forwardable("X-AMZN-TRACE-ID"));
    }

    /// Proxy-Authorization is restricted while X-Authorization is an ordinary header.
    #[test]
    fn proxy_authorization_blocked_x_authorization_allowed() {
        assert!(!is_forwardable("Proxy-Authorization"));
        assert!(is_forwardable("X-Authorization"));
    }

    /// Restricted headers are blocked, including pseudo-headers and WebSocket handshake headers.
    #[test]
    fn restricted_blocked() {
        for name in [
            "Content-Type",
            "Content-Length",
            "Host",
            "User-Agent",
            "Cookie",
            "X-Forwarded-For",
            "Connection",
            "Upgrade",
            ":path",
            "Sec-WebSocket-Key",
            "Accept",
        ] {
            assert!(!is_forwardable(name), "{name} was forwarded");
        }
    }

    /// `x-amz-` headers are blocked except the Identity WAT.
    #[test]
    fn x_amz_blocked_except_identity_wat() {
        assert!(!is_forwardable("X-Amz-Date"));
        assert!(!is_forwardable("x-amz-date"));
        assert!(!is_forwardable("X-Amz-Security-Token"));
        assert!(!is_forwardable("X-Amz-Cf-Id"));
        assert!(is_forwardable("X-Amz-Bedrock-AgentCore-Identity-WAT"));
        assert!(is_forwardable("x-amz-bedrock-agentcore-identity-wat"));
        assert!(!is_forwardable(
            "X-Amz-Bedrock-AgentCore-Identity-WAT-Extra"
        ));
    }

    /// `x-amzn-` headers are blocked, the session and request ids included.
    #[test]
    fn x_amzn_blocked() {
        assert!(!is_forwardable("X-Amzn-Trace-Id"));
        assert!(!is_forwardable(SESSION_ID));
        assert!(!is_forwardable(REQUEST_ID));
        assert!(!is_forwardable("X-Amzn-Bedrock-AgentCore-Shell-Id"));
    }

    /// The token and callback headers are ordinary names, so they are forwarded as well as read.
    #[test]
    fn token_and_callback_headers_forwardable() {
        assert!(is_forwardable(WORKLOAD_ACCESS_TOKEN));
        assert!(is_forwardable(OAUTH2_CALLBACK_URL));
    }

    /// Prefix comparison never slices inside a multi-byte character.
    #[test]
    fn prefix_check_handles_non_ascii() {
        assert!(!starts_with_ignore_ascii_case("x-amzn-é", CUSTOM_PREFIX));
        assert!(starts_with_ignore_ascii_case("ABC-def", "abc-"));
        assert!(!starts_with_ignore_ascii_case("ab", "abc"));
    }
}
