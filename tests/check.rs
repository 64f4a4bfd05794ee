//! `wasm-agent check` and the refusal of components that are not handlers.

use crate::support::{TestResult, binary, guest, run, scratch, stderr, stdout};

/// A handler is described: its exports, imports and features, and that it can be served.
#[test]
fn check_describes_a_handler() -> TestResult {
    let output = run(binary().arg("check").arg(guest("echo")))?;
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("exports:\n    invoke\n"), "{text}");
    assert!(text.contains("wasm-agent:handler/host@0.1.0"), "{text}");
    assert!(text.contains("optional features: none"), "{text}");
    assert!(text.contains("ok: a wasm-agent handler"), "{text}");
    Ok(())
}

/// Optional capabilities are found among the exports and named.
#[test]
fn check_names_optional_capabilities() -> TestResult {
    for (name, feature) in [
        ("background", "background"),
        ("ws-echo", "background, websocket"),
    ] {
        let output = run(binary().arg("check").arg(guest(name)))?;
        assert!(output.status.success(), "{}", stderr(&output));
        let text = stdout(&output);
        assert!(
            text.contains(&format!("optional features: {feature}\n")),
            "{text}"
        );
    }
    Ok(())
}

/// A component of another world is refused at load, naming what is missing and what it has.
#[test]
fn component_of_another_world_is_refused() -> TestResult {
    for command in ["check", "invoke"] {
        let output = run(binary().arg(command).arg(guest("not-a-handler")))?;
        assert_eq!(output.status.code(), Some(65), "{command}");
        let err = stderr(&output);
        assert!(err.contains("not a wasm-agent handler"), "{command}: {err}");
        assert!(
            err.contains("does not export the function `invoke`"),
            "{command}: {err}"
        );
        assert!(err.contains("wasi:cli/run"), "{command}: {err}");
    }
    Ok(())
}

/// A file that is not a component is refused by `check`, `invoke`, `compile` and `serve` in
/// one line that says what it is instead (never the decoder's byte dump).
#[test]
fn invalid_component_is_refused() -> TestResult {
    let dir = scratch("check")?;
    let garbage = dir.join("garbage.wasm");
    std::fs::write(&garbage, b"this is not wasm")?;
    // A core module, not a component: the smallest valid one.
    let core = dir.join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0")?;
    let out = dir.join("out.cwasm");
    for (path, reason) in [
        (&garbage, "not WebAssembly"),
        (&core, "a core WebAssembly module, not a component"),
    ] {
        for command in ["check", "invoke", "compile", "serve"] {
            let mut line = binary();
            line.arg(command).arg(path);
            match command {
                "compile" => line.arg("-o").arg(&out),
                "serve" => line.args(["--host", "127.0.0.1", "--port", "0"]),
                _ => &mut line,
            };
            let output = run(&mut line)?;
            let err = stderr(&output);
            let what = format!("{command} {}: {err}", path.display());
            assert_eq!(output.status.code(), Some(65), "{what}");
            assert!(err.contains(reason), "{what}");
            assert_eq!(err.trim().lines().count(), 1, "{what}");
        }
    }
    let missing = run(binary().arg("invoke").arg(dir.join("missing.wasm")))?;
    assert_eq!(missing.status.code(), Some(65));
    assert!(
        stderr(&missing).contains("cannot read"),
        "{}",
        stderr(&missing)
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// `--help` covers every subcommand and `--version` prints the version.
#[test]
fn help_and_version() -> TestResult {
    let help = run(binary().arg("--help"))?;
    assert!(help.status.success());
    for word in ["invoke", "check"] {
        assert!(stdout(&help).contains(word), "{}", stdout(&help));
    }
    let invoke_help = run(binary().args(["invoke", "--help"]))?;
    for flag in [
        "--session-id",
        "--header",
        "--timeout",
        "--fuel",
        "--max-memory",
    ] {
        assert!(stdout(&invoke_help).contains(flag), "{flag}");
    }
    let version = run(binary().arg("--version"))?;
    assert_eq!(
        stdout(&version).trim(),
        format!("wasm-agent {}", env!("CARGO_PKG_VERSION"))
    );
    Ok(())
}
