//! Checking that guest output is exactly one JSON document (RFC 8259).

use serde::de::IgnoredAny;

/// Checks that `text` is one JSON document and nothing else. serde_json rejects `NaN`,
/// `Infinity`, trailing text and invalid escapes, as RFC 8259 does; it also refuses nesting
/// deeper than 128 levels, which keeps the check from overflowing a worker's stack.
pub fn check_document(text: &str) -> Result<(), serde_json::Error> {
    serde_json::from_str::<IgnoredAny>(text).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
