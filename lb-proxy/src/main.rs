//! `fedway-proxy`: Fedway's fallback Gateway API implementation. One
//! process runs the controller (watches the cluster, computes the
//! configuration and the statuses) and the data plane (serves it).

use std::{collections::BTreeMap, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context as _;
use clap::{CommandFactory, Parser, ValueEnum, error::ErrorKind};
use fedway_proxy::{
    config::ProxyConfig,
    controller::{self, AddressPool, ConfigSink, Publish, ServiceKind, Settings},
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
    /// separated (`127.20.5.100-127.20.5.200`). Without --publish-service
    /// they must be local to this process (it binds them); with
    /// `--publish-service ClusterIP` they are the Services' external IPs.
    /// Not used with `--publish-service LoadBalancer`.
    #[arg(long, env = "FEDWAY_ADDRESS_POOL")]
    address_pool: Option<AddressPool>,
    /// Publish each Gateway with a Service of this type in front of every
    /// replica instead of binding its address here: `LoadBalancer` (the
    /// address is the load balancer's) or `ClusterIP` (an external IP from
    /// --address-pool, routed to the nodes; kube-proxy forwards it).
    #[arg(long, env = "FEDWAY_PUBLISH_SERVICE", value_enum)]
    publish_service: Option<ServiceType>,
    /// The replicas' pod labels the Services select (`key=value`, repeated
    /// or comma-separated); required with --publish-service.
    #[arg(
        long,
        env = "FEDWAY_SERVICE_SELECTOR",
        value_parser = fedway_runtime::parse_label,
        value_delimiter = ','
    )]
    service_selector: Vec<(String, String)>,
    /// The replicas' namespace, where the Services go (a Service selects
    /// pods of its own namespace); required with --publish-service.
    #[arg(long, env = "FEDWAY_SERVICE_NAMESPACE")]
    service_namespace: Option<String>,
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

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ServiceType {
    #[value(name = "LoadBalancer")]
    LoadBalancer,
    #[value(name = "ClusterIP")]
    ClusterIp,
}

/// How Gateways are published, from the flags; a usage error when they do
/// not fit together.
fn publish(cli: &Cli) -> Result<Publish, String> {
    let namespace = match (cli.publish_service, &cli.service_namespace) {
        (Some(_), Some(namespace)) if !namespace.is_empty() => namespace.clone(),
        (Some(_), _) => {
            return Err(
                "--publish-service needs --service-namespace (the replicas' namespace)".into(),
            );
        }
        (None, Some(_)) => return Err("--service-namespace needs --publish-service".into()),
        (None, None) => String::new(),
    };
    let selector: Option<BTreeMap<String, String>> =
        (!cli.service_selector.is_empty()).then(|| cli.service_selector.iter().cloned().collect());
    match (cli.publish_service, selector, &cli.address_pool) {
        (None, None, Some(pool)) => Ok(Publish::Local(pool.clone())),
        (None, None, None) => {
            Err("--address-pool is required (or --publish-service with --service-selector)".into())
        }
        (None, Some(_), _) => Err("--service-selector needs --publish-service".into()),
        (Some(_), None, _) => {
            Err("--publish-service needs --service-selector (the replicas' pod labels)".into())
        }
        (Some(ServiceType::ClusterIp), Some(_), None) => {
            Err("--publish-service ClusterIP needs --address-pool (the external IPs)".into())
        }
        (Some(ServiceType::LoadBalancer), Some(_), Some(_)) => Err(
            "--publish-service LoadBalancer takes addresses from the load balancer: drop --address-pool"
                .into(),
        ),
        (Some(ServiceType::ClusterIp), Some(selector), Some(pool)) => Ok(Publish::Service {
            kind: ServiceKind::ExternalIps(pool.clone()),
            selector,
            namespace,
        }),
        (Some(ServiceType::LoadBalancer), Some(selector), None) => Ok(Publish::Service {
            kind: ServiceKind::LoadBalancer,
            selector,
            namespace,
        }),
    }
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
    let publish = publish(&cli).unwrap_or_else(|message| {
        Cli::command()
            .error(ErrorKind::ArgumentConflict, message)
            .exit()
    });
    fedway_runtime::init(&cli.log)?;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.threads {
        runtime.worker_threads(usize::from(threads));
    }
    runtime.enable_all().build()?.block_on(run(cli, publish))
}

async fn run(cli: Cli, publish: Publish) -> anyhow::Result<()> {
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
        publish,
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
