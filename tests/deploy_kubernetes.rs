//! The Kubernetes manifest in deploy/: its settings are ones `serve` takes, its probes ask
//! `/ping` on the port the image serves, and the pod's termination grace covers the drain.
//! (No cluster runs here: what can be checked without one is.)

use std::path::Path;
use std::time::Duration;

use wasm_agent_host::config::STOP_GRACE;

use crate::support::{TestResult, binary, run, stderr, stdout};

const MANIFEST: &str = "deploy/kubernetes/wasm-agent.yaml";

/// The value after `key:` on the first line (from `from`) that has it, unquoted.
fn value_of<'a>(lines: &[&'a str], from: usize, key: &str) -> Option<(usize, &'a str)> {
    lines.iter().enumerate().skip(from).find_map(|(at, line)| {
        let rest = line.trim().trim_start_matches("- ").strip_prefix(key)?;
        let value = rest.strip_prefix(':')?.trim().trim_matches('"');
        Some((at, value))
    })
}

/// The container's environment: each `- name:` with the `value:` on the next line.
fn env_of(lines: &[&str]) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        let Some(name) = line.trim().strip_prefix("- name: ") else {
            continue;
        };
        if let Some((next, value)) = value_of(lines, at + 1, "value")
            && next == at + 1
        {
            env.push((name.to_owned(), value.to_owned()));
        }
    }
    env
}

/// Every variable the manifest sets is one `serve` reads, accepts and applies, and the pod's grace
/// outlasts the preStop pause, the shutdown grace and the stop that follows it.
#[test]
fn manifest_settings_are_valid_and_its_grace_covers_the_drain() -> TestResult {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(MANIFEST))?;
    let lines: Vec<&str> = text.lines().collect();
    let env = env_of(&lines);
    assert!(
        env.iter()
            .any(|(name, _)| name == "WASM_AGENT_SHUTDOWN_GRACE"),
        "the manifest sets the shutdown grace it sizes the pod's grace by"
    );
    let mut command = binary();
    command.args(["serve", "--print-config"]);
    for (name, value) in &env {
        assert!(name.starts_with("WASM_AGENT_"), "{name} is not ours");
        command.env(name, value);
    }
    let output = run(&mut command)?;
    assert!(
        output.status.success(),
        "serve refuses: {}",
        stderr(&output)
    );
    let printed: toml::Table = stdout(&output).parse()?;
    for (name, value) in &env {
        let key = name["WASM_AGENT_".len()..].to_lowercase().replace('_', "-");
        let took = printed.get(&key).and_then(|v| v.as_str());
        assert_eq!(took, Some(value.as_str()), "{name} is the setting {key}");
    }
    let grace = printed
        .get("shutdown-grace")
        .and_then(|v| v.as_str())
        .ok_or("no shutdown-grace printed")?;
    let grace: Duration = humantime::parse_duration(grace)?;
    let (_, pod_grace) =
        value_of(&lines, 0, "terminationGracePeriodSeconds").ok_or("no pod grace")?;
    let pod_grace = Duration::from_secs(pod_grace.parse()?);
    let (pre_stop, _) = value_of(&lines, 0, "preStop").ok_or("no preStop")?;
    let (_, pause) = value_of(&lines, pre_stop, "seconds").ok_or("no preStop pause")?;
    let pause = Duration::from_secs(pause.parse()?);
    // After the grace the server stops what is left (STOP_GRACE) and answers its callers.
    let stop = STOP_GRACE + Duration::from_secs(1);
    assert!(
        pause + grace + stop <= pod_grace,
        "{pause:?} + {grace:?} + {stop:?} > the pod's {pod_grace:?}"
    );
    Ok(())
}

/// Both probes ask `/ping` on the port the container serves, which is the image's 8080.
#[test]
fn manifest_probes_ask_ping_on_the_served_port() -> TestResult {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(MANIFEST))?;
    let lines: Vec<&str> = text.lines().collect();
    let (_, port) = value_of(&lines, 0, "containerPort").ok_or("no containerPort")?;
    assert_eq!(port, "8080");
    for probe in ["readinessProbe", "livenessProbe"] {
        let (at, _) = value_of(&lines, 0, probe).ok_or(format!("no {probe}"))?;
        let (_, path) = value_of(&lines, at, "path").ok_or("no path")?;
        let (_, port) = value_of(&lines, at, "port").ok_or("no port")?;
        assert_eq!((path, port), ("/ping", "http"), "{probe}");
    }
    Ok(())
}
