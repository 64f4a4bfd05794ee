//! `wasm-agent serve --config FILE`: the file's settings beneath variables and flags, its errors
//! naming the key and the line, `--print-config` with secrets masked, and a server configured
//! by the file alone.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::server::{Server, read_body, read_head, send};
use crate::support::{TestResult, binary, guest, run, scratch, stderr, stdout};

/// Writes `text` as `wasm-agent.toml` in a scratch directory named for `test`.
fn config_file(test: &str, text: &str) -> Result<PathBuf, std::io::Error> {
    let path = scratch(test)?.join("wasm-agent.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// `wasm-agent serve --print-config` with extra arguments, as `command` sets it up.
fn print_config(
    arguments: &[&str],
    command: impl FnOnce(&mut Command) -> &mut Command,
) -> Result<Output, Box<dyn std::error::Error>> {
    let mut serve = binary();
    serve.args(["serve", "--print-config"]).args(arguments);
    run(command(&mut serve))
}

/// The settings printed, after checking the command succeeded and printed nothing else.
fn printed(output: &Output) -> Result<String, String> {
    if output.status.success() {
        Ok(stdout(output))
    } else {
        Err(format!("{:?}: {}", output.status, stderr(output)))
    }
}

/// `GET path` on `address`: the status.
fn get(address: SocketAddr, path: &str) -> Result<u16, Box<dyn std::error::Error>> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    send(&mut stream, "GET", path, &[], b"")?;
    let mut reader = std::io::BufReader::new(stream);
    let head = read_head(&mut reader)?;
    read_body(&mut reader, &head)?;
    Ok(head.status)
}

/// Without a file or a handler, `--print-config` prints the defaults and exits 0.
#[test]
fn print_config_shows_the_defaults() -> TestResult {
    let output = print_config(&[], |command| command.env_remove("WASM_AGENT_TIMEOUT"))?;
    let settings = printed(&output)?;
    for line in [
        "timeout = \"15m\"",
        "port = 8080",
        "host = \"127.0.0.1\"",
        "max-memory = \"1GiB\"",
        "max-payload = \"100MB\"",
        "log-format = \"text\"",
        "allow-outbound = []",
    ] {
        assert!(settings.lines().any(|l| l == line), "{line}:\n{settings}");
    }
    assert!(!settings.contains("handler ="), "{settings}");
    Ok(())
}

/// The file overrides a default; a variable overrides the file; a flag overrides the variable;
/// a flag's list replaces the file's.
#[test]
fn flags_over_variables_over_the_file_over_defaults() -> TestResult {
    let path = config_file(
        "config-layers",
        "timeout = \"30s\"\nmax-queue = 7\nallow-outbound = [\"https://a.example.com\"]\n",
    )?;
    let config = path.to_str().ok_or("not UTF-8")?;
    let file = printed(&print_config(&["--config", config], |command| {
        command.env_remove("WASM_AGENT_TIMEOUT")
    })?)?;
    assert!(file.contains("\ntimeout = \"30s\"\n"), "{file}");
    assert!(file.contains("\nmax-queue = 7\n"), "{file}");
    assert!(
        file.contains("\nallow-outbound = [\"https://a.example.com\"]\n"),
        "{file}"
    );
    let variable = printed(&print_config(&["--config", config], |command| {
        command.env("WASM_AGENT_TIMEOUT", "40s")
    })?)?;
    assert!(variable.contains("\ntimeout = \"40s\"\n"), "{variable}");
    assert!(variable.contains("\nmax-queue = 7\n"), "{variable}");
    let flag = printed(&print_config(
        &[
            "--config",
            config,
            "--timeout",
            "50s",
            "--allow-outbound",
            "https://b.example.com",
        ],
        |command| command.env("WASM_AGENT_TIMEOUT", "40s"),
    )?)?;
    assert!(flag.contains("\ntimeout = \"50s\"\n"), "{flag}");
    assert!(
        flag.contains("\nallow-outbound = [\"https://b.example.com\"]\n"),
        "{flag}"
    );
    Ok(())
}

/// An unknown key and a value its flag would refuse stop `serve` with a usage error (64)
/// naming the key and the line; a setting out of range is named as the file's.
#[test]
fn file_errors_name_the_key_and_line() -> TestResult {
    for (test, text, says) in [
        (
            "config-unknown",
            "port = 0\n\ntimout = \"30s\"\n",
            "wasm-agent.toml, line 3: unknown key `timout`",
        ),
        (
            "config-bad-value",
            "port = 0\ntimeout = \"soon\"\n",
            "wasm-agent.toml, line 2: timeout = \"soon\": ",
        ),
        (
            "config-range",
            "port = 0\n# many\nmax-concurrency = 0\n",
            "wasm-agent.toml, line 3) must be 1 to",
        ),
    ] {
        let path = config_file(test, text)?;
        let output = run(binary()
            .arg("serve")
            .arg(guest("echo"))
            .arg("--config")
            .arg(&path))?;
        assert_eq!(
            output.status.code(),
            Some(64),
            "{test}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(says),
            "{test}: {}",
            stderr(&output)
        );
    }
    Ok(())
}

/// `--print-config` masks the value of a guest variable whose name looks secret, and shows a
/// plain one.
#[test]
fn print_config_masks_secret_grants() -> TestResult {
    let path = config_file(
        "config-masked",
        "env = [\"OPENAI_API_KEY=sk-not-for-print\", \"MODEL_ID=gpt-4o-mini\"]\n",
    )?;
    let config = path.to_str().ok_or("not UTF-8")?;
    let settings = printed(&print_config(
        &["--config", config, "--env", "DB_PASSWORD=hunter2"],
        |command| command,
    )?)?;
    assert!(
        settings.contains("env = [\"DB_PASSWORD=***\"]"),
        "the flag's list replaces the file's: {settings}"
    );
    let settings = printed(&print_config(&["--config", config], |command| command)?)?;
    assert!(
        settings.contains("env = [\"OPENAI_API_KEY=***\", \"MODEL_ID=gpt-4o-mini\"]"),
        "{settings}"
    );
    assert!(!settings.contains("sk-not-for-print"), "{settings}");
    Ok(())
}

/// A server started with only `--config` takes its handler and limits from the file.
#[test]
fn a_file_alone_configures_a_server() -> TestResult {
    let path = config_file(
        "config-serve",
        &format!(
            "handler = {:?}\nport = 0\nmax-payload = \"1KiB\"\n",
            guest("echo").display()
        ),
    )?;
    let server = serve_config(&path)?;
    assert_eq!(server.invoke(r#"{"small": true}"#)?.status, 200);
    let large = server.invoke(&format!("\"{}\"", "x".repeat(2000)))?;
    assert_eq!(large.status, 413, "{}", large.text());
    Ok(())
}

/// `metrics-addr` in the file serves `/metrics` on a listener of its own, announced before the
/// readiness line; the main port then answers it 404.
#[test]
fn metrics_addr_gets_a_listener_of_its_own() -> TestResult {
    let path = config_file(
        "config-metrics",
        &format!(
            "handler = {:?}\nport = 0\nmetrics-addr = \"127.0.0.1:0\"\n",
            guest("echo").display()
        ),
    )?;
    let server = serve_config(&path)?;
    let log = server.log();
    let metrics: SocketAddr = log
        .lines()
        .find_map(|line| line.strip_prefix("metrics on http://"))
        .ok_or_else(|| format!("no metrics line:\n{log}"))?
        .parse()?;
    assert!(
        log.find("metrics on") < log.find("listening on"),
        "the readiness line is last:\n{log}"
    );
    assert_eq!(get(server.address, "/metrics")?, 404);
    assert_eq!(get(metrics, "/metrics")?, 200);
    assert_eq!(get(server.address, "/ping")?, 200);
    Ok(())
}

/// `wasm-agent serve --config PATH`, nothing else.
fn serve_config(path: &Path) -> Result<Server, Box<dyn std::error::Error>> {
    let mut command = binary();
    command.arg("serve").arg("--config").arg(path);
    Server::spawn(command)
}
