//! Reading the config file: its settings, the line each key is on, and errors that name the
//! key and the line at fault.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::DeTable;

use super::schema::SettingsFile;

/// A value longer than this is left out of an error message, which names its key instead.
const QUOTED_VALUE: usize = 60;

/// A config file, read and checked.
#[derive(Debug)]
pub(super) struct ConfigFile {
    /// Where it was read from, as the operator named it.
    pub(super) path: PathBuf,
    /// Its settings, with relative paths made relative to its directory.
    pub(super) settings: SettingsFile,
    /// The line (from 1) of each key it sets.
    pub(super) lines: BTreeMap<String, usize>,
}

/// A key's place in the text: the spans of the key and of its value.
struct Entry {
    key: String,
    key_span: Range<usize>,
    value_span: Range<usize>,
}

/// Reads and checks the file at `path`. An error is one line that names the file, the line
/// and the key (or, for TOML that does not parse, the column).
pub(super) fn read(path: &Path) -> Result<ConfigFile, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the config file {}: {e}", path.display()))?;
    let located = |error: &toml::de::Error, entries: &[Entry]| {
        let (place, message) = locate(&text, error, entries);
        format!("{}, {place}: {message}", path.display())
    };
    let table = DeTable::parse(&text).map_err(|error| located(&error, &[]))?;
    let entries: Vec<Entry> = table
        .get_ref()
        .iter()
        .map(|(key, value)| Entry {
            key: key.get_ref().to_string(),
            key_span: key.span(),
            value_span: value.span(),
        })
        .collect();
    let mut settings: SettingsFile =
        toml::from_str(&text).map_err(|error| located(&error, &entries))?;
    // Paths in the file are the file's: it may be read from anywhere.
    if let Some(directory) = path.parent() {
        let rebase = |file: &mut PathBuf| *file = directory.join(&*file);
        settings.handler.iter_mut().for_each(rebase);
        settings.cache_dir.iter_mut().for_each(rebase);
        settings.outbound_ca.iter_mut().flatten().for_each(rebase);
    }
    let lines = entries
        .iter()
        .map(|entry| (entry.key.clone(), line_of(&text, entry.key_span.start)))
        .collect();
    Ok(ConfigFile {
        path: path.to_owned(),
        settings,
        lines,
    })
}

/// Where `error` is (`line 3`) and what it says, naming the key whose key or value it is in.
fn locate(text: &str, error: &toml::de::Error, entries: &[Entry]) -> (String, String) {
    let message = error.message();
    let Some(span) = error.span() else {
        return ("line 1".into(), message.to_owned());
    };
    let line = line_of(text, span.start);
    let entry = entries.iter().find(|entry| {
        entry.key_span.contains(&span.start)
            || entry.value_span.contains(&span.start)
            || entry.value_span.start == span.start
    });
    let Some(entry) = entry else {
        let column = span.start - text[..span.start].rfind('\n').map_or(0, |at| at + 1) + 1;
        return (format!("line {line}, column {column}"), message.to_owned());
    };
    let key = &entry.key;
    if message.starts_with("unknown field") {
        return (
            format!("line {line}"),
            format!(
                "unknown key `{key}` (the keys are the long flags of `wasm-agent serve`, \
                 without the dashes: see its --help)"
            ),
        );
    }
    let value = &text[entry.value_span.clone()];
    // A guest's environment is where a secret pasted by mistake would be: never echoed.
    let setting = if key != "env" && value.len() <= QUOTED_VALUE && !value.contains('\n') {
        format!("{key} = {value}")
    } else {
        key.clone()
    };
    (format!("line {line}"), format!("{setting}: {message}"))
}

/// The line, from 1, that byte `offset` of `text` is on.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file `text`, written to a fresh directory, read.
    fn read_text(name: &str, text: &str) -> Result<ConfigFile, String> {
        let directory =
            std::env::temp_dir().join(format!("wasm-agent-settings-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&directory).map_err(|e| e.to_string())?;
        let path = directory.join("wasm-agent.toml");
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
        let read = read(&path);
        let _ = std::fs::remove_dir_all(&directory);
        read
    }

    /// Values are read with the flags' parsers; sizes may be integers; each key's line is kept.
    #[test]
    fn reads_values_and_lines() -> Result<(), String> {
        let file = read_text(
            "values",
            "# a comment\ntimeout = \"30s\"\nmax-memory = 67108864\nmax-payload = \"1MiB\"\n\
             allow-outbound = [\"https://api.example.com\"]\nenv = [\"MODEL=m\"]\n",
        )?;
        let settings = &file.settings;
        assert_eq!(settings.timeout, Some(std::time::Duration::from_secs(30)));
        assert_eq!(settings.max_memory, Some(64 << 20));
        assert_eq!(settings.max_payload, Some(1 << 20));
        assert_eq!(
            settings.allow_outbound.as_deref(),
            Some(&["https://api.example.com".to_owned()][..])
        );
        assert_eq!(
            settings.env.as_deref(),
            Some(&[("MODEL".to_owned(), "m".to_owned())][..])
        );
        assert_eq!(file.lines.get("timeout"), Some(&2));
        assert_eq!(file.lines.get("env"), Some(&6));
        Ok(())
    }

    /// Relative paths are the file's directory's; absolute ones stay.
    #[test]
    fn paths_are_relative_to_the_file() -> Result<(), String> {
        let file = read_text(
            "paths",
            "handler = \"agent.wasm\"\noutbound-ca = [\"/etc/ca.pem\", \"ca.pem\"]\n",
        )?;
        let directory = file.path.parent().ok_or("no directory")?;
        assert_eq!(file.settings.handler, Some(directory.join("agent.wasm")));
        assert_eq!(
            file.settings.outbound_ca,
            Some(vec![PathBuf::from("/etc/ca.pem"), directory.join("ca.pem")])
        );
        Ok(())
    }

    /// Unknown keys, bad values, wrong types and broken TOML name the line, and the key where
    /// there is one.
    #[test]
    fn errors_name_the_key_and_line() {
        for (text, says) in [
            (
                "port = 80\n\ntimout = \"1s\"\n",
                "wasm-agent.toml, line 3: unknown key `timout`",
            ),
            (
                "port = 80\ntimeout = \"soon\"\n",
                "wasm-agent.toml, line 2: timeout = \"soon\": expected number",
            ),
            ("max-memory = \"lots\"\n", "line 1: max-memory = \"lots\": "),
            ("port = -1\n", "line 1: port = -1: invalid value"),
            ("timeout = 30\n", "line 1: timeout = 30: expected a string"),
            (
                "max-async-tasks = 0\n",
                "max-async-tasks = 0: must be at least 1",
            ),
            (
                "env = [\"NOEQUALS\"]\n",
                "line 1: env: a grant is not NAME=VALUE",
            ),
            (
                "instance-scope = \"pod\"\n",
                "instance-scope = \"pod\": unknown variant",
            ),
            (
                "\n[outbound]\nallow = []\n",
                "line 2: unknown key `outbound`",
            ),
            ("port = \n", "line 1, column 8: "),
        ] {
            let error = read_text("errors", text).err().unwrap_or_default();
            assert!(error.contains(says), "{text:?}: {error}");
            assert!(!error.contains('\n'), "{text:?}: one line: {error}");
        }
        // A grant's text may be a secret pasted by mistake: never repeated.
        let error = read_text("errors", "env = [\"sk-live-123\"]\n")
            .err()
            .unwrap_or_default();
        assert!(!error.contains("sk-live-123"), "{error}");
    }
}
