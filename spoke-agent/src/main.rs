//! `fedway-agent`: Fedway's spoke agent, one per member cluster.

use std::{path::PathBuf, sync::Arc};

use anyhow::Context as _;
use clap::Parser;
use fedway_agent::{member::Cluster, metrics::AgentMetrics};

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
    #[command(flatten)]
    metrics: fedway_runtime::metrics::MetricsArgs,
    /// A kind to manage besides Gateway API's and Fedway's, as `Kind.group`:
    /// each policy kind the hub federates (its `--policy-kind`), so that
    /// drift is corrected and leftovers swept. Repeatable.
    #[arg(long = "managed-kind")]
    managed_kinds: Vec<fedway_crds::group_kind::GroupKind>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    fedway_runtime::init(&cli.log)?;
    let hub = fedway_runtime::kube_client(Some(&cli.hub_kubeconfig))
        .await
        .context("hub client")?;
    let member = fedway_runtime::kube_client(cli.kubeconfig.as_deref())
        .await
        .context("member client")?;
    let mut registry = fedway_runtime::metrics::Registry::default();
    let metrics = Arc::new(AgentMetrics::register(&mut registry));
    let _endpoint = fedway_runtime::metrics::serve_registry(&cli.metrics, registry)
        .await
        .context("metrics endpoint")?;
    let member = Cluster::new(member, metrics.clone()).with_extra_kinds(cli.managed_kinds);
    fedway_agent::run::run(
        hub,
        Arc::new(member),
        cli.cluster,
        metrics,
        fedway_runtime::shutdown_signal(),
    )
    .await?;
    Ok(())
}
