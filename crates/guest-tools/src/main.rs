//! `wasm-agent-guest-tools`: what building a guest in C (and other languages whose compilers
//! emit a core WebAssembly module) needs, with no tool beyond cargo:
//!
//! - `c-bindings DIR`: writes wit-bindgen's C bindings of a world (`handler.h`, `handler.c`,
//!   `handler_component_type.o`) into DIR; `--check` compares instead of writing, so the
//!   committed copies cannot drift from `wit/`.
//! - `componentize CORE.wasm -o OUT.wasm`: makes a core module that targets WASI preview1
//!   (wasi-libc) into a component, with the preview1 reactor adapter of the wasmtime line the
//!   host is built on.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wit_component::ComponentEncoder;
use wit_parser::Resolve;

#[derive(Debug, Parser)]
#[command(name = "wasm-agent-guest-tools", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write (or with --check, compare) the C bindings of a world.
    CBindings {
        /// Where the bindings go.
        dir: PathBuf,
        /// The WIT folder.
        #[arg(long, default_value = "wit")]
        wit: PathBuf,
        /// The world.
        #[arg(long, default_value = "handler")]
        world: String,
        /// Fail if the files in DIR differ from freshly generated ones, instead of writing.
        #[arg(long)]
        check: bool,
    },
    /// Make a core module (WASI preview1, with the world's type section embedded by the
    /// bindings) into a component.
    Componentize {
        /// The core module.
        core: PathBuf,
        /// The component to write.
        #[arg(long, short = 'o')]
        output: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::CBindings {
            dir,
            wit,
            world,
            check,
        } => c_bindings(&dir, &wit, &world, check),
        Command::Componentize { core, output } => componentize(&core, &output),
    }
}

fn c_bindings(dir: &Path, wit: &Path, world: &str, check: bool) -> anyhow::Result<()> {
    let mut resolve = Resolve::default();
    let (package, _) = resolve
        .push_dir(wit)
        .with_context(|| format!("cannot read the WIT in {}", wit.display()))?;
    let world = resolve.select_world(&[package], Some(world))?;
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)?;
    if !check {
        std::fs::create_dir_all(dir)?;
    }
    let mut stale = Vec::new();
    for (name, contents) in files.iter() {
        let path = dir.join(name);
        if check {
            if std::fs::read(&path).ok().as_deref() != Some(contents) {
                stale.push(path.display().to_string());
            }
        } else {
            std::fs::write(&path, contents)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
    }
    if !stale.is_empty() {
        bail!(
            "the committed C bindings differ from wit/ (run `make c-bindings`): {}",
            stale.join(", ")
        );
    }
    Ok(())
}

fn componentize(core: &Path, output: &Path) -> anyhow::Result<()> {
    let module = std::fs::read(core).with_context(|| format!("cannot read {}", core.display()))?;
    let component = ComponentEncoder::default()
        .validate(true)
        .module(&module)?
        .adapter(
            WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )?
        .encode()?;
    std::fs::write(output, &component)
        .with_context(|| format!("cannot write {}", output.display()))?;
    eprintln!(
        "wrote {} ({} bytes) from {} ({} bytes)",
        output.display(),
        component.len(),
        core.display(),
        module.len()
    );
    Ok(())
}
