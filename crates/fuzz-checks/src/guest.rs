//! What the host accepts from a guest (`wasm_agent_contract::guest`): whatever a check passes
//! is what it promises. A result or event passed as JSON is a JSON document by serde_json and
//! fits its limit; an event's name and id hold no CR, LF or NUL and its frame reads back whole;
//! a reply head has a status from 200 to 599 and headers `http` accepts; a task is small and
//! its metadata JSON.
//!
//! Input: a selector byte, then the fields of one check:
//! - 0 result: limit (two bytes, big-endian), is-JSON (non-empty), text;
//! - 1 event: limit, data, then name and id (each present when its field is non-empty);
//! - 2 reply head: status (two bytes), content type (present when non-empty), then alternating
//!   header names and values; a name field starting with `*` is repeated to 64 KiB, to reach
//!   the lengths HTTP bounds;
//! - 3 task: name, metadata (present when non-empty).

use http::{HeaderName, HeaderValue};
use wasm_agent_contract::guest::{
    MAX_TASK_BYTES, check_event, check_reply_head, check_result, check_task,
};
use wasm_agent_contract::{json, sse};

use crate::input::Fields;
use crate::request::is_beyond_value;
use crate::sse_parse::{self, normalize_line_ends};

/// Checks one of the guest-output checks, chosen by `data`'s first byte.
pub fn check(data: &[u8]) {
    let Some((selector, rest)) = data.split_first() else {
        return;
    };
    let mut fields = Fields::new(rest);
    match selector % 4 {
        0 => {
            let limit = number(fields.bytes());
            let is_json = !fields.bytes().is_empty();
            let text = fields.text();
            if check_result(&text, is_json, limit).is_ok() {
                assert!(text.len() <= limit);
                if is_json {
                    assert_json(&text);
                }
            }
        }
        1 => {
            let limit = number(fields.bytes());
            let data = fields.text();
            let (name, id) = (fields.text(), fields.text());
            let name = (!name.is_empty()).then_some(&*name);
            let id = (!id.is_empty()).then_some(&*id);
            if check_event(&data, name, id, limit).is_ok() {
                assert!(data.len() <= limit);
                assert_json(&data);
                for field in [name, id].into_iter().flatten() {
                    assert!(!field.contains(['\r', '\n', '\0']), "{field:?}");
                }
                let frame = sse::event_frame(&data, name, id);
                let expected = sse_parse::Event {
                    data: normalize_line_ends(&data),
                    name: name.map(str::to_owned),
                    id: id.map(str::to_owned),
                };
                assert_eq!(sse_parse::parse(&frame), [expected], "frame {frame:?}");
            }
        }
        2 => {
            let status = u16::try_from(number(fields.bytes())).unwrap_or(u16::MAX);
            let content_type = fields.text();
            let content_type = (!content_type.is_empty()).then_some(&*content_type);
            let mut headers = Vec::new();
            while fields.has_more() {
                let mut name = fields.text().into_owned();
                if name.starts_with('*') {
                    name = name.repeat((1 << 16) / name.len());
                }
                headers.push((name, fields.text().into_owned()));
            }
            if check_reply_head(status, content_type, &headers).is_ok() {
                assert!((200..=599).contains(&status), "status {status}");
                for (name, value) in &headers {
                    assert!(HeaderName::from_bytes(name.as_bytes()).is_ok(), "{name:?}");
                    assert!(HeaderValue::from_str(value).is_ok(), "{value:?}");
                }
                if let Some(content_type) = content_type {
                    assert!(
                        HeaderValue::from_str(content_type).is_ok(),
                        "{content_type:?}"
                    );
                }
            }
        }
        _ => {
            let name = fields.text();
            let metadata = fields.text();
            let metadata = (!metadata.is_empty()).then_some(&*metadata);
            if check_task(&name, metadata).is_ok() {
                assert!(name.len() + metadata.map_or(0, str::len) <= MAX_TASK_BYTES);
                if let Some(metadata) = metadata {
                    assert_json(metadata);
                }
            }
        }
    }
}

/// A big-endian number from up to the first two bytes of `field`.
fn number(field: &[u8]) -> usize {
    field
        .iter()
        .take(2)
        .fold(0, |n, byte| n << 8 | usize::from(*byte))
}

/// `text` is one JSON document by serde_json (but for what [`is_beyond_value`] allows).
fn assert_json(text: &str) {
    assert!(json::check_document(text).is_ok());
    if let Err(error) = serde_json::from_str::<serde_json::Value>(text) {
        assert!(
            is_beyond_value(&error),
            "accepted what serde_json refuses: {error}"
        );
    }
}
