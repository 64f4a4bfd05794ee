//! `--log-format json`: one JSON object per line, in the shape of the AgentCore SDK's
//! `RequestContextFormatter`, so a pipeline built for Python agents reads ours unchanged:
//! `timestamp` (UTC, milliseconds), `level` (Python's names), `message`, `logger`, then
//! `requestId` and `sessionId` when the line belongs to an invocation, `errorType` and
//! `errorMessage` when it reports a failure, and the line's other fields in camelCase.

use std::fmt;
use std::time::SystemTime;

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The event formatter. Span fields (the host's `invocation` span carries the request and
/// session ids) are read from their JSON rendering, so the subscriber must format span fields
/// with `tracing_subscriber::fmt::format::JsonFields`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SdkJson;

impl<S, N> FormatEvent<S, N> for SdkJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        // Outer spans first, so the innermost span's fields and then the event's own win.
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                if let Some(formatted) = extensions.get::<FormattedFields<N>>()
                    && let Ok(Value::Object(map)) = serde_json::from_str(&formatted.fields)
                {
                    for (name, value) in map {
                        fields.insert(&name, value);
                    }
                }
            }
        }
        event.record(&mut fields);
        let metadata = event.metadata();
        let line = fields.into_line(metadata.level(), metadata.target());
        writeln!(writer, "{line}")
    }
}

/// Python's level names, which the SDK's lines carry.
fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        Level::DEBUG => "DEBUG",
        Level::TRACE => "TRACE",
    }
}

/// A line's fields in the order they were first seen; a later value for a name replaces the
/// earlier one in place.
#[derive(Debug, Default)]
struct Fields {
    message: Option<String>,
    pairs: Vec<(String, Value)>,
}

impl Fields {
    fn insert(&mut self, name: &str, value: Value) {
        // The host's span writes an empty session id for an invocation without one.
        if name == "session_id" && value.as_str() == Some("") {
            return;
        }
        if name == "message" {
            self.message = Some(match value {
                Value::String(text) => text,
                other => other.to_string(),
            });
            return;
        }
        let key = json_key(name);
        match self.pairs.iter_mut().find(|(existing, _)| *existing == key) {
            Some((_, slot)) => *slot = value,
            None => self.pairs.push((key, value)),
        }
    }

    /// The line, with the SDK's keys first in the SDK's order.
    fn into_line(mut self, level: &Level, target: &str) -> String {
        let timestamp = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        let mut line = String::with_capacity(256);
        line.push('{');
        push_pair(&mut line, "timestamp", &Value::String(timestamp));
        push_pair(&mut line, "level", &Value::String(level_name(level).into()));
        let message = self.message.take().unwrap_or_default();
        push_pair(&mut line, "message", &Value::String(message));
        push_pair(
            &mut line,
            "logger",
            &Value::String(target.replace("::", ".")),
        );
        for key in ["requestId", "sessionId", "errorType", "errorMessage"] {
            if let Some(index) = self.pairs.iter().position(|(name, _)| name == key) {
                let (name, value) = self.pairs.remove(index);
                push_pair(&mut line, &name, &value);
            }
        }
        for (name, value) in &self.pairs {
            push_pair(&mut line, name, value);
        }
        line.push('}');
        line
    }
}

fn push_pair(line: &mut String, name: &str, value: &Value) {
    if !line.ends_with('{') {
        line.push(',');
    }
    // Serialising a string or a `Value` cannot fail.
    line.push_str(&serde_json::to_string(name).unwrap_or_default());
    line.push(':');
    line.push_str(&serde_json::to_string(value).unwrap_or_default());
}

