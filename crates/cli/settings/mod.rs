//! `serve`'s settings in layers: a flag, else its `WASM_AGENT_*` variable, else the config
//! file's key, else the default. clap gives the first two and the defaults (the libraries'
//! constants), and tells a default from a value an operator gave (`ArgMatches::value_source`);
//! the file slides in between.
//!
//! - `file`: reading the config file, and errors that name the key and the line;
//! - `schema`: [`SettingsFile`](schema::SettingsFile), every key, and how each layers under the
//!   flags;
//! - `values`: the file's values read with the flags' parsers and written back in their units;
//! - this module: [`ServeSettings`], the layers resolved, naming each setting by where it came
//!   from, and printing them for `--print-config`.

mod file;
mod schema;
mod values;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::anyhow;
use clap::ArgMatches;
use clap::parser::ValueSource;

use self::schema::SettingsFile;
use crate::failure::Failure;
use crate::serve_args::ServeArgs;

/// What a masked value prints as.
const MASK: &str = "***";
/// Parts of a variable's name that say its value is a secret.
const SECRET_NAMES: [&str; 9] = [
    "KEY",
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PWD",
    "CREDENTIAL",
    "AUTH",
    "PRIVATE",
];

/// `serve`'s settings, every layer applied, and where each came from.
#[derive(Debug)]
pub(crate) struct ServeSettings {
    /// The settings in effect.
    pub(crate) args: ServeArgs,
    /// Which were given by a flag or a variable.
    matches: ArgMatches,
    /// The config file's path and the line of each key it set, if there was a file.
    file: Option<(PathBuf, BTreeMap<String, usize>)>,
}

/// Puts the config file `args.config` names, if any, beneath the flags and variables of
/// `args`, which clap parsed into `matches`.
pub(crate) fn resolve(mut args: ServeArgs, matches: &ArgMatches) -> Result<ServeSettings, Failure> {
    let file = match &args.config {
        Some(path) => Some(file::read(path).map_err(|error| Failure::usage(anyhow!(error)))?),
        None => None,
    };
    let file = file.map(|file| {
        file.settings.apply_under(&mut args, matches);
        (file.path, file.lines)
    });
    Ok(ServeSettings {
        args,
        matches: matches.clone(),
        file,
    })
}

impl ServeSettings {
    /// The setting `key` (`max-memory`) named for an error as the operator gave it: its flag
    /// (also for a default, which a flag changes), its variable, or its key and line in the
    /// config file.
    pub(crate) fn name(&self, key: &str) -> String {
        match self.matches.value_source(&key.replace('-', "_")) {
            Some(ValueSource::CommandLine) => format!("--{key}"),
            Some(ValueSource::EnvVariable) => variable(key),
            _ => match &self.file {
                Some((path, lines)) if lines.contains_key(key) => {
                    format!("{key} ({}, line {})", path.display(), lines[key])
                }
                _ => format!("--{key}"),
            },
        }
    }

    /// The settings in effect as a config file, for `--print-config`: those without a
    /// default that are not set are named in a comment, and secrets are masked (see
    /// [`is_secret`]).
    pub(crate) fn to_toml(&self) -> Result<String, toml::ser::Error> {
        let mut settings = SettingsFile::from_args(&self.args);
        if let Some(grants) = &mut settings.env {
            grants
                .iter_mut()
                .filter(|(name, value)| is_secret(name, value))
                .for_each(|(_, value)| *value = MASK.to_owned());
        }
        let source = match &self.file {
            Some((path, _)) => format!("over {} ", path.display()),
            None => String::new(),
        };
        let set = toml::Table::try_from(&settings)?;
        let unset: Vec<String> = schema::IDS
            .iter()
            .map(|id| id.replace('_', "-"))
            .filter(|key| !set.contains_key(key))
            .collect();
        let mut text = format!(
            "# wasm-agent serve: flags over WASM_AGENT_* variables {source}over defaults.\n"
        );
        if !unset.is_empty() {
            text.push_str(&format!("# Not set: {}.\n", unset.join(", ")));
        }
        text.push_str(&toml::to_string(&settings)?);
        Ok(text)
    }
}

/// The variable of the setting `key`: `WASM_AGENT_` and the key in capitals, `-` as `_`.
fn variable(key: &str) -> String {
    format!("WASM_AGENT_{}", key.to_ascii_uppercase().replace('-', "_"))
}

/// Whether a guest's variable holds a secret: its name says so, or its value is a URL with a
/// password in it.
fn is_secret(name: &str, value: &str) -> bool {
    let name = name.to_ascii_uppercase();
    let secret_name = SECRET_NAMES.iter().any(|part| name.contains(part));
    let authority = value
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or_default());
    secret_name || authority.is_some_and(|authority| authority.contains('@'))
}

