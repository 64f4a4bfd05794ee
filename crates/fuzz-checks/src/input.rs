//! Reading structured values out of a fuzzer's bytes.

use std::borrow::Cow;

/// The byte that separates fields: it never occurs in UTF-8 text, so text fields stay whole.
const SEPARATOR: u8 = 0xff;

/// The fields of `data`, split at each [`SEPARATOR`]; a missing field reads as empty.
#[derive(Debug)]
pub(crate) struct Fields<'a> {
    parts: std::slice::Split<'a, u8, fn(&u8) -> bool>,
}

impl<'a> Fields<'a> {
    /// Splits `data` into fields.
    pub(crate) fn new(data: &'a [u8]) -> Self {
        let is_separator: fn(&u8) -> bool = |byte| *byte == SEPARATOR;
        Self {
            parts: data.split(is_separator),
        }
    }

    /// The next field's bytes, empty once they run out.
    pub(crate) fn bytes(&mut self) -> &'a [u8] {
        self.parts.next().unwrap_or_default()
    }

    /// The next field as text, invalid UTF-8 replaced.
    pub(crate) fn text(&mut self) -> Cow<'a, str> {
        String::from_utf8_lossy(self.bytes())
    }

    /// Whether another field follows.
    pub(crate) fn has_more(&self) -> bool {
        self.parts.clone().next().is_some()
    }
}