/// The JSON key of a tracing field: the SDK's names for the ids and the failure, camelCase for
/// the rest (`duration_ms` → `durationMs`).
fn json_key(name: &str) -> String {
    match name {
        "error" => return "errorMessage".into(),
        "kind" => return "errorType".into(),
        _ => {}
    }
    let mut key = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = !key.is_empty();
        } else if upper {
            key.extend(c.to_uppercase());
            upper = false;
        } else {
            key.push(c);
        }
    }
    key
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.insert(field.name(), Value::String(value.to_owned()));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.insert(field.name(), Value::Bool(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.insert(field.name(), Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.insert(field.name(), Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.insert(field.name(), Value::from(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        // Durations are written through `Display` as milliseconds with three decimals, which
        // reads well as text; as JSON they are numbers, so a query can compare them.
        if field.name().ends_with("_ms")
            && let Ok(number) = text.parse::<f64>()
            && let Some(number) = serde_json::Number::from_f64(number)
        {
            self.insert(field.name(), Value::Number(number));
            return;
        }
        self.insert(field.name(), Value::String(text));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::fmt::format::JsonFields;

    use super::*;

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    /// The lines written while `log` runs, as text.
    fn text_of(log: impl FnOnce()) -> String {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .event_format(SdkJson)
            .fmt_fields(JsonFields::new())
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
    }

    /// The lines written while `log` runs, each a JSON object.
    fn lines_of(log: impl FnOnce()) -> Vec<serde_json::Map<String, Value>> {
        text_of(log)
            .lines()
            .map(|line| match serde_json::from_str(line) {
                Ok(Value::Object(map)) => map,
                other => panic!("not a JSON object: {line}: {other:?}"),
            })
            .collect()
    }

    /// A line in an invocation's span carries the SDK's keys, in its order, with the span's
    /// ids and the event's failure under the SDK's names and the rest in camelCase.
    #[test]
    fn lines_have_the_sdks_shape() {
        let log = || {
            let span = tracing::info_span!("invocation", request_id = "r-1", session_id = "s-1");
            let _entered = span.enter();
            tracing::warn!(
                target: "wasm_agent_server::invocation_log",
                kind = "Timeout",
                error = "the handler ran past 1s",
                duration_ms = %"12.500",
                events = 3u64,
                "invocation ended"
            );
        };
        let text = text_of(log);
        let order: Vec<usize> = ["timestamp", "level", "message", "logger", "requestId"]
            .iter()
            .map(|key| text.find(&format!("\"{key}\":")).expect(key))
            .collect();
        assert!(
            order.is_sorted(),
            "the SDK's keys come first, in its order: {text}"
        );
        let lines = lines_of(log);
        let [line] = lines.as_slice() else {
            panic!("{lines:?}")
        };
        assert_eq!(line["level"], "WARNING");
        assert_eq!(line["message"], "invocation ended");
        assert_eq!(line["logger"], "wasm_agent_server.invocation_log");
        assert_eq!(line["requestId"], "r-1");
        assert_eq!(line["sessionId"], "s-1");
        assert_eq!(line["errorType"], "Timeout");
        assert_eq!(line["errorMessage"], "the handler ran past 1s");
        assert_eq!(line["durationMs"], 12.5);
        assert_eq!(line["events"], 3);
        let timestamp = line["timestamp"].as_str().unwrap();
        assert!(
            timestamp.len() == 24 && timestamp.ends_with('Z') && timestamp.as_bytes()[19] == b'.',
            "{timestamp}"
        );
    }

    /// An event's own request id wins over its span's, and an empty session id is left out.
    #[test]
    fn event_fields_win_and_empty_sessions_are_omitted() {
        let lines = lines_of(|| {
            let span = tracing::info_span!("invocation", request_id = "outer", session_id = "");
            let _entered = span.enter();
            tracing::info!(target: "guest", request_id = "inner", stream = "stdout", "hello");
        });
        let line = &lines[0];
        assert_eq!(line["requestId"], "inner");
        assert!(!line.contains_key("sessionId"), "{line:?}");
        assert_eq!(line["logger"], "guest");
        assert_eq!(line["stream"], "stdout");
        assert_eq!(line["message"], "hello");
    }

    #[test]
    fn keys_are_camel_case() {
        assert_eq!(json_key("peak_memory_bytes"), "peakMemoryBytes");
        assert_eq!(json_key("status"), "status");
        assert_eq!(json_key("_private"), "private");
    }
}
