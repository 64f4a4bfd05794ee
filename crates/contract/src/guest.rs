//! What the host accepts from a guest before any of it reaches a caller: a result, an event and
//! its SSE name and id, a reply head, an async task's name and metadata. Each check is pure, so
//! it is tested (and fuzzed) without a WebAssembly runtime; the host decides what a refusal
//! costs the invocation.

use std::fmt;

use crate::json::check_document;

/// Bytes of an async task's name and metadata together: a label and a little JSON for the
/// debug view, not a place to park data. Every open task is kept in the host until completed,
/// so a thousand of them (one instance's share) hold a few MiB, not a guest's gigabyte.
pub const MAX_TASK_BYTES: usize = 4 << 10;
/// Bytes of one reply header's name: longer than any real header's, far shorter than what a
/// proxy in front of the server would take.
const MAX_HEADER_NAME: usize = 256;
/// Bytes of a reply head's headers, names and values together: a proxy's usual buffer for a
/// response head is 4 to 8 KiB and a large one 64 KiB; past that a reply would be cut off
/// downstream, not by us.
pub const MAX_REPLY_HEADERS: usize = 64 << 10;
/// Characters of a guest's header name quoted back in a refusal: enough to recognise it.
const MAX_QUOTED_NAME: usize = 64;

/// Characters that would end an SSE field early or be dropped by a client: the host frames the
/// event, so a guest's name or id may not contain them.
const FIELD_BREAKS: [char; 3] = ['\r', '\n', '\0'];
/// Separators RFC 9110 forbids in a header name (a token).
const NAME_SEPARATORS: &[u8] = b"()<>@,;:\\\"/[]?={}";
/// Headers that frame the HTTP message: the host's to write, never a guest's.
const FRAMING_HEADERS: &[&str] = &[
    "connection",
    "content-length",
    "content-type",
    "transfer-encoding",
];

/// Why the host refused something a guest handed it. The text is written for the caller: it
/// names what was wrong and never quotes more than a header name of the guest's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Larger than the host takes from a guest in one piece.
    TooLarge {
        /// What it was: "the result", "an event".
        what: &'static str,
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// Not one JSON document (RFC 8259).
    NotJson {
        /// What it was.
        what: &'static str,
        /// serde_json's description, with line and column.
        error: String,
    },
    /// An SSE event name or id with a line break or NUL.
    LineBreak {
        /// `name` or `id`.
        field: &'static str,
    },
    /// A reply status outside 200 to 599.
    Status(u16),
    /// A reply header name or value HTTP does not allow.
    InvalidHeader(String),
    /// A header the host writes itself.
    FramingHeader(String),
    /// A reply content type HTTP does not allow as a header value.
    ContentType,
}

impl Refusal {
    /// Whether the refusal is one of size, which the host reports as its own kind.
    pub fn is_too_large(&self) -> bool {
        matches!(self, Self::TooLarge { .. })
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { what, size, limit } => write!(
                f,
                "{what} is larger than the {} the server takes ({size} bytes)",
                Size(*limit)
            ),
            Self::NotJson { what, error } => write!(f, "{what} is not one JSON document: {error}"),
            Self::LineBreak { field } => {
                write!(f, "an event {field} contains a line break or NUL")
            }
            Self::Status(status) => write!(f, "reply status {status} is not 200 to 599"),
            Self::InvalidHeader(name) => {
                write!(
                    f,
                    "reply header `{}` is not a valid HTTP header",
                    quoted(name)
                )
            }
            Self::FramingHeader(name) => write!(
                f,
                "reply header `{}` is the host's to set (use the content type field)",
                quoted(name)
            ),
            Self::ContentType => {
                f.write_str("the reply content type is not a valid HTTP header value")
            }
        }
    }
}

impl std::error::Error for Refusal {}

/// A byte count as a person reads it: exact below a KiB, else in KiB or MiB with one decimal
/// when it is not whole.
#[derive(Debug, Clone, Copy)]
pub struct Size(pub usize);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const KIB: usize = 1 << 10;
        const MIB: usize = 1 << 20;
        // The unit is chosen on the rounded figure, so 1 MiB less a byte reads "1.0 MiB",
        // never "1024.0 KiB".
        let (unit, name) = match self.0 {
            n if n >= MIB - KIB / 20 => (MIB, "MiB"),
            n if n >= KIB => (KIB, "KiB"),
            n => return write!(f, "{n} bytes"),
        };
        if self.0.is_multiple_of(unit) {
            write!(f, "{} {name}", self.0 / unit)
        } else {
            write!(f, "{:.1} {name}", self.0 as f64 / unit as f64)
        }
    }
}

