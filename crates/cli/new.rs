//! `wasm-agent new`: a starter project for a handler in Rust, Python, JavaScript or C, ready to
//! build with nothing from wasm-agent but this binary: each starter carries what it needs (the
//! Rust SDK, the Python and JavaScript helpers, the C bindings and helpers, the WIT), and a C
//! core module is made a component by `wasm-agent componentize`.

use std::path::Path;

use anyhow::{Context as _, anyhow};

use crate::args::{Lang, NewArgs};
use crate::failure::Failure;

/// One file of a starter: its path in the project, its contents, and whether `{name}`-style
/// placeholders in it are filled in.
struct File {
    path: &'static str,
    contents: &'static [u8],
    template: bool,
}

const fn template(path: &'static str, contents: &'static str) -> File {
    File {
        path,
        contents: contents.as_bytes(),
        template: true,
    }
}

const fn copy(path: &'static str, contents: &'static [u8]) -> File {
    File {
        path,
        contents,
        template: false,
    }
}

/// A file of the repository's `wit/` folder, at the same path in the project.
macro_rules! wit {
    ($path:literal) => {
        copy(
            concat!("wit/", $path),
            include_bytes!(concat!("../../wit/", $path)),
        )
    };
}

/// A file of the Rust SDK, written into the project's `wasm-agent-sdk/` folder as it is here.
macro_rules! sdk {
    ($path:literal) => {
        copy(
            concat!("wasm-agent-sdk/", $path),
            include_bytes!(concat!("../sdk/", $path)),
        )
    };
}

/// The handler worlds alone: enough for a toolchain that brings its own wasi:http
/// (componentize-js's `fetch`).
const WIT_HANDLER: &[File] = &[wit!("handler.wit")];

/// The handler worlds, `outbound-handler`, and the WASI packages it imports, for toolchains
/// that bind wasi:http from the project's WIT (componentize-py, wit-bindgen's C bindings).
const WIT_OUTBOUND: &[File] = &[
    wit!("handler.wit"),
    wit!("outbound.wit"),
    wit!("deps/cli.wit"),
    wit!("deps/clocks.wit"),
    wit!("deps/filesystem.wit"),
    wit!("deps/http.wit"),
    wit!("deps/io.wit"),
    wit!("deps/random.wit"),
    wit!("deps/sockets.wit"),
];

/// The SDK as a path dependency of the project, so it builds without a checkout or a git
/// remote. Its manifest is a template because the repository's inherits from the workspace;
/// its wasi:http comes from the `wasip2` crate, so it needs only the handler worlds.
const RUST_SDK: &[File] = &[
    template(
        "wasm-agent-sdk/Cargo.toml",
        include_str!("templates/rust/sdk-Cargo.toml"),
    ),
    sdk!("src/lib.rs"),
    sdk!("src/context.rs"),
    sdk!("src/failure.rs"),
    sdk!("src/reply.rs"),
    sdk!("src/runtime.rs"),
    sdk!("src/socket.rs"),
    sdk!("src/http/mod.rs"),
    sdk!("src/http/error.rs"),
    sdk!("src/http/request.rs"),
    sdk!("src/http/response.rs"),
    sdk!("src/http/sse.rs"),
    sdk!("src/http/url.rs"),
    sdk!("wit/handler.wit"),
];

const RUST: &[File] = &[
    template("Cargo.toml", include_str!("templates/rust/Cargo.toml")),
    template(
        ".cargo/config.toml",
        include_str!("templates/rust/cargo-config.toml"),
    ),
    template("src/lib.rs", include_str!("templates/rust/lib.rs")),
    template("README.md", include_str!("templates/rust/README.md")),
];

const PYTHON: &[File] = &[
    template("app.py", include_str!("templates/python/app.py")),
    template("build.sh", include_str!("templates/python/build.sh")),
    template("README.md", include_str!("templates/python/README.md")),
    copy(
        "wasm_agent.py",
        include_bytes!("../../guest-examples/python/wasm_agent.py"),
    ),
    copy(
        "wasm_agent_http.py",
        include_bytes!("../../guest-examples/python/wasm_agent_http.py"),
    ),
];

const JS: &[File] = &[
    template("agent.js", include_str!("templates/js/agent.js")),
    template("package.json", include_str!("templates/js/package.json")),
    template("README.md", include_str!("templates/js/README.md")),
    copy(
        "wasm-agent.js",
        include_bytes!("../../guest-examples/js/wasm-agent.js"),
    ),
];

const C: &[File] = &[
    template("agent.c", include_str!("templates/c/agent.c")),
    template("build.sh", include_str!("templates/c/build.sh")),
    template("README.md", include_str!("templates/c/README.md")),
    copy("json.h", include_bytes!("../../guest-examples/c/json.h")),
    copy("json.c", include_bytes!("../../guest-examples/c/json.c")),
    copy("http.h", include_bytes!("../../guest-examples/c/http.h")),
    copy("http.c", include_bytes!("../../guest-examples/c/http.c")),
    copy(
        "http_error.h",
        include_bytes!("../../guest-examples/c/http_error.h"),
    ),
    copy(
        "http_error.c",
        include_bytes!("../../guest-examples/c/http_error.c"),
    ),
    copy(
        "bindings/outbound_handler.h",
        include_bytes!("../../guest-examples/c/bindings/outbound_handler.h"),
    ),
    copy(
        "bindings/outbound_handler.c",
        include_bytes!("../../guest-examples/c/bindings/outbound_handler.c"),
    ),
    copy(
        "bindings/outbound_handler_component_type.o",
        include_bytes!("../../guest-examples/c/bindings/outbound_handler_component_type.o"),
    ),
];

