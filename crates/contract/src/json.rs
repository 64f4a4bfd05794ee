//! JSON as the contract needs it: checking that a text is one JSON document (a caller's
//! payload, a guest's output), and string literals escaped the way Python's
//! `json.dumps(..., ensure_ascii=False)` escapes them.

use serde::de::IgnoredAny;

/// Checks that `text` is one JSON document and nothing else. serde_json rejects `NaN`,
/// `Infinity`, trailing text and invalid escapes, as RFC 8259 does; it also refuses nesting
/// deeper than 128 levels, which keeps the check from overflowing a worker's stack.
pub fn check_document(text: &str) -> Result<(), serde_json::Error> {
    serde_json::from_str::<IgnoredAny>(text).map(drop)
}

/// Why a request body is not a payload, in the words the SDK's 400 reply carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadError {
    /// Not UTF-8: where the first invalid byte is.
    Encoding(usize),
    /// UTF-8, but not one JSON document: serde_json's account of why.
    Json(String),
}

impl std::fmt::Display for PayloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Encoding(at) => write!(f, "invalid UTF-8 at byte {at}"),
            Self::Json(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for PayloadError {}

/// Checks that `bytes` are UTF-8 and one JSON document, in the SDK's order (decode, then
/// parse), and returns them as text without copying.
pub fn payload(bytes: Vec<u8>) -> Result<String, PayloadError> {
    let text = String::from_utf8(bytes)
        .map_err(|error| PayloadError::Encoding(error.utf8_error().valid_up_to()))?;
    check_document(&text).map_err(|error| PayloadError::Json(error.to_string()))?;
    Ok(text)
}

/// Returns `text` as a JSON string literal, quotes included.
///
/// serde_json escapes exactly what Python does with `ensure_ascii=False`: `"` and `\` and the
/// C0 controls, with the short forms `\b \f \n \r \t` and lowercase `\u00XX` for the rest; DEL,
/// `/`, U+2028/U+2029 and all other non-ASCII text stay raw UTF-8.
pub(crate) fn quote(text: &str) -> String {
    // `Value`'s `Display` is infallible, unlike `to_string`, whose error case cannot occur for a str.
    serde_json::Value::from(text).to_string()
}

#[cfg(test)]
mod tests {
    use super::{PayloadError, check_document, payload, quote};

    /// UTF-8 is checked before JSON, and any JSON value passes unchanged.
    #[test]
    fn payloads_are_checked_for_encoding_then_json() {
        assert_eq!(payload(b"{}\x80".to_vec()), Err(PayloadError::Encoding(2)));
        assert!(matches!(payload(Vec::new()), Err(PayloadError::Json(_))));
        assert!(matches!(
            payload(b"{\"a\": NaN}".to_vec()),
            Err(PayloadError::Json(_))
        ));
        for ok in ["1", "\"s\"", "null", "[1,2]", "{\"k\": \"w\u{f6}rld\"}"] {
            assert_eq!(payload(ok.as_bytes().to_vec()).as_deref(), Ok(ok));
        }
    }

    /// Every kind of JSON value is accepted as a document.
    #[test]
    fn accepts_any_json_value() {
        for text in [
            "{}",
            "[]",
            "\"s\"",
            "1.5e300",
            "-0",
            "null",
            "true",
            " {\"a\": [1, {}]} ",
        ] {
            assert!(check_document(text).is_ok(), "{text}");
        }
    }

    /// Non-JSON extensions and trailing content are refused.
    #[test]
    fn refuses_what_rfc_8259_refuses() {
        for text in [
            "",
            "NaN",
            "{\"x\": NaN}",
            "Infinity",
            "{} {}",
            "{'a': 1}",
            "[1,]",
            "\"\\x\"",
        ] {
            assert!(check_document(text).is_err(), "{text}");
        }
    }

    /// Escaping matches `json.dumps(s, ensure_ascii=False)` byte for byte, including controls,
    /// quotes, backslash, slash, DEL, U+2028 and astral characters.
    #[test]
    fn quote_matches_python_json_dumps() {
        let cases = [
            ("plain", r#""plain""#),
            ("", r#""""#),
            ("boom \"quoted\"", r#""boom \"quoted\"""#),
            ("back\\slash / slash", r#""back\\slash / slash""#),
            ("\n\t\r\u{8}\u{c}", r#""\n\t\r\b\f""#),
            ("\u{0}\u{1}\u{1f}", r#""\u0000\u0001\u001f""#),
            ("del\u{7f}", "\"del\u{7f}\""),
            ("line\u{2028}sep\u{2029}", "\"line\u{2028}sep\u{2029}\""),
            ("wörld 世界 😀", "\"wörld 世界 😀\""),
        ];
        for (input, expected) in cases {
            assert_eq!(quote(input), expected, "input {input:?}");
        }
    }
}
