//! Compact JSON bodies the host writes itself (errors), in Starlette's `JSONResponse` dialect.
//!
//! Starlette renders with `separators=(",", ":")` and `ensure_ascii=False`: no spaces, non-ASCII
//! text raw. Handler output uses Python's spaced dialect instead; see [`crate::sse`].

use crate::json::quote;

/// The `error` of a 400 reply whose body is not JSON: Python's `json.JSONDecodeError`.
pub const INVALID_JSON: &str = "Invalid JSON";

/// The `error` of a 400 reply whose body is not UTF-8: Python's `UnicodeDecodeError`.
pub const INVALID_ENCODING: &str = "Invalid encoding";

/// The `error` of a 404 reply: Starlette's words for a path with no route. Starlette sends them
/// as plain text; the server sends `{"error":"Not Found"}`, so that every error a client gets is
/// JSON.
pub const NOT_FOUND: &str = "Not Found";

/// The `error` of a 405 reply (a known path, the wrong method): Starlette's words, in JSON as
/// for [`NOT_FOUND`].
pub const METHOD_NOT_ALLOWED: &str = "Method Not Allowed";

/// Returns the compact body `{"error":"<message>"}`, with `message` JSON-escaped.
pub fn error(message: &str) -> String {
    format!(r#"{{"error":{}}}"#, quote(message))
}

/// Returns the compact body `{"error":"<error>","details":"<details>"}`, keys in that order.
pub fn error_with_details(error: &str, details: &str) -> String {
    format!(
        r#"{{"error":{},"details":{}}}"#,
        quote(error),
        quote(details)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handler error renders as the reference's observed bytes, quotes escaped.
    #[test]
    fn error_is_compact_and_escaped() {
        assert_eq!(error("Test error"), r#"{"error":"Test error"}"#);
        assert_eq!(error("boom \"quoted\""), r#"{"error":"boom \"quoted\""}"#);
        assert_eq!(
            error("No entrypoint defined"),
            r#"{"error":"No entrypoint defined"}"#
        );
    }

    /// Non-ASCII, U+2028 and control characters follow `json.dumps(ensure_ascii=False)`.
    #[test]
    fn error_escapes_like_python() {
        assert_eq!(
            error("wörld\u{2028}😀\n\u{1}\\/"),
            "{\"error\":\"wörld\u{2028}😀\\n\\u0001\\\\/\"}"
        );
    }

    /// The invalid-JSON reply matches the bytes observed from the SDK for an empty body.
    #[test]
    fn invalid_json_golden() {
        assert_eq!(
            error_with_details(INVALID_JSON, "Expecting value: line 1 column 1 (char 0)"),
            r#"{"error":"Invalid JSON","details":"Expecting value: line 1 column 1 (char 0)"}"#
        );
    }

    /// The invalid-encoding reply matches the bytes observed from the SDK, single quotes raw.
    #[test]
    fn invalid_encoding_golden() {
        assert_eq!(
            error_with_details(
                INVALID_ENCODING,
                "'utf-8' codec can't decode byte 0x80 in position 0: invalid start byte"
            ),
            r#"{"error":"Invalid encoding","details":"'utf-8' codec can't decode byte 0x80 in position 0: invalid start byte"}"#
        );
    }

    /// Starlette's words for 404 and 405 are spelled exactly.
    #[test]
    fn starlette_default_bodies() {
        assert_eq!(NOT_FOUND, "Not Found");
        assert_eq!(METHOD_NOT_ALLOWED, "Method Not Allowed");
    }
}