/// The settings `argv` (`wasm-agent serve ...`) gives, as `main` resolves them.
#[cfg(test)]
pub(crate) fn from_argv(argv: &[&str]) -> Result<ServeSettings, String> {
    use clap::{CommandFactory as _, FromArgMatches as _};

    use crate::args::{Cli, Command};

    let matches = Cli::command()
        .try_get_matches_from(argv)
        .map_err(|e| e.to_string())?;
    let Command::Serve(args) = Cli::from_arg_matches(&matches)
        .map_err(|e| e.to_string())?
        .command
    else {
        return Err("not serve".into());
    };
    let serve = matches.subcommand_matches("serve").ok_or("no serve")?;
    resolve(*args, serve).map_err(|failure| failure.to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;
    use std::time::Duration;

    use clap::CommandFactory as _;

    use super::*;
    use crate::args::Cli;

    /// Writes `text` as `wasm-agent.toml` in a fresh directory named for `test`.
    fn config_file(test: &str, text: &str) -> Result<PathBuf, String> {
        let directory =
            std::env::temp_dir().join(format!("wasm-agent-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&directory).map_err(|e| e.to_string())?;
        let path = directory.join("wasm-agent.toml");
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
        Ok(path)
    }

    fn serve_with(path: &Path, flags: &[&str]) -> Result<ServeSettings, String> {
        let path = path.to_str().ok_or("not UTF-8")?;
        let mut argv = vec!["wasm-agent", "serve", "--config", path];
        argv.extend_from_slice(flags);
        from_argv(&argv)
    }

    /// Every flag of `serve` is a key of the file and the other way round, and each flag's
    /// long name and variable follow from its key.
    #[test]
    fn flags_variables_and_keys_are_one_rule() {
        let command = Cli::command();
        let serve = command
            .find_subcommand("serve")
            .expect("serve is a command");
        let mut ids = BTreeSet::new();
        for arg in serve.get_arguments() {
            let id = arg.get_id().as_str();
            if ["help", "version", "config", "print_config"].contains(&id) {
                continue;
            }
            ids.insert(id);
            let key = id.replace('_', "-");
            if !arg.is_positional() {
                assert_eq!(arg.get_long(), Some(key.as_str()), "{id}");
            }
            // `--env` has no variable: a grant's value may hold the commas that would split it.
            if id != "env" {
                let env = arg.get_env().and_then(|env| env.to_str());
                assert_eq!(env, Some(variable(&key).as_str()), "{id}");
            }
        }
        assert_eq!(ids, schema::IDS.iter().copied().collect());
    }

    /// A flag wins over the file, the file over the default; a flag's list replaces the file's;
    /// each setting is named as it was given.
    #[test]
    fn the_file_lies_beneath_the_flags() -> Result<(), String> {
        let path = config_file(
            "beneath",
            "timeout = \"30s\"\nmax-queue = 7\nallow-outbound = [\"https://a.example\"]\n\
             env-inherit = [\"MODEL_ID\"]\ndebug = true\n",
        )?;
        let settings = serve_with(
            &path,
            &["--max-queue", "9", "--allow-outbound", "https://b.example"],
        )?;
        let args = &settings.args;
        assert_eq!(args.limits.timeout, Duration::from_secs(30));
        assert_eq!(args.max_queue, 9);
        assert_eq!(args.limits.outbound.allow_outbound, ["https://b.example"]);
        assert_eq!(args.limits.outbound.env_inherit, ["MODEL_ID"]);
        assert!(args.debug);
        assert_eq!(args.port, crate::serve_args::DEFAULT_PORT);
        assert_eq!(settings.name("max-queue"), "--max-queue");
        assert_eq!(
            settings.name("timeout"),
            format!("timeout ({}, line 1)", path.display())
        );
        assert_eq!(settings.name("port"), "--port");
        Ok(())
    }

    /// Every key, set in a file to something other than its default, reaches the field its
    /// flag sets, and is printed back as it was read.
    #[test]
    fn every_key_reaches_its_flag() -> Result<(), String> {
        let path = config_file(
            "every-key",
            r#"
            handler = "agent.wasm"
            host = "0.0.0.0"
            port = 9000
            metrics-addr = "127.0.0.1:9090"
            log = "debug"
            log-format = "json"
            debug = true
            watch = true
            timeout = "30s"
            stream-timeout = "2h"
            fuel = 5000
            max-memory = "64MiB"
            max-total-memory = 17179869184
            max-payload = "1MB"
            max-result-size = "1MiB"
            max-event-size = "64KiB"
            max-async-tasks = 5
            workers = 3
            control-threads = 2
            max-concurrency = 17
            max-queue = 18
            shutdown-grace = "3s"
            cancel-grace = "1s"
            instance-scope = "request"
            max-sessions = 19
            session-idle-timeout = "1m"
            session-max-lifetime = "1h"
            session-queue = 4
            max-background = 5
            task-timeout = "2h"
            max-websockets = 6
            header-timeout = "5s"
            body-timeout = "6s"
            body-min-rate = "1KiB"
            keep-alive-timeout = "7s"
            max-connections = 100
            allow-outbound = ["https://api.example.com"]
            outbound-auth = ["https://api.example.com=bearer-env:API_TOKEN"]
            outbound-ca = ["ca.pem"]
            outbound-connect-timeout = "3s"
            outbound-first-byte-timeout = "4m"
            outbound-between-bytes-timeout = "5m"
            outbound-max-response = "1MiB"
            outbound-max-requests = 7
            outbound-max-in-flight = 8
            outbound-threads = 2
            env = ["MODEL_ID=m"]
            env-inherit = ["AWS_REGION"]
            cache-dir = "cache"
            no-cache = true
            "#,
        )?;
        let read = file::read(&path)?.settings;
        let settings = serve_with(&path, &[])?;
        assert_eq!(SettingsFile::from_args(&settings.args), read);
        let defaults = toml::Table::try_from(SettingsFile::from_args(
            &from_argv(&["wasm-agent", "serve"])?.args,
        ))
        .map_err(|e| e.to_string())?;
        let file = toml::Table::try_from(&read).map_err(|e| e.to_string())?;
        assert_eq!(file.len(), schema::IDS.len(), "the file sets every key");
        for (key, value) in &file {
            assert_ne!(defaults.get(key), Some(value), "{key} is its default");
        }
        Ok(())
    }

    /// What `--print-config` prints is a config file that gives the same settings.
    #[test]
    fn printed_settings_read_back() -> Result<(), String> {
        let printed = from_argv(&["wasm-agent", "serve", "--timeout", "1m", "--fuel", "9"])?
            .to_toml()
            .map_err(|e| e.to_string())?;
        assert!(printed.contains("timeout = \"1m\"\n"), "{printed}");
        assert!(
            printed.contains("# Not set: handler, metrics-addr,"),
            "{printed}"
        );
        let path = config_file("printed", &printed)?;
        let reprinted = serve_with(&path, &[])?
            .to_toml()
            .map_err(|e| e.to_string())?;
        let body = |text: &str| text.lines().skip(1).collect::<Vec<_>>().join("\n");
        assert_eq!(body(&reprinted), body(&printed));
        Ok(())
    }

    /// Guest variables whose names or URLs say they are secret print masked; others as given.
    #[test]
    fn secrets_are_masked() -> Result<(), String> {
        let printed = from_argv(&[
            "wasm-agent",
            "serve",
            "--env",
            "OPENAI_Api_Key=sk-1",
            "--env",
            "DB_URL=postgres://app:hunter2@db/app",
            "--env",
            "MODEL_ID=gpt",
            "--env",
            "DOCS=https://example.com/a@b",
        ])?
        .to_toml()
        .map_err(|e| e.to_string())?;
        assert!(printed.contains("\"OPENAI_Api_Key=***\""), "{printed}");
        assert!(printed.contains("\"DB_URL=***\""), "{printed}");
        assert!(printed.contains("\"MODEL_ID=gpt\""), "{printed}");
        assert!(
            printed.contains("\"DOCS=https://example.com/a@b\""),
            "{printed}"
        );
        assert!(!printed.contains("sk-1") && !printed.contains("hunter2"));
        for name in [
            "GITHUB_TOKEN",
            "client_secret",
            "DB_PASSWORD",
            "AWS_CREDENTIALS",
        ] {
            assert!(is_secret(name, "x"), "{name}");
        }
        assert!(!is_secret("MODEL_ENDPOINT", "https://api.example.com/v1"));
        Ok(())
    }

    /// The complete example in docs/configuration.md sets or mentions every key, and reads.
    #[test]
    fn the_documented_example_is_complete() -> Result<(), String> {
        let doc = include_str!("../../../docs/configuration.md");
        let example = doc
            .split("```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .ok_or("no TOML example")?;
        let _: SettingsFile = toml::from_str(example).map_err(|e| e.to_string())?;
        for id in schema::IDS {
            let key = id.replace('_', "-");
            let mentioned = example.lines().any(|line| {
                let line = line.trim_start_matches(['#', ' ']);
                line.starts_with(&format!("{key} ="))
            });
            assert!(mentioned, "{key} is not in the example");
        }
        Ok(())
    }
}
