//! The request context: what a handler learns about its request from the headers.

use super::{
    AUTHORIZATION, IDENTITY_WAT, OAUTH2_CALLBACK_URL, REQUEST_ID, SESSION_ID,
    WORKLOAD_ACCESS_TOKEN, is_forwardable_lowercase,
};

/// What the SDK's `_build_request_context` extracts from one request's headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The [`SESSION_ID`] header; `None` when absent, `Some("")` when sent empty (as the SDK keeps it).
    pub session_id: Option<String>,
    /// The [`REQUEST_ID`] header; `None` when absent or empty, and the server then generates a UUID.
    pub request_id: Option<String>,
    /// The [`IDENTITY_WAT`] header if non-empty, else [`WORKLOAD_ACCESS_TOKEN`] if non-empty.
    pub workload_access_token: Option<String>,
    /// The [`OAUTH2_CALLBACK_URL`] header if non-empty.
    pub oauth2_callback_url: Option<String>,
    /// The forwardable headers (the SDK's `request_headers`), in order of first occurrence:
    /// [`AUTHORIZATION`] under that key, every other name lowercase. Empty when none qualify,
    /// where the SDK has `None`.
    pub headers: Vec<(String, String)>,
}

/// Builds the [`RequestContext`] of a request from its headers, in the order received.
///
/// Names may arrive in any case. The single-valued fields take a header's first occurrence, as
/// Starlette's `headers.get` does. Forwarded headers behave like the SDK's dict: a repeated name
/// keeps the position of its first occurrence and the value of its last; empty values are kept.
/// The token and callback headers are ordinary names, so they are forwarded as well as read; the
/// session and request ids (`x-amzn-`) are read only.
///
/// Values are decoded as UTF-8, lossily: invalid bytes become U+FFFD. (Starlette decodes header
/// values as Latin-1, so non-ASCII values differ from the SDK; ASCII values, the norm, are equal.)
pub fn request_context<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> RequestContext {
    let mut context = RequestContext::default();
    let mut identity_wat = None;
    let mut access_token = None;
    let mut request_id = None;
    let mut callback_url = None;

    for (name, raw_value) in headers {
        let value = String::from_utf8_lossy(raw_value).into_owned();
        let lower = name.to_ascii_lowercase();

        let field = if lower.eq_ignore_ascii_case(SESSION_ID) {
            Some(&mut context.session_id)
        } else if lower.eq_ignore_ascii_case(REQUEST_ID) {
            Some(&mut request_id)
        } else if lower.eq_ignore_ascii_case(IDENTITY_WAT) {
            Some(&mut identity_wat)
        } else if lower.eq_ignore_ascii_case(WORKLOAD_ACCESS_TOKEN) {
            Some(&mut access_token)
        } else if lower.eq_ignore_ascii_case(OAUTH2_CALLBACK_URL) {
            Some(&mut callback_url)
        } else {
            None
        };
        if let Some(slot) = field
            && slot.is_none()
        {
            *slot = Some(value.clone());
        }

        let key = if lower.eq_ignore_ascii_case(AUTHORIZATION) {
            AUTHORIZATION.to_owned()
        } else if is_forwardable_lowercase(&lower) {
            lower
        } else {
            continue;
        };
        // A request forwards a handful of headers: a linear scan beats hashing them.
        match context.headers.iter_mut().find(|(name, _)| *name == key) {
            Some(entry) => entry.1 = value,
            None => context.headers.push((key, value)),
        }
    }

    // The SDK tests these with Python truthiness, so an empty value counts as absent.
    context.request_id = non_empty(request_id);
    context.workload_access_token = non_empty(identity_wat).or(non_empty(access_token));
    context.oauth2_callback_url = non_empty(callback_url);
    context
}

