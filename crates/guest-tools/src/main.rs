//! `wasm-agent-guest-tools`: the repository's own tool for the committed C bindings.
//!
//! `c-bindings DIR` writes wit-bindgen's C bindings of a world (`WORLD.h`, `WORLD.c`,
//! `WORLD_component_type.o`) into DIR; `--check` compares instead of writing, so the committed
//! copies cannot drift from `wit/`. Users of C need neither this tool nor a checkout: the
//! bindings ship in each C starter, and `wasm-agent componentize` makes the component.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
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
        #[arg(long, default_value = "outbound-handler")]
        world: String,
        /// Fail if the files in DIR differ from freshly generated ones, instead of writing.
        #[arg(long)]
        check: bool,
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
