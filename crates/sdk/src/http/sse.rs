//! Server-sent events: the parser (pure, fed chunks as they arrive) and the iterator over a
//! response's events.
//!
//! The parser follows the WHATWG "event stream interpretation": lines end at `\n`, `\r\n` or
//! `\r` (also when a chunk boundary splits them), `data:` lines join with `\n`, `:` starts a
//! comment, one space after the colon is stripped, a blank line dispatches the event, an event
//! without data is not dispatched, and an event the stream ends in the middle of is dropped.

use std::collections::VecDeque;

use super::{Chunks, HttpError};

/// One server-sent event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` name, if the event had one (a browser would call it `message`).
    pub event: Option<String>,
    /// The `data:` lines of the event, joined with `\n`.
    pub data: String,
    /// The last `id:` the stream sent, up to and including this event (the spec's
    /// `lastEventId`: an id carries over to later events until a new `id:` replaces it).
    pub id: Option<String>,
}

/// An iterator over the server-sent events of a response body, each yielded as soon as its
/// blank line arrives; made by [`Response::events`](super::Response::events).
///
/// It ends at the end of the body; an error reading the body is its last item.
#[derive(Debug)]
pub struct Events {
    chunks: Chunks,
    parser: SseParser,
    ready: VecDeque<SseEvent>,
}

impl Events {
    pub(crate) fn new(chunks: Chunks) -> Self {
        Self {
            chunks,
            parser: SseParser::default(),
            ready: VecDeque::new(),
        }
    }
}

impl Iterator for Events {
    type Item = Result<SseEvent, HttpError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(Ok(event));
            }
            match self.chunks.next()? {
                Ok(chunk) => self.parser.push(&chunk, &mut self.ready),
                Err(error) => return Some(Err(error)),
            }
        }
    }
}

/// The state of an event stream between chunks.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    /// The bytes of a line whose end has not arrived yet.
    line: Vec<u8>,
    /// The last chunk ended in `\r`: a `\n` starting the next one belongs to that line end.
    after_cr: bool,
    /// A line has been read, so a byte-order mark is no longer to be skipped.
    past_first_line: bool,
    event: String,
    data: String,
    has_data: bool,
    last_id: String,
}

impl SseParser {
    /// Parses `chunk`, appending every event it completes to `out`.
    pub(crate) fn push(&mut self, mut chunk: &[u8], out: &mut VecDeque<SseEvent>) {
        if self.after_cr && !chunk.is_empty() {
            self.after_cr = false;
            chunk = chunk.strip_prefix(b"\n").unwrap_or(chunk);
        }
        while let Some(end) = chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&chunk[..end]);
            let line = std::mem::take(&mut self.line);
            let line = String::from_utf8_lossy(&line);
            let line = if std::mem::replace(&mut self.past_first_line, true) {
                &line
            } else {
                line.strip_prefix('\u{feff}').unwrap_or(&line)
            };
            if let Some(event) = self.take_line(line) {
                out.push_back(event);
            }
            let crlf = chunk[end] == b'\r' && chunk.get(end + 1) == Some(&b'\n');
            if chunk[end] == b'\r' && end + 1 == chunk.len() {
                self.after_cr = true;
            }
            chunk = &chunk[end + if crlf { 2 } else { 1 }..];
        }
        self.line.extend_from_slice(chunk);
    }

    /// Interprets one complete line; a blank one may complete an event.
    fn take_line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        if line.starts_with(':') {
            return None;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => value.clone_into(&mut self.event),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "id" if !value.contains('\0') => value.clone_into(&mut self.last_id),
            // `retry` tells a browser when to reconnect; a handler does its own retrying.
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = std::mem::take(&mut self.event);
        if !std::mem::take(&mut self.has_data) {
            return None;
        }
        let non_empty = |text: &str| (!text.is_empty()).then(|| text.to_owned());
        Some(SseEvent {
            event: non_empty(&event),
            data: std::mem::take(&mut self.data),
            id: non_empty(&self.last_id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut parser = SseParser::default();
        let mut out = VecDeque::new();
        for chunk in chunks {
            parser.push(chunk, &mut out);
        }
        out.into()
    }

    fn data(text: &str) -> SseEvent {
        SseEvent {
            data: text.to_owned(),
            ..SseEvent::default()
        }
    }

    /// Every split of a stream into two chunks gives the events the whole stream gives.
    #[test]
    fn chunk_boundaries_do_not_matter() {
        let stream = b"\xef\xbb\xbfevent: delta\r\nid: 7\r\ndata: {\"a\":1}\r\n\r\n: keep-alive\n\ndata:x\rdata: y\r\rdata: \xc3\xa9t\xc3\xa9\n\n";
        let expected = vec![
            SseEvent {
                event: Some("delta".to_owned()),
                data: "{\"a\":1}".to_owned(),
                id: Some("7".to_owned()),
            },
            SseEvent {
                id: Some("7".to_owned()),
                ..data("x\ny")
            },
            SseEvent {
                id: Some("7".to_owned()),
                ..data("été")
            },
        ];
        assert_eq!(parse(&[stream]), expected);
        for split in 0..=stream.len() {
            let (a, b) = stream.split_at(split);
            assert_eq!(parse(&[a, b]), expected, "split at {split}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(parse(&bytes), expected);
    }

    /// A CR at the end of one chunk and an LF at the start of the next are one line end.
    #[test]
    fn crlf_split_across_chunks_is_one_line_end() {
        assert_eq!(
            parse(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]),
            vec![data("a\nb")]
        );
        // Were the LF a second line end, the event would dispatch early, as "a" alone.
        assert_eq!(
            parse(&[b"data: a\r", b"\n", b"data: b\n\n"]),
            vec![data("a\nb")]
        );
    }

    /// Only one space after the colon goes; a line without a colon is a field with no value.
    #[test]
    fn field_values() {
        assert_eq!(
            parse(&[b"data:  two spaces\n\n"]),
            vec![data(" two spaces")]
        );
        assert_eq!(parse(&[b"data\ndata\n\n"]), vec![data("\n")]);
        assert_eq!(parse(&[b"data:\n\n"]), vec![data("")]);
        assert_eq!(
            parse(&[b"retry: 10\nunknown: x\ndata: ok\n\n"]),
            vec![data("ok")]
        );
    }

    /// Comments, data-less events and an unterminated last event dispatch nothing.
    #[test]
    fn nothing_without_data_and_a_blank_line() {
        assert!(parse(&[b": comment\n\n"]).is_empty());
        assert!(parse(&[b"event: ping\n\n"]).is_empty());
        assert!(parse(&[b"data: cut off"]).is_empty());
        // The name of a data-less event does not leak into the next one.
        assert_eq!(parse(&[b"event: ping\n\ndata: x\n\n"]), vec![data("x")]);
    }

    /// An id carries over until replaced; an empty `id:` clears it.
    #[test]
    fn last_event_id() {
        let events = parse(&[b"id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n"]);
        let ids: Vec<_> = events.iter().map(|e| e.id.as_deref()).collect();
        assert_eq!(ids, [Some("1"), Some("1"), None]);
    }

    /// OpenAI's stream parses to one event per chunk, ending with `[DONE]`.
    #[test]
    fn openai_style_stream() {
        let events = parse(&[
            b"data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: {\"choices\":[{\"del",
            b"ta\":{\"content\":\"lo\"}}]}\n\ndata: [DONE]\n\n",
        ]);
        let last = events.last().map(|e| e.data.as_str());
        assert_eq!(events.len(), 3);
        assert_eq!(last, Some("[DONE]"));
    }
}