/// Checks an invocation's result: at most `limit` bytes, and one JSON document when the reply
/// is JSON (a text reply is sent as the guest wrote it).
pub fn check_result(text: &str, is_json: bool, limit: usize) -> Result<(), Refusal> {
    check_size("the result", text.as_bytes(), limit)?;
    if is_json {
        check_json("the result", text)?;
    }
    Ok(())
}

/// Checks an event: its data at most `limit` bytes and one JSON document, and its SSE name and
/// id free of line breaks.
pub fn check_event(
    data: &str,
    name: Option<&str>,
    id: Option<&str>,
    limit: usize,
) -> Result<(), Refusal> {
    check_size("an event", data.as_bytes(), limit)?;
    check_json("an event", data)?;
    for (field, value) in [("name", name), ("id", id)] {
        if value.is_some_and(|v| v.contains(FIELD_BREAKS)) {
            return Err(Refusal::LineBreak { field });
        }
    }
    Ok(())
}

/// Checks a reply head: a status from 200 to 599, headers HTTP allows (and a proxy passes)
/// that the host does not write itself, and a content type that is a valid header value.
pub fn check_reply_head(
    status: u16,
    content_type: Option<&str>,
    headers: &[(String, String)],
) -> Result<(), Refusal> {
    if !(200..=599).contains(&status) {
        return Err(Refusal::Status(status));
    }
    let mut size = 0;
    for (name, value) in headers {
        let valid_name = (1..=MAX_HEADER_NAME).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_graphic() && !NAME_SEPARATORS.contains(&b));
        if !valid_name || !is_header_value(value) {
            return Err(Refusal::InvalidHeader(name.clone()));
        }
        if FRAMING_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(Refusal::FramingHeader(name.clone()));
        }
        size += name.len() + value.len();
    }
    if size > MAX_REPLY_HEADERS {
        return Err(Refusal::TooLarge {
            what: "the reply's headers",
            size,
            limit: MAX_REPLY_HEADERS,
        });
    }
    if content_type.is_some_and(|c| !is_header_value(c)) {
        return Err(Refusal::ContentType);
    }
    Ok(())
}

/// RFC 9110's field value: visible characters, spaces and tabs, and bytes of UTF-8 text; no
/// control character that would end or corrupt the line.
fn is_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Checks an async task's name and metadata: together at most [`MAX_TASK_BYTES`], and the
/// metadata one JSON document.
pub fn check_task(name: &str, metadata: Option<&str>) -> Result<(), Refusal> {
    let size = name.len() + metadata.map_or(0, str::len);
    if size > MAX_TASK_BYTES {
        return Err(Refusal::TooLarge {
            what: "an async task (its name and metadata)",
            size,
            limit: MAX_TASK_BYTES,
        });
    }
    if let Some(text) = metadata {
        check_json("async task metadata", text)?;
    }
    Ok(())
}

/// Checks that `what`, `bytes` long, is at most `limit` bytes.
pub fn check_size(what: &'static str, bytes: &[u8], limit: usize) -> Result<(), Refusal> {
    if bytes.len() > limit {
        return Err(Refusal::TooLarge {
            what,
            size: bytes.len(),
            limit,
        });
    }
    Ok(())
}

/// A guest's name as a refusal quotes it: at most [`MAX_QUOTED_NAME`] characters.
fn quoted(name: &str) -> String {
    match name.char_indices().nth(MAX_QUOTED_NAME) {
        Some((end, _)) => format!("{}…", &name[..end]),
        None => name.to_owned(),
    }
}

