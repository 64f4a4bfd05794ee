//! `wasm-agent new`: a starter project for a handler in Rust, Python, JavaScript or C, ready to
//! build. The helper modules and the WIT are the ones the repository's examples use.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::EXIT_CONFIG;
use crate::args::{Lang, NewArgs};

const WIT: &str = include_str!("../../wit/handler.wit");

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
    copy("wit/handler.wit", WIT.as_bytes()),
];

const JS: &[File] = &[
    template("agent.js", include_str!("templates/js/agent.js")),
    template("package.json", include_str!("templates/js/package.json")),
    template("README.md", include_str!("templates/js/README.md")),
    copy(
        "wasm-agent.js",
        include_bytes!("../../guest-examples/js/wasm-agent.js"),
    ),
    copy("wit/handler.wit", WIT.as_bytes()),
];

const C: &[File] = &[
    template("agent.c", include_str!("templates/c/agent.c")),
    template("build.sh", include_str!("templates/c/build.sh")),
    template("README.md", include_str!("templates/c/README.md")),
    copy("json.h", include_bytes!("../../guest-examples/c/json.h")),
    copy("json.c", include_bytes!("../../guest-examples/c/json.c")),
    copy(
        "bindings/handler.h",
        include_bytes!("../../guest-examples/c/bindings/handler.h"),
    ),
    copy(
        "bindings/handler.c",
        include_bytes!("../../guest-examples/c/bindings/handler.c"),
    ),
    copy(
        "bindings/handler_component_type.o",
        include_bytes!("../../guest-examples/c/bindings/handler_component_type.o"),
    ),
    copy("wit/handler.wit", WIT.as_bytes()),
];

pub fn run(args: &NewArgs) -> anyhow::Result<ExitCode> {
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
        eprintln!(
            "error: `{name}` is not a project name: lowercase letters, digits, `-` and `_`, \
             starting with a letter"
        );
        return Ok(ExitCode::from(EXIT_CONFIG));
    }
    if args.path.exists() {
        eprintln!("error: {} already exists", args.path.display());
        return Ok(ExitCode::from(EXIT_CONFIG));
    }
    let sdk = match &args.sdk {
        // Cargo reads a path relative to the new project, not to where this command ran.
        Some(path) => {
            let path =
                std::fs::canonicalize(path).with_context(|| format!("--sdk {}", path.display()))?;
            let escaped = path
                .display()
                .to_string()
                .replace('\\', "\\\\")
                .replace('"', "\\\"");
            format!("{{ path = \"{escaped}\" }}")
        }
        None => format!("{{ git = \"{}\" }}", env!("CARGO_PKG_REPOSITORY")),
    };
    let (files, next) = match args.lang {
        Lang::Rust => (RUST, "cargo build --release"),
        Lang::Python => (PYTHON, "./build.sh"),
        Lang::Js => (JS, "npm install && npm run build"),
        Lang::C => (C, "./build.sh"),
    };
    for file in files {
        let mut contents = file.contents.to_vec();
        if file.template {
            let text = String::from_utf8_lossy(&contents)
                .replace("{name}", name)
                .replace("{file}", &name.replace('-', "_"))
                .replace("{sdk}", &sdk);
            contents = text.into_bytes();
        }
        write(&args.path.join(file.path), &contents)?;
    }
    eprintln!(
        "created {}: cd {} && {next}",
        args.path.display(),
        args.path.display()
    );
    Ok(ExitCode::SUCCESS)
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
