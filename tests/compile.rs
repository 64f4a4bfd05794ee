//! The compile cache, `wasm-agent compile` and serving a `.cwasm`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::server::Server;
use crate::support::{TestResult, binary, guest, run, scratch, stderr};

/// Compiles the echo guest into `out` with `extra` flags, and checks that it succeeded.
fn compile_echo(out: &Path, extra: &[&str]) -> TestResult {
    let output = run(binary()
        .arg("compile")
        .arg(guest("echo"))
        .arg("-o")
        .arg(out)
        .args(extra))?;
    assert!(output.status.success(), "{}", stderr(&output));
    Ok(())
}

fn serve_and_echo(path: &Path, flags: &[&str]) -> Result<String, Box<dyn std::error::Error>> {
    let server = Server::start_path(path, flags)?;
    let reply = server.invoke(r#"{"n": 1}"#)?;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()?["payload"]["n"], 1);
    Ok(server.log())
}

/// The second start with the same component loads it from the cache, which is private (0700).
#[test]
fn restart_loads_from_the_compile_cache() -> TestResult {
    let dir = scratch("cache")?;
    let cache = dir.join("compiled");
    let flags = ["--cache-dir", cache.to_str().ok_or("path")?];
    let first = serve_and_echo(&guest("echo"), &flags)?;
    assert!(first.contains("code=\"compiled\""), "{first}");
    assert_eq!(
        std::fs::metadata(&cache)?.permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(std::fs::read_dir(&cache)?.count(), 1, "one entry");
    let second = serve_and_echo(&guest("echo"), &flags)?;
    assert!(second.contains("code=\"compile cache\""), "{second}");
    // Fuel metering changes the code: another entry.
    let fueled = serve_and_echo(
        &guest("echo"),
        &[&flags[..], &["--fuel", "100000000"]].concat(),
    )?;
    assert!(fueled.contains("code=\"compiled\""), "{fueled}");
    assert_eq!(std::fs::read_dir(&cache)?.count(), 2);
    Ok(std::fs::remove_dir_all(dir)?)
}

/// A cache that cannot be created, or that other users could write to, is not used: the
/// component is compiled and served all the same, with a log line saying why.
#[test]
fn unusable_cache_falls_back_to_compiling() -> TestResult {
    let log = serve_and_echo(&guest("echo"), &["--cache-dir", "/proc/version/compiled"])?;
    assert!(log.contains("compile cache unavailable"), "{log}");
    let dir = scratch("shared-cache")?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))?;
    let log = serve_and_echo(
        &guest("echo"),
        &["--cache-dir", dir.to_str().ok_or("path")?],
    )?;
    assert!(log.contains("not private"), "{log}");
    assert_eq!(std::fs::read_dir(&dir)?.count(), 0, "nothing written there");
    Ok(std::fs::remove_dir_all(dir)?)
}

/// `compile` writes native code that `serve` runs when named as a `.cwasm`.
#[test]
fn compiled_component_is_served() -> TestResult {
    let dir = scratch("cwasm")?;
    let cwasm = dir.join("echo.cwasm");
    compile_echo(&cwasm, &[])?;
    let log = serve_and_echo(&cwasm, &["--no-cache"])?;
    assert!(log.contains("code=\"precompiled\""), "{log}");
    Ok(std::fs::remove_dir_all(dir)?)
}

/// Native code is refused unless named `.cwasm`, and a `.cwasm` from another configuration
/// (fuel metering) or another machine is refused with a message that says what to do.
#[test]
fn mismatched_native_code_is_refused() -> TestResult {
    let dir = scratch("cwasm-refused")?;
    let fueled = dir.join("fueled.cwasm");
    let arm = dir.join("arm.cwasm");
    for (out, extra) in [
        (&fueled, ["--fuel", "1000"]),
        (&arm, ["--target", "aarch64-unknown-linux-gnu"]),
    ] {
        compile_echo(out, &extra)?;
    }
    for cwasm in [&fueled, &arm] {
        let output = run(binary().arg("serve").arg(cwasm).args(["--port", "0"]))?;
        assert_eq!(output.status.code(), Some(65), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("compile it again with `wasm-agent compile`"),
            "{}",
            stderr(&output)
        );
    }
    let disguised = dir.join("echo.wasm");
    std::fs::copy(&fueled, &disguised)?;
    let output = run(binary().arg("serve").arg(&disguised).args(["--port", "0"]))?;
    assert_eq!(output.status.code(), Some(65));
    assert!(
        stderr(&output).contains("named .cwasm"),
        "{}",
        stderr(&output)
    );
    Ok(std::fs::remove_dir_all(dir)?)
}
