//! `fedway-dns`: Fedway's authoritative DNS server.

use std::{net::SocketAddr, path::PathBuf};

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "fedway-dns",
    version,
    about = "Fedway's authoritative DNS for global hostnames, with active health checks"
)]
struct Cli {
    #[command(flatten)]
    log: fedway_runtime::LogArgs,
    /// Address to serve DNS on, UDP and TCP.
    #[arg(long, default_value = "127.0.0.1:5353")]
    listen: Vec<SocketAddr>,
    /// Serve zones and records from this YAML file instead of the API server.
    #[arg(long)]
    file: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    fedway_runtime::init(&cli.log)?;
    anyhow::bail!(
        "fedway-dns on {:?}: the DNS server is not implemented yet (tracked in issue #4)",
        cli.listen
    )
}
