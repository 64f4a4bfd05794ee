//! `wasm-agent new`: each language's starter project builds into a handler that answers.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::server::one_load_test_at_a_time;
use crate::support::{TestResult, binary, run, scratch, stderr, stdout};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_owned()
}

/// Where `make guests` installed the toolchains, shared here so the test installs nothing.
fn toolchains() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    std::env::var_os("WASM_AGENT_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".cache/wasm-agent"))
}

fn built(command: &mut Command) -> TestResult {
    let output = run(command)?;
    if !output.status.success() {
        return Err(format!("{}{}", stdout(&output), stderr(&output)).into());
    }
    Ok(())
}

/// The starter of each language builds, is a handler, and answers its example request.
#[test]
fn starters_build_and_answer() -> TestResult {
    // Four builds: heavy enough to skew the timing of load tests running beside them.
    let _load = one_load_test_at_a_time();
    let dir = scratch("new")?;
    for (lang, name, wasm) in [
        ("rust", "rusty", "rusty.wasm"),
        ("c", "cee", "cee.wasm"),
        ("python", "snake", "snake.wasm"),
        ("js", "script", "script.wasm"),
    ] {
        let project = dir.join(name);
        let mut new = binary();
        new.args(["new", "--lang", lang]).arg(&project);
        if lang == "rust" {
            new.arg("--sdk").arg(repo().join("crates/sdk"));
        }
        built(&mut new)?;
        match lang {
            "rust" => {
                // The examples' target folder: their dependencies are already built there.
                let target = std::env::var_os("CARGO_TARGET_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| repo().join("guest-examples/target"));
                built(
                    Command::new("cargo")
                        .args(["build", "--release", "--quiet"])
                        .current_dir(&project)
                        .env("CARGO_TARGET_DIR", &target),
                )?;
                std::fs::copy(
                    target.join("wasm32-wasip2/release/rusty.wasm"),
                    project.join("rusty.wasm"),
                )?;
            }
            "c" => built(
                Command::new("bash")
                    .arg("build.sh")
                    .current_dir(&project)
                    .env("VENV", toolchains().join("zig-venv"))
                    .env("GUEST_TOOLS", guest_tools()),
            )?,
            "python" => built(
                Command::new("bash")
                    .arg("build.sh")
                    .current_dir(&project)
                    .env("VENV", toolchains().join("python-venv")),
            )?,
            _ => {
                std::os::unix::fs::symlink(
                    repo().join("guest-examples/js/node_modules"),
                    project.join("node_modules"),
                )?;
                built(
                    Command::new("npm")
                        .args(["run", "--silent", "build"])
                        .current_dir(&project),
                )?;
            }
        }
        let output = run(binary()
            .arg("invoke")
            .arg(project.join(wasm))
            .arg(r#"{"prompt": "hi"}"#))?;
        assert!(output.status.success(), "{lang}: {}", stderr(&output));
        let reply: serde_json::Value = serde_json::from_str(&stdout(&output))?;
        assert_eq!(reply["reply"], "You said: hi", "{lang}");
    }
    Ok(std::fs::remove_dir_all(dir)?)
}

/// The guest tools binary cargo built beside this test's binary.
fn guest_tools() -> PathBuf {
    let test_binary = PathBuf::from(env!("CARGO_BIN_EXE_wasm-agent"));
    test_binary.with_file_name("wasm-agent-guest-tools")
}
