//! `wasm-agent new`: each language's starter, created and built in a folder outside the
//! repository with nothing of wasm-agent but the binary on the PATH (the toolchains come from
//! the caches `make guests` fills), answers its example request and makes its outbound call.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::mock_model::{MockConfig, MockModel};
use crate::server::one_load_test_at_a_time;
use crate::support::{TestResult, binary, guest, run, scratch, stderr, stdout};

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

/// A user's machine: `wasm-agent` installed into a bin folder of its own, first on the PATH,
/// and no variable that points a build at the repository.
struct Installed {
    bin: PathBuf,
    path: OsString,
}

impl Installed {
    fn new(dir: &Path) -> Result<Self, std::io::Error> {
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin)?;
        std::fs::copy(env!("CARGO_BIN_EXE_wasm-agent"), bin.join("wasm-agent"))?;
        let mut paths = vec![bin.clone()];
        paths.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        let path = std::env::join_paths(paths).map_err(std::io::Error::other)?;
        Ok(Self { bin, path })
    }

    fn command(&self, program: &str, dir: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(dir)
            .env("PATH", &self.path)
            .env_remove("WASM_AGENT");
        command
    }

    fn wasm_agent(&self, dir: &Path) -> Command {
        self.command(
            self.bin.join("wasm-agent").to_str().unwrap_or_default(),
            dir,
        )
    }
}

fn built(command: &mut Command) -> TestResult {
    let output = run(command)?;
    if !output.status.success() {
        return Err(format!("{command:?}: {}{}", stdout(&output), stderr(&output)).into());
    }
    Ok(())
}

/// Builds the starter in `project` the way its README says, returning the component.
fn build(
    lang: &str,
    project: &Path,
    user: &Installed,
) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let name = project
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    match lang {
        "rust" => {
            // The examples' target folder: their dependencies are already built there.
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| repo().join("guest-examples/target"));
            built(
                user.command("cargo", project)
                    .args(["build", "--release", "--quiet"])
                    .env("CARGO_TARGET_DIR", &target),
            )?;
            let wasm = project.join(format!("{name}.wasm"));
            std::fs::copy(
                target.join(format!(
                    "wasm32-wasip2/release/{}.wasm",
                    name.replace('-', "_")
                )),
                &wasm,
            )?;
            return Ok(wasm);
        }
        "c" => built(
            user.command("bash", project)
                .arg("build.sh")
                .env("VENV", toolchains().join("zig-venv")),
        )?,
        "python" => built(
            user.command("bash", project)
                .arg("build.sh")
                .env("VENV", toolchains().join("python-venv")),
        )?,
        _ => {
            // The toolchain npm would install, from the examples' install of the same pins.
            std::os::unix::fs::symlink(
                repo().join("guest-examples/js/node_modules"),
                project.join("node_modules"),
            )?;
            built(
                user.command("npm", project)
                    .args(["run", "--silent", "build"]),
            )?;
        }
    }
    Ok(project.join(format!("{name}.wasm")))
}

/// One invocation through `wasm-agent invoke`, allowed to reach `allow`.
fn invoke(user: &Installed, wasm: &Path, allow: &str, payload: &str) -> Result<Value, String> {
    let output = run(user
        .wasm_agent(wasm.parent().unwrap_or(Path::new(".")))
        .arg("invoke")
        .arg(wasm)
        .args(["--allow-outbound", allow])
        .arg(payload))
    .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(stderr(&output));
    }
    serde_json::from_str(stdout(&output).trim()).map_err(|e| format!("{e}: {}", stdout(&output)))
}

/// Every starter builds outside the repository with only the binary installed, answers its
/// example request, and calls out to a destination the operator allows.
#[test]
fn starters_build_with_only_the_binary_and_answer() -> TestResult {
    // Four builds: heavy enough to skew the timing of load tests running beside them.
    let _load = one_load_test_at_a_time();
    let dir = scratch("new")?;
    assert!(
        !dir.starts_with(repo()),
        "{} is inside the repository",
        dir.display()
    );
    let user = Installed::new(&dir)?;
    let model = MockModel::start(MockConfig::default())?;
    let allow = model.url();
    let mut failures = Vec::new();
    for lang in ["rust", "c", "python", "js"] {
        let project = dir.join(format!("my-{lang}-agent"));
        built(
            user.wasm_agent(&dir)
                .args(["new", "--lang", lang])
                .arg(&project),
        )?;
        let wasm = build(lang, &project, &user).map_err(|e| format!("{lang}: {e}"))?;
        match invoke(&user, &wasm, &allow, r#"{"prompt": "hi"}"#) {
            Ok(reply) if reply["reply"] == "You said: hi" => {}
            other => failures.push(format!("{lang}, prompt: {other:?}")),
        }
        let url = format!(r#"{{"url": "{allow}/status/201"}}"#);
        match invoke(&user, &wasm, &allow, &url) {
            Ok(reply)
                if reply["status"] == 201
                    && reply["body"].as_str().is_some_and(|b| b.contains("201")) => {}
            other => failures.push(format!("{lang}, outbound: {other:?}")),
        }
        // A destination the operator did not allow fails the invocation, saying so.
        match invoke(
            &user,
            &wasm,
            &allow,
            r#"{"url": "http://example.invalid/"}"#,
        ) {
            Err(error) if error.contains("denied") && error.contains("example.invalid") => {}
            other => failures.push(format!("{lang}, denied: {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(std::fs::remove_dir_all(dir)?)
}

/// `componentize` takes only a core module: anything else is refused in one line a person
/// reads, with the data error status, and nothing is written.
#[test]
fn componentize_refuses_what_is_not_a_core_module() -> TestResult {
    let dir = scratch("componentize")?;
    let text = dir.join("notes.wasm");
    std::fs::write(&text, "not a module")?;
    for (input, says) in [
        (text, "is not a WebAssembly core module"),
        (guest("echo"), "is already a component"),
    ] {
        let out = dir.join("out.wasm");
        let output = run(binary().arg("componentize").arg(&input).arg("-o").arg(&out))?;
        assert_eq!(output.status.code(), Some(65), "{}", stderr(&output));
        let error = stderr(&output);
        assert!(error.contains(says), "{error}");
        assert_eq!(error.trim().lines().count(), 1, "{error}");
        assert!(!out.exists());
    }
    Ok(std::fs::remove_dir_all(dir)?)
}
