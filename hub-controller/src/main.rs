//! `fedway-hub`: Fedway's hub controller.

use std::{io::Write, path::PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "fedway-hub",
    version,
    about = "Fedway's hub controller: define a Gateway once, run it in every member cluster"
)]
struct Cli {
    #[command(flatten)]
    log: fedway_runtime::LogArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print Fedway's CRDs as YAML (for `kubectl apply --server-side -f -`),
    /// or write one file per CRD into a directory.
    Crds {
        /// Write `<crd name>.yaml` files here instead of printing.
        #[arg(long)]
        output_dir: Option<PathBuf>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    fedway_runtime::init(&cli.log)?;
    match cli.command {
        Command::Crds { output_dir } => write_crds(output_dir),
    }
}

fn write_crds(output_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let files = fedway_crds::render::crd_files()?;
    match output_dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for (name, yaml) in files {
                let path = dir.join(name);
                std::fs::write(&path, yaml)
                    .with_context(|| format!("writing {}", path.display()))?;
                tracing::info!(path = %path.display(), "wrote CRD");
            }
        }
        None => {
            let mut out = std::io::stdout().lock();
            for (_, yaml) in files {
                writeln!(out, "---\n{yaml}").context("writing to stdout")?;
            }
        }
    }
    Ok(())
}