/// `value` unless it is empty.
fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a context from `(name, value)` pairs given as text.
    fn context_of(headers: &[(&str, &str)]) -> RequestContext {
        request_context(headers.iter().map(|(n, v)| (*n, v.as_bytes())))
    }

    /// Owned copies of `(name, value)` pairs, for comparing with `RequestContext::headers`.
    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// No headers give the empty context.
    #[test]
    fn empty_input() {
        assert_eq!(context_of(&[]), RequestContext::default());
    }

    /// Session and request ids are read, in any casing, and are not forwarded.
    #[test]
    fn session_and_request_ids() {
        let context = context_of(&[
            ("x-amzn-bedrock-agentcore-runtime-session-id", "sess-1"),
            ("X-AMZN-BEDROCK-AGENTCORE-RUNTIME-REQUEST-ID", "req-1"),
        ]);
        assert_eq!(context.session_id.as_deref(), Some("sess-1"));
        assert_eq!(context.request_id.as_deref(), Some("req-1"));
        assert!(context.headers.is_empty());
    }

    /// An absent or empty request id is None, for the server to generate; an empty session id stays.
    #[test]
    fn empty_ids() {
        let context = context_of(&[(SESSION_ID, ""), (REQUEST_ID, "")]);
        assert_eq!(context.session_id.as_deref(), Some(""));
        assert_eq!(context.request_id, None);
        assert_eq!(context_of(&[("x-other", "1")]).session_id, None);
    }

    /// A repeated single-valued header yields its first value, like Starlette's `headers.get`.
    #[test]
    fn fields_take_first_occurrence() {
        let context = context_of(&[(SESSION_ID, "first"), (SESSION_ID, "second")]);
        assert_eq!(context.session_id.as_deref(), Some("first"));
    }

    /// The Identity WAT wins over WorkloadAccessToken, and both are forwarded.
    #[test]
    fn identity_wat_preferred_and_forwarded() {
        let context = context_of(&[
            ("workloadaccesstoken", "legacy"),
            ("x-amz-bedrock-agentcore-identity-wat", "wat"),
        ]);
        assert_eq!(context.workload_access_token.as_deref(), Some("wat"));
        assert_eq!(
            context.headers,
            owned(&[
                ("workloadaccesstoken", "legacy"),
                ("x-amz-bedrock-agentcore-identity-wat", "wat"),
            ])
        );
    }

    /// An empty WAT falls back to WorkloadAccessToken; empty both ways means no token.
    #[test]
    fn empty_wat_falls_back() {
        let context = context_of(&[(IDENTITY_WAT, ""), (WORKLOAD_ACCESS_TOKEN, "legacy")]);
        assert_eq!(context.workload_access_token.as_deref(), Some("legacy"));
        let context = context_of(&[(IDENTITY_WAT, ""), (WORKLOAD_ACCESS_TOKEN, "")]);
        assert_eq!(context.workload_access_token, None);
        let context = context_of(&[(WORKLOAD_ACCESS_TOKEN, "only")]);
        assert_eq!(context.workload_access_token.as_deref(), Some("only"));
    }

    /// The OAuth2 callback URL is read when non-empty and forwarded either way.
    #[test]
    fn oauth2_callback_url() {
        let context = context_of(&[("oauth2callbackurl", "https://cb")]);
        assert_eq!(context.oauth2_callback_url.as_deref(), Some("https://cb"));
        assert_eq!(
            context.headers,
            owned(&[("oauth2callbackurl", "https://cb")])
        );
        let context = context_of(&[("oauth2callbackurl", "")]);
        assert_eq!(context.oauth2_callback_url, None);
        assert_eq!(context.headers, owned(&[("oauth2callbackurl", "")]));
    }

    /// Authorization in any casing is forwarded under `Authorization`; other names go lowercase.
    #[test]
    fn authorization_canonical_others_lowercase() {
        let context = context_of(&[
            ("AUTHORIZATION", "Bearer abc"),
            ("X-My-Header", "mine"),
            ("Content-Type", "application/json"),
        ]);
        assert_eq!(
            context.headers,
            owned(&[("Authorization", "Bearer abc"), ("x-my-header", "mine")])
        );
    }

    /// A repeated name keeps its first position and takes its last value, across casings.
    #[test]
    fn repeated_header_last_wins_first_position() {
        let context = context_of(&[
            ("x-a", "1"),
            ("authorization", "old"),
            ("X-B", "2"),
            ("X-A", "3"),
            ("Authorization", "new"),
        ]);
        assert_eq!(
            context.headers,
            owned(&[("x-a", "3"), ("Authorization", "new"), ("x-b", "2")])
        );
    }

    /// Empty values are forwarded as empty strings.
    #[test]
    fn empty_value_kept() {
        let context = context_of(&[("x-empty", ""), ("authorization", "")]);
        assert_eq!(
            context.headers,
            owned(&[("x-empty", ""), ("Authorization", "")])
        );
    }

    /// Only restricted or reserved headers leave nothing to forward.
    #[test]
    fn only_restricted_forwards_nothing() {
        let context = context_of(&[
            ("host", "localhost"),
            ("content-type", "application/json"),
            ("content-length", "2"),
            ("x-amzn-trace-id", "Root=1"),
            ("x-amz-date", "20260101T000000Z"),
            ("proxy-authorization", "Basic x"),
        ]);
        assert!(context.headers.is_empty());
    }

    /// The allowlist edge cases of the SDK tests hold through `request_context` too.
    #[test]
    fn allowlist_edge_cases() {
        let context = context_of(&[
            ("X-Amzn-Bedrock-AgentCore-Runtime-Custom-", "dash"),
            ("X-Amzn-Bedrock-AgentCore-Runtime-Custom", "no-dash"),
            ("X-Amzn-Bedrock-AgentCore-Runtime-Custo", "short"),
            ("Proxy-Authorization", "blocked"),
            ("X-Authorization", "allowed"),
            ("X-Amz-Date", "blocked"),
            ("X-Amzn-Trace-Id", "blocked"),
            ("X-Amzn-Bedrock-AgentCore-Runtime-Custom-Foo", "bar"),
        ]);
        assert_eq!(
            context.headers,
            owned(&[
                ("x-amzn-bedrock-agentcore-runtime-custom-", "dash"),
                ("x-authorization", "allowed"),
                ("x-amzn-bedrock-agentcore-runtime-custom-foo", "bar"),
            ])
        );
    }

    /// The reference's observed request forwards exactly the observed dict, in order.
    #[test]
    fn reference_example() {
        let context = context_of(&[
            ("host", "127.0.0.1:8080"),
            ("authorization", "Bearer abc"),
            ("x-amzn-bedrock-agentcore-runtime-custom-foo", "bar"),
            ("x-amz-bedrock-agentcore-identity-wat", "wat"),
            ("workloadaccesstoken", "wat2"),
            ("x-my-header", "mine"),
            ("baggage", "k=v"),
            ("x-amzn-trace-id", "Root=1-abc"),
            ("x-amz-date", "20260101T000000Z"),
            ("content-type", "application/json"),
            ("content-length", "2"),
        ]);
        assert_eq!(
            context.headers,
            owned(&[
                ("Authorization", "Bearer abc"),
                ("x-amzn-bedrock-agentcore-runtime-custom-foo", "bar"),
                ("x-amz-bedrock-agentcore-identity-wat", "wat"),
                ("workloadaccesstoken", "wat2"),
                ("x-my-header", "mine"),
                ("baggage", "k=v"),
            ])
        );
        assert_eq!(context.workload_access_token.as_deref(), Some("wat"));
    }

    /// Invalid UTF-8 in a value is replaced with U+FFFD rather than dropping the header.
    #[test]
    fn invalid_utf8_is_lossy() {
        let context = request_context([("x-bin", &b"a\x80b"[..]), (SESSION_ID, &b"s\xff"[..])]);
        assert_eq!(context.headers, owned(&[("x-bin", "a\u{fffd}b")]));
        assert_eq!(context.session_id.as_deref(), Some("s\u{fffd}"));
    }
}
