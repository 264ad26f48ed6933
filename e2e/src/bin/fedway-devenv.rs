//! `fedway-devenv`: a local multi-cluster setup on real control planes, for
//! trying Fedway by hand. Starts a hub and N members, prints how to reach
//! each with kubectl, and runs until Ctrl-C, then tears everything down.

use anyhow::Context;
use clap::Parser;
use fedway_e2e::{ClusterOptions, Clusters, Toolchain};

#[derive(Debug, Parser)]
#[command(
    name = "fedway-devenv",
    version,
    about = "A hub and member clusters on real control planes, on loopback, until Ctrl-C"
)]
struct Cli {
    /// Number of member clusters (named member-1, member-2, ...).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=20))]
    members: u8,
    /// Give members kube-controller-manager, kube-scheduler and a kwok
    /// node, so Deployments run and Services get EndpointSlices.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    workloads: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    fedway_e2e::init_test_logging();
    let toolchain = Toolchain::get().context("locating or building the control plane")?;

    let hub = Clusters::start(&["hub"], &ClusterOptions::default())
        .await
        .context("starting the hub")?;
    let names: Vec<String> = (1..=cli.members).map(|i| format!("member-{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let member_options = ClusterOptions {
        workloads: cli.workloads,
        ..ClusterOptions::default()
    };
    let members = Clusters::start(&names, &member_options)
        .await
        .context("starting the members")?;

    let kubectl = toolchain.binary("kubectl");
    println!(
        "Fedway dev environment: Kubernetes {} on loopback\n",
        toolchain.kubernetes_version
    );
    for cluster in hub.iter().chain(members.iter()) {
        println!("{:<10} {}", cluster.name(), cluster.server_url());
        println!(
            "           export KUBECONFIG={}",
            cluster.admin_kubeconfig().display()
        );
        println!(
            "           {} --kubeconfig {} get gateways,memberclusters -A",
            kubectl.display(),
            cluster.admin_kubeconfig().display()
        );
        println!(
            "           started in {:.1?}, logs in {}",
            cluster.started_in(),
            cluster.log_dir().display()
        );
    }
    println!(
        "\nGateway API v1.6 and Fedway CRDs are installed everywhere. Ctrl-C stops all clusters."
    );

    fedway_runtime::shutdown_signal().await;
    println!("stopping...");
    drop(members);
    drop(hub);
    Ok(())
}
