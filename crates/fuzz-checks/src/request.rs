//! A request as the server reads it: the body is accepted exactly when it is UTF-8 holding one
//! JSON document, and the context built from the headers holds only allowlisted headers, under
//! the names, values and order the SDK's dict would give them.
//!
//! Input: the body, then alternating header names and values.

use serde_json::Value;
use wasm_agent_contract::headers::{
    AUTHORIZATION, IDENTITY_WAT, OAUTH2_CALLBACK_URL, REQUEST_ID, SESSION_ID,
    WORKLOAD_ACCESS_TOKEN, is_forwardable, request_context,
};
use wasm_agent_contract::json;

use crate::input::Fields;

/// Checks the body check and `request_context` against `data`.
pub fn check(data: &[u8]) {
    let mut fields = Fields::new(data);
    check_body(fields.bytes());
    let mut headers = Vec::new();
    while fields.has_more() {
        headers.push((fields.text().into_owned(), fields.bytes()));
    }
    check_headers(&headers);
}

/// The server's body check (`payload::check`: UTF-8, then one JSON document) agrees with
/// serde_json reading the bytes as a value, but for what JSON allows and serde_json's value
/// does not (see [`is_beyond_value`]).
pub fn check_body(bytes: &[u8]) {
    let accepted = std::str::from_utf8(bytes).is_ok_and(|text| json::check_document(text).is_ok());
    match serde_json::from_slice::<Value>(bytes) {
        Ok(_) => assert!(accepted, "refused a JSON document"),
        Err(error) if is_beyond_value(&error) => {}
        Err(error) => assert!(!accepted, "accepted what serde_json refuses: {error}"),
    }
}

/// Whether serde_json refused to make a value of valid JSON: a number beyond `f64`, or a lone
/// UTF-16 surrogate escape (`"\udbac"`). RFC 8259's grammar allows both and Python's
/// `json.loads` (the SDK's reader) accepts both; the document check, which builds no value,
/// accepts them too.
pub fn is_beyond_value(error: &serde_json::Error) -> bool {
    let message = error.to_string();
    [
        "number out of range",
        "lone leading surrogate in hex escape",
        "unexpected end of hex escape",
    ]
    .iter()
    .any(|prefix| message.starts_with(prefix))
}

/// `request_context` agrees with a plain model of the SDK's `_build_request_context`.
fn check_headers(headers: &[(String, &[u8])]) {
    let context = request_context(headers.iter().map(|(name, value)| (name.as_str(), *value)));
    for (key, _) in &context.headers {
        assert!(
            key == AUTHORIZATION || (*key == key.to_ascii_lowercase() && is_forwardable(key)),
            "{key:?} was forwarded"
        );
    }

    let mut forwarded: Vec<(String, String)> = Vec::new();
    for (name, value) in headers {
        let key = if name.eq_ignore_ascii_case(AUTHORIZATION) {
            AUTHORIZATION.to_owned()
        } else if is_forwardable(name) {
            name.to_ascii_lowercase()
        } else {
            continue;
        };
        let value = String::from_utf8_lossy(value).into_owned();
        match forwarded.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => forwarded.push((key, value)),
        }
    }
    assert_eq!(context.headers, forwarded);

    let first = |wanted: &str| {
        headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
            .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
    };
    let non_empty = |value: Option<String>| value.filter(|v| !v.is_empty());
    assert_eq!(context.session_id, first(SESSION_ID));
    assert_eq!(context.request_id, non_empty(first(REQUEST_ID)));
    assert_eq!(
        context.workload_access_token,
        non_empty(first(IDENTITY_WAT)).or(non_empty(first(WORKLOAD_ACCESS_TOKEN)))
    );
    assert_eq!(
        context.oauth2_callback_url,
        non_empty(first(OAUTH2_CALLBACK_URL))
    );
}
