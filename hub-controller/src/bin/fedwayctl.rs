//! `fedwayctl`: the federation at a glance, from the hub's API server.
//!
//!   fedwayctl status [--kubeconfig HUB] [--dns-server IP:PORT ...]

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "fedwayctl",
    version,
    about = "Fedway at a glance, from the hub"
)]
struct Cli {
    /// The hub's kubeconfig (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, env = "FEDWAY_HUB_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Members (readiness, implementations found), each federated Gateway
    /// per member (Programmed, addresses), each DNS endpoint (hub and probe
    /// health) and what each DNS server answers now.
    Status {
        /// A DNS server to ask besides the DNSZones' name servers.
        /// Repeatable.
        #[arg(long = "dns-server")]
        dns_servers: Vec<SocketAddr>,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Status { dns_servers } = &cli.command;
    let client = match fedway_runtime::kube_client(cli.kubeconfig.as_deref()).await {
        Ok(client) => client,
        Err(error) => {
            eprintln!("fedwayctl: connecting to the hub: {error}");
            return ExitCode::FAILURE;
        }
    };
    match fedway_hub::overview::gather(&client, dns_servers).await {
        Ok(overview) => {
            print!("{}", fedway_hub::overview::render(&overview));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("fedwayctl: {error}");
            ExitCode::FAILURE
        }
    }
}
