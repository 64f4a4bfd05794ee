//! The SSE frames and JSON error bodies the contract writes read back to what was written.
//!
//! Input: fields `json`, `name`, `id`, `error`, `details`. A name or id is written only when
//! [`sse::is_valid_field`] allows it, as the host does.

use serde_json::{Value, json};
use wasm_agent_contract::{body, sse};

use crate::input::Fields;
use crate::sse_parse::{self, normalize_line_ends};

/// Checks every writer against `data`.
pub fn check(data: &[u8]) {
    let mut fields = Fields::new(data);
    let (text, name, id) = (fields.text(), fields.text(), fields.text());
    let (error, details) = (fields.text(), fields.text());
    check_frames(&text, &name, &id);
    check_error_event(&error, &details);
    check_error_bodies(&error, &details);
}

/// An event frame (with and without its fields) reads back as exactly one event with the
/// data, name and id written; line ends in the data come back as LF.
fn check_frames(text: &str, name: &str, id: &str) {
    for field in [name, id] {
        assert_eq!(
            sse::is_valid_field(field),
            !field.contains(['\r', '\n', '\0']),
            "field {field:?}"
        );
    }
    let name = sse::is_valid_field(name).then_some(name);
    let id = sse::is_valid_field(id).then_some(id);
    for (name, id) in [(name, id), (None, None), (name, None), (None, id)] {
        let frame = sse::event_frame(text, name, id);
        let events = sse_parse::parse(&frame);
        let expected = sse_parse::Event {
            data: normalize_line_ends(text),
            name: name.map(str::to_owned),
            id: id.map(str::to_owned),
        };
        assert_eq!(events, [expected], "frame {frame:?}");
    }
    assert_eq!(sse::data_frame(text), sse::event_frame(text, None, None));
}

/// The mid-stream error event is one `data:` line holding the SDK's three keys.
fn check_error_event(error: &str, error_type: &str) {
    let frame = sse::error_event(error, error_type);
    let events = sse_parse::parse(&frame);
    assert_eq!(events.len(), 1, "frame {frame:?}");
    let line = frame.strip_suffix("\n\n").unwrap_or_default();
    assert!(!line.contains(['\r', '\n']), "frame {frame:?}");
    let value: Value = serde_json::from_str(&events[0].data).expect("the error event is JSON");
    assert_eq!(
        value,
        json!({"error": error, "error_type": error_type, "message": sse::STREAM_ERROR_MESSAGE})
    );
}

/// The compact error bodies are JSON holding the message (and details), and nothing else.
fn check_error_bodies(error: &str, details: &str) {
    let compact = body::error(error);
    let value: Value = serde_json::from_str(&compact).expect("the error body is JSON");
    assert_eq!(value, json!({ "error": error }));
    assert_eq!(serde_json::to_string(&value).ok(), Some(compact));

    let both = body::error_with_details(error, details);
    let value: Value = serde_json::from_str(&both).expect("the error body is JSON");
    assert_eq!(value, json!({ "error": error, "details": details }));
    assert!(both.starts_with("{\"error\":"), "keys out of order: {both}");
}
