//! An SSE reader written from the WHATWG event-stream rules, to read back what the writer wrote.

/// One event as a client dispatches it.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Event {
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last `event:` field, if any.
    pub name: Option<String>,
    /// The last `id:` field, if any.
    pub id: Option<String>,
}

/// The events in `stream`, as a browser's `EventSource` reads them (an event is dispatched at
/// a blank line when it has data; a stream cut off mid-event dispatches nothing more).
pub(crate) fn parse(stream: &str) -> Vec<Event> {
    let mut events = Vec::new();
    let mut data = String::new();
    let mut name = None;
    let mut id = None;
    for line in lines(stream) {
        if line.is_empty() {
            if !data.is_empty() {
                data.pop();
                events.push(Event {
                    data: std::mem::take(&mut data),
                    name: name.take(),
                    id: id.clone(),
                });
            }
            name = None;
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "data" => {
                data.push_str(value);
                data.push('\n');
            }
            "event" => name = Some(value.to_owned()),
            "id" if !value.contains('\0') => id = Some(value.to_owned()),
            _ => {}
        }
    }
    events
}

/// The complete lines of `stream`, each ended by CRLF, CR or LF; a last line without an end is
/// not yet a line.
fn lines(stream: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = stream;
    while let Some(end) = rest.find(['\r', '\n']) {
        lines.push(&rest[..end]);
        let skip = if rest[end..].starts_with("\r\n") {
            2
        } else {
            1
        };
        rest = &rest[end + skip..];
    }
    lines
}

/// `text` with each line ending (CRLF, CR, LF) made LF: what an SSE client gives back for data
/// written over several `data:` lines.
pub(crate) fn normalize_line_ends(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reader follows the WHATWG examples: joined data lines, one space stripped, CRLF.
    #[test]
    fn reads_the_standard_examples() {
        let events = parse("data: a\r\ndata:b\n\nevent: e\nid: 7\ndata:  c\r\rdata: cut");
        assert_eq!(
            events,
            vec![
                Event {
                    data: "a\nb".into(),
                    name: None,
                    id: None,
                },
                Event {
                    data: " c".into(),
                    name: Some("e".into()),
                    id: Some("7".into()),
                },
            ]
        );
    }
}
