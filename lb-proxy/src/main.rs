//! `fedway-proxy`: Fedway's fallback Gateway API implementation.

use std::path::PathBuf;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "fedway-proxy",
    version,
    about = "Fedway's fallback Gateway API implementation (controller and L7 proxy)"
)]
struct Cli {
    #[command(flatten)]
    log: fedway_runtime::LogArgs,
    /// Kubeconfig of the cluster to serve; in-cluster (or $KUBECONFIG) when absent.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// GatewayClass controllerName this proxy implements.
    #[arg(long, default_value = "fedway.dev/lb-proxy")]
    controller_name: String,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    fedway_runtime::init(&cli.log)?;
    anyhow::bail!(
        "fedway-proxy ({}): the controller and data plane are not implemented yet (tracked in issue #5)",
        cli.controller_name
    )
}