/// The files of a starter: its own, then what it carries from wasm-agent.
fn starter(lang: Lang) -> [&'static [File]; 2] {
    match lang {
        Lang::Rust => [RUST, RUST_SDK],
        Lang::Python => [PYTHON, WIT_OUTBOUND],
        Lang::Js => [JS, WIT_HANDLER],
        Lang::C => [C, WIT_OUTBOUND],
    }
}

/// Writes a starter project where `args` says, refusing a bad name or an existing path.
pub(crate) fn run(args: &NewArgs) -> Result<(), Failure> {
    let name = args
        .path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let valid = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        return Err(Failure::usage(anyhow!(
            "`{name}` is not a project name: lowercase letters, digits, `-` and `_`, starting \
             with a letter"
        )));
    }
    if args.path.exists() {
        return Err(Failure::usage(anyhow!(
            "{} already exists",
            args.path.display()
        )));
    }
    let next = match args.lang {
        Lang::Rust => "cargo build --release",
        Lang::Python | Lang::C => "./build.sh",
        Lang::Js => "npm install && npm run build",
    };
    for file in starter(args.lang).into_iter().flatten() {
        let mut contents = file.contents.to_vec();
        if file.template {
            let text = String::from_utf8_lossy(&contents)
                .replace("{name}", name)
                .replace("{file}", &name.replace('-', "_"))
                .replace("{version}", env!("CARGO_PKG_VERSION"));
            contents = text.into_bytes();
        }
        write(&args.path.join(file.path), &contents)?;
    }
    eprintln!(
        "created {}: cd {} && {next}",
        args.path.display(),
        args.path.display()
    );
    Ok(())
}

fn write(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    if path.extension().is_some_and(|e| e == "sh") {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    fn files_under(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files_under(&path, found);
            } else {
                found.push(path);
            }
        }
    }

    /// A module added to the SDK reaches the Rust starter, or its build would fail for users
    /// only.
    #[test]
    fn the_rust_starter_carries_every_sdk_source_file() {
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/sdk");
        let mut sources = Vec::new();
        files_under(&sdk.join("src"), &mut sources);
        let carried: Vec<&str> = RUST_SDK.iter().map(|file| file.path).collect();
        for source in sources {
            let relative = source.strip_prefix(&sdk).unwrap().to_str().unwrap();
            let path = format!("wasm-agent-sdk/{relative}");
            assert!(carried.contains(&path.as_str()), "{path} is not carried");
        }
    }

    /// The starter's SDK manifest pins what the repository's SDK is built and tested with.
    #[test]
    fn the_rust_starter_pins_the_sdk_dependencies_of_the_workspace() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let workspace = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let sdk = std::fs::read_to_string(root.join("crates/sdk/Cargo.toml")).unwrap();
        let starter = include_str!("templates/rust/sdk-Cargo.toml");
        let version_of = |manifest: &str, name: &str| -> Option<String> {
            let line = manifest
                .lines()
                .find(|line| line.starts_with(&format!("{name} = ")))?;
            let start = line.find("version = \"").map(|at| at + 11).or_else(|| {
                // `name = "1.2"`
                line.find(" = \"").map(|at| at + 4)
            })?;
            let rest = &line[start..];
            Some(rest[..rest.find('"')?].to_owned())
        };
        for (name, home) in [("wit-bindgen", &workspace), ("wasip2", &sdk)] {
            let want = version_of(home, name).unwrap();
            let want = if want.starts_with('=') {
                want
            } else {
                format!("={want}")
            };
            assert_eq!(version_of(starter, name), Some(want), "{name}");
        }
    }

    /// Every language's starter writes its files into a fresh folder, templates filled in.
    #[test]
    fn a_starter_fills_in_its_name() {
        for lang in [Lang::Rust, Lang::Python, Lang::Js, Lang::C] {
            let dir = std::env::temp_dir()
                .join(format!("wasm-agent-new-{}-{lang:?}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let project = dir.join("my-agent");
            let args = NewArgs {
                path: project.clone(),
                lang,
            };
            run(&args).unwrap();
            for file in starter(lang).into_iter().flatten() {
                let written = std::fs::read(project.join(file.path)).unwrap();
                if file.template {
                    let text = String::from_utf8(written).unwrap();
                    assert!(!text.contains("{name}"), "{lang:?} {}", file.path);
                    assert!(!text.contains("{version}"), "{lang:?} {}", file.path);
                } else {
                    assert_eq!(written, file.contents, "{lang:?} {}", file.path);
                }
            }
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
}
