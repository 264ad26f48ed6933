//! `fedway-proxy`: Fedway's fallback Gateway API implementation. One
//! process runs the controller (watches the cluster, computes the
//! configuration and the statuses) and the data plane (serves it).

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context as _;
use clap::Parser;
use fedway_proxy::{
    config::ProxyConfig,
    controller::{self, AddressPool, ConfigSink, Settings},
    dataplane::{DataPlane, Options},
    metrics::ProxyMetrics,
};

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
    #[arg(long, default_value = controller::DEFAULT_CONTROLLER_NAME)]
    controller_name: String,
    /// GatewayClass created at start-up when absent (empty: none).
    #[arg(long, default_value = controller::DEFAULT_CLASS_NAME)]
    gateway_class: String,
    /// Addresses Gateways get, one each: ranges and single IPs, comma
    /// separated (`127.20.5.100-127.20.5.200`).
    #[arg(long, env = "FEDWAY_ADDRESS_POOL")]
    address_pool: AddressPool,
    /// How long requests in flight may finish at shutdown.
    #[arg(long, default_value = "10", value_name = "SECONDS")]
    shutdown_grace: u64,
    /// Runtime worker threads (default: one per CPU). Benchmarks set it to
    /// compare per-core figures with single-worker nginx and HAProxy.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    #[command(flatten)]
    metrics: fedway_runtime::metrics::MetricsArgs,
}

/// The data plane as the controller's sink. Sockets that cannot be bound
/// are logged here; the data plane retries them on the next config.
struct DataPlaneSink(DataPlane);

impl ConfigSink for DataPlaneSink {
    fn apply(&self, config: ProxyConfig) {
        if let Err(errors) = self.0.apply(config) {
            tracing::error!(%errors, "configuration applied in part");
        }
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    fedway_runtime::init(&cli.log)?;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.threads {
        runtime.worker_threads(usize::from(threads));
    }
    runtime.enable_all().build()?.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // The client and the data plane are made inside the runtime that drives them.
    let client = fedway_runtime::kube_client(cli.kubeconfig.as_deref()).await?;
    if !cli.gateway_class.is_empty() {
        controller::class::ensure(&client, &cli.gateway_class, &cli.controller_name).await?;
    }
    let mut registry = fedway_runtime::metrics::Registry::default();
    let metrics = Arc::new(ProxyMetrics::register(&mut registry));
    let _endpoint = fedway_runtime::metrics::serve_registry(&cli.metrics, registry)
        .await
        .context("metrics endpoint")?;
    let sink = Arc::new(DataPlaneSink(DataPlane::new(Options {
        metrics: metrics.clone(),
        ..Options::default()
    })));
    let settings = Settings {
        controller_name: cli.controller_name,
        address_pool: cli.address_pool,
        metrics,
    };
    tokio::select! {
        () = controller::run(client, settings, sink.clone()) => {
            tracing::error!("controller stopped");
        }
        () = fedway_runtime::shutdown_signal() => tracing::info!("shutting down"),
    }
    // The controller future is gone, and with it its handle on the sink.
    if let Ok(DataPlaneSink(data_plane)) = Arc::try_unwrap(sink) {
        data_plane
            .shutdown(Duration::from_secs(cli.shutdown_grace))
            .await;
    }
    Ok(())
}
