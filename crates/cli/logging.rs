//! The process's log: tracing to stderr, as text (the default) or as JSON lines.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::JsonFields;

use crate::log_json::SdkJson;

/// `--log-format`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Deserialize,
    serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Human-readable lines, as tracing writes them.
    #[default]
    Text,
    /// One JSON object per line, in the shape of the AgentCore SDK's formatter.
    Json,
}

/// Installs the process's logger: `filter` (tracing's directive syntax) chooses what is
/// written, `format` how.
pub(crate) fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => builder
            .event_format(SdkJson)
            .fmt_fields(JsonFields::new())
            .init(),
    }
}
