//! Server-Sent Events framing for streamed handler output.
//!
//! The SDK turns each yielded item into one `data: <json>\n\n` frame, where `<json>` is Python's
//! spaced dialect (`", "` and `": "`), and ends a failed stream with one error frame. It never
//! writes `event:` or `id:` lines; [`event_frame`] adds them as a wasm-agent extension (the SDK's
//! open issue #265) that degrades to exactly [`data_frame`] when unused.

use crate::json::quote;

/// The `message` of the final event a stream emits when the handler fails mid-stream.
pub const STREAM_ERROR_MESSAGE: &str = "An error occurred during streaming";

/// Returns the frame `data: <json>\n\n` carrying `json` verbatim.
///
/// `json` is not re-serialized. JSON text never holds a raw CR or LF inside a string, but its
/// whitespace may (pretty-printed output): each of its lines is then written as a `data:` line
/// of its own, which a client joins back with LF, so the frame stays one event with the same
/// JSON value. The SDK's `json.dumps` output has no line breaks, so its bytes are unchanged.
pub fn data_frame(json: &str) -> String {
    if !json.contains(['\r', '\n']) {
        return format!("data: {json}\n\n");
    }
    let mut frame = String::with_capacity(json.len() + 16);
    push_data(&mut frame, json);
    frame
}

/// Returns a frame with an optional `event:` line and `id:` line before `data: <json>\n\n`.
///
/// With neither `name` nor `id` this is exactly [`data_frame`]. The caller must refuse a `name`
/// or `id` for which [`is_valid_field`] is false: a CR or LF would end the line early and let the
/// value inject fields or frames of its own.
pub fn event_frame(json: &str, name: Option<&str>, id: Option<&str>) -> String {
    let mut frame = String::with_capacity(json.len() + 16);
    if let Some(name) = name {
        frame.push_str("event: ");
        frame.push_str(name);
        frame.push('\n');
    }
    if let Some(id) = id {
        frame.push_str("id: ");
        frame.push_str(id);
        frame.push('\n');
    }
    push_data(&mut frame, json);
    frame
}

/// Appends `json` as `data:` lines, one for each of its lines (ended by CRLF, CR or LF, as an
/// SSE client splits them), and the blank line that ends the event.
fn push_data(frame: &mut String, json: &str) {
    let mut rest = json;
    loop {
        let end = rest.find(['\r', '\n']).unwrap_or(rest.len());
        frame.push_str("data: ");
        frame.push_str(&rest[..end]);
        frame.push('\n');
        let Some(ending) = rest.get(end..).filter(|ending| !ending.is_empty()) else {
            break;
        };
        rest = &rest[end + if ending.starts_with("\r\n") { 2 } else { 1 }..];
    }
    frame.push('\n');
}

/// Whether `value` may be written as an SSE `event:` name or `id:` without breaking the framing.
///
/// CR and LF end a field line. NUL is refused too: browsers ignore an `id` that contains one, and
/// one rule for both fields keeps callers simple.
pub fn is_valid_field(value: &str) -> bool {
    !value.contains(['\r', '\n', '\0'])
}

/// Returns the final frame for a stream whose handler failed, in the SDK's exact shape:
/// `data: {"error": "<error>", "error_type": "<error_type>", "message": "An error occurred during streaming"}\n\n`.
///
/// `error` is the failure's message (Python's `str(e)`) and `error_type` its kind (the exception
/// class name); both are JSON-escaped.
pub fn error_event(error: &str, error_type: &str) -> String {
    format!(
        "data: {{\"error\": {}, \"error_type\": {}, \"message\": {}}}\n\n",
        quote(error),
        quote(error_type),
        quote(STREAM_ERROR_MESSAGE)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Data frames carry the JSON text as given, matching the SDK's observed chunks.
    #[test]
    fn data_frame_golden() {
        assert_eq!(data_frame(r#"{"chunk": 1}"#), "data: {\"chunk\": 1}\n\n");
        assert_eq!(data_frame(r#""text""#), "data: \"text\"\n\n");
        assert_eq!(data_frame("3"), "data: 3\n\n");
        assert_eq!(data_frame(r#""""#), "data: \"\"\n\n");
        assert_eq!(
            data_frame(r#""Hello\nworld\ttab""#),
            "data: \"Hello\\nworld\\ttab\"\n\n"
        );
        assert_eq!(
            data_frame(r#""{\"already\": \"json\"}""#),
            "data: \"{\\\"already\\\": \\\"json\\\"}\"\n\n"
        );
    }

    /// The observed 20-byte chunk `data: {"chunk": 1}\n\n` (hex 14) has the right length.
    #[test]
    fn data_frame_chunk_length() {
        assert_eq!(data_frame(r#"{"chunk": 1}"#).len(), 0x14);
        assert_eq!(data_frame(r#""text""#).len(), 0xe);
        assert_eq!(data_frame("3").len(), 9);
    }

    /// Without a name or id an event frame is byte-identical to a data frame.
    #[test]
    fn event_frame_without_fields_is_data_frame() {
        let json = r#"{"message": "Hello, world!"}"#;
        assert_eq!(event_frame(json, None, None), data_frame(json));
    }

    /// Name and id lines come first, in that order, each only when given.
    #[test]
    fn event_frame_fields() {
        assert_eq!(
            event_frame("1", Some("delta"), Some("7")),
            "event: delta\nid: 7\ndata: 1\n\n"
        );
        assert_eq!(
            event_frame("1", Some("delta"), None),
            "event: delta\ndata: 1\n\n"
        );
        assert_eq!(event_frame("1", None, Some("7")), "id: 7\ndata: 1\n\n");
    }

    /// Data with line breaks (pretty-printed JSON) is written one `data:` line per line, so the
    /// frame stays one event; each of CRLF, CR and LF ends a line, a trailing one included.
    #[test]
    fn multi_line_data_gets_a_data_line_each() {
        assert_eq!(
            data_frame("{\n  \"a\": 1\r\n}"),
            "data: {\ndata:   \"a\": 1\ndata: }\n\n"
        );
        assert_eq!(data_frame("1\r"), "data: 1\ndata: \n\n");
        assert_eq!(
            event_frame("[\r1]", Some("e"), None),
            "event: e\ndata: [\ndata: 1]\n\n"
        );
    }

    /// CR, LF and NUL are refused as field values; other text, empty included, is allowed.
    #[test]
    fn field_validity() {
        assert!(is_valid_field("delta"));
        assert!(is_valid_field(""));
        assert!(is_valid_field("wörld 😀 : id"));
        assert!(!is_valid_field("a\nb"));
        assert!(!is_valid_field("a\rb"));
        assert!(!is_valid_field("a\r\n"));
        assert!(!is_valid_field("a\0b"));
    }

    /// The error event matches the bytes observed from the SDK.
    #[test]
    fn error_event_golden() {
        assert_eq!(
            error_event("mid-stream", "RuntimeError"),
            "data: {\"error\": \"mid-stream\", \"error_type\": \"RuntimeError\", \"message\": \"An error occurred during streaming\"}\n\n"
        );
    }

    /// The error event escapes its fields like `json.dumps(ensure_ascii=False)`.
    #[test]
    fn error_event_escapes() {
        assert_eq!(
            error_event("bad \"x\"\nline\u{2028}é", "Trap\\1"),
            "data: {\"error\": \"bad \\\"x\\\"\\nline\u{2028}é\", \"error_type\": \"Trap\\\\1\", \"message\": \"An error occurred during streaming\"}\n\n"
        );
    }
}