fn check_json(what: &'static str, text: &str) -> Result<(), Refusal> {
    check_document(text).map_err(|error| Refusal::NotJson {
        what,
        error: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A result at the limit passes; one byte over is refused by size before it is parsed, and
    /// the message names both sizes.
    #[test]
    fn result_limit_is_exact() {
        let at_limit = format!("\"{}\"", "x".repeat(1022));
        assert_eq!(check_result(&at_limit, true, 1024), Ok(()));
        let over = format!("{at_limit} ");
        let refusal = check_result(&over, true, 1024).unwrap_err();
        assert!(refusal.is_too_large());
        assert_eq!(
            refusal.to_string(),
            "the result is larger than the 1 KiB the server takes (1025 bytes)"
        );
        assert_eq!(check_result("not json", false, 1024), Ok(()));
        assert!(matches!(
            check_result("not json", true, 1024),
            Err(Refusal::NotJson { .. })
        ));
    }

    /// An event is checked for size, JSON and its SSE fields, in that order.
    #[test]
    fn events_are_checked_whole() {
        assert_eq!(check_event("{}", Some("tick"), Some("7"), 16), Ok(()));
        assert!(check_event(&"1".repeat(17), None, None, 16).is_err_and(|r| r.is_too_large()));
        assert!(matches!(
            check_event("{", None, None, 16),
            Err(Refusal::NotJson { .. })
        ));
        for broken in ["a\nb", "a\rb", "a\0b"] {
            assert_eq!(
                check_event("1", None, Some(broken), 16),
                Err(Refusal::LineBreak { field: "id" })
            );
        }
    }

    /// A reply head is refused for its status, a bad or framing header, or a split content type.
    #[test]
    fn reply_heads_keep_to_http() {
        let header = |name: &str, value: &str| vec![(name.to_owned(), value.to_owned())];
        assert_eq!(
            check_reply_head(201, Some("text/plain"), &header("x-a", "b")),
            Ok(())
        );
        assert_eq!(check_reply_head(199, None, &[]), Err(Refusal::Status(199)));
        assert_eq!(check_reply_head(600, None, &[]), Err(Refusal::Status(600)));
        assert!(matches!(
            check_reply_head(200, None, &header("a b", "c")),
            Err(Refusal::InvalidHeader(_))
        ));
        assert!(matches!(
            check_reply_head(200, None, &header("x", "a\r\nb")),
            Err(Refusal::InvalidHeader(_))
        ));
        assert!(matches!(
            check_reply_head(200, None, &header("Content-Length", "1")),
            Err(Refusal::FramingHeader(_))
        ));
        let long = check_reply_head(200, None, &header(&"n".repeat(10_000), "\n"));
        assert!(long.is_err_and(|refusal| refusal.to_string().len() < 200));
        for content_type in ["a\nb", "a\u{c}b", "a\u{7f}"] {
            assert_eq!(
                check_reply_head(200, Some(content_type), &[]),
                Err(Refusal::ContentType),
                "{content_type:?}"
            );
        }
        assert!(matches!(
            check_reply_head(200, None, &header(&"n".repeat(MAX_HEADER_NAME + 1), "v")),
            Err(Refusal::InvalidHeader(_))
        ));
        let many: Vec<_> = (0..20)
            .map(|i| (format!("x-{i}"), "v".repeat(4000)))
            .collect();
        assert!(check_reply_head(200, None, &many).is_err_and(|r| r.is_too_large()));
    }

    /// A task's name and metadata are bounded together; its metadata must be JSON.
    #[test]
    fn tasks_are_small_and_json() {
        assert_eq!(check_task("job", Some("{\"k\":1}")), Ok(()));
        let big = format!("\"{}\"", "x".repeat(MAX_TASK_BYTES));
        assert!(check_task("job", Some(&big)).is_err_and(|r| r.is_too_large()));
        assert!(check_task(&"n".repeat(MAX_TASK_BYTES + 1), None).is_err());
        assert!(matches!(
            check_task("job", Some("nope")),
            Err(Refusal::NotJson { .. })
        ));
    }

    /// Sizes read as a person writes them.
    #[test]
    fn sizes_are_humane() {
        assert_eq!(Size(512).to_string(), "512 bytes");
        assert_eq!(Size(4 << 20).to_string(), "4 MiB");
        assert_eq!(Size(1536).to_string(), "1.5 KiB");
        assert_eq!(Size(900 << 20).to_string(), "900 MiB");
        assert_eq!(Size((1 << 20) - 1).to_string(), "1.0 MiB");
    }
}
