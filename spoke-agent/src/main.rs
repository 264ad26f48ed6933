//! `fedway-agent`: Fedway's spoke agent, one per member cluster.

use std::path::PathBuf;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "fedway-agent",
    version,
    about = "Fedway's spoke agent: applies this member's Works from the hub and reports status"
)]
struct Cli {
    #[command(flatten)]
    log: fedway_runtime::LogArgs,
    /// Kubeconfig for the hub, as written by `fedway-hub join`.
    #[arg(long, env = "FEDWAY_HUB_KUBECONFIG")]
    hub_kubeconfig: PathBuf,
    /// This member's name in the hub.
    #[arg(long, env = "FEDWAY_CLUSTER")]
    cluster: String,
    /// Kubeconfig for the member; in-cluster (or $KUBECONFIG) when absent.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    fedway_runtime::init(&cli.log)?;
    anyhow::bail!(
        "fedway-agent for cluster {:?}: joining and applying Works is not implemented yet (tracked in issue #3)",
        cli.cluster
    )
}
