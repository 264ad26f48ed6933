//! What every Fedway binary does before its own work: parse the shared
//! logging flags, install the one rustls crypto provider of the workspace,
//! build Kubernetes clients and wait for a shutdown signal; and read TLS
//! Secrets as certificates, the same way in the hub and in fedway-proxy;
//! mirror API kinds in memory ([`mirror`]).
//!
//! It lives in its own crate so `fedway-crds` stays free of I/O.

pub mod certificates;
pub mod metrics;
pub mod mirror;

use std::path::{Path, PathBuf};

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Logging flags shared by every binary.
#[derive(Clone, Debug, clap::Args)]
pub struct LogArgs {
    /// Log format: `plain` for people, `json` for log pipelines.
    #[arg(long, value_enum, default_value_t = LogFormat::Plain, env = "FEDWAY_LOG_FORMAT", global = true)]
    pub log_format: LogFormat,
    /// Log filter, in `tracing_subscriber::EnvFilter` syntax (`info`,
    /// `fedway_hub=debug,kube=warn`). Overridden by `RUST_LOG`.
    #[arg(long, default_value = "info", env = "FEDWAY_LOG", global = true)]
    pub log: String,
}

/// A `key=value` flag value (a label), for clap's `value_parser`: the
/// value may be empty, the key may not.
pub fn parse_label(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not key=value"))?;
    if key.is_empty() {
        return Err(format!("{text:?} has an empty key"));
    }
    Ok((key.to_owned(), value.to_owned()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Plain,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid log filter {filter:?}: {source}")]
    LogFilter {
        filter: String,
        source: tracing_subscriber::filter::ParseError,
    },
    #[error("reading kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        source: Box<kube::config::KubeconfigError>,
    },
    #[error("loading Kubernetes client configuration (in-cluster or $KUBECONFIG): {0}")]
    InferConfig(Box<kube::config::InferConfigError>),
    #[error("building Kubernetes client for {cluster_url}: {source}")]
    Client {
        cluster_url: String,
        source: Box<kube::Error>,
    },
}

/// Installs structured logging for the process, and the rustls crypto
/// provider (ring) so every TLS user in the process agrees on one.
pub fn init(log: &LogArgs) -> Result<(), Error> {
    // A second call (tests) finds a provider installed already; that is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();

    let filter = match std::env::var("RUST_LOG") {
        Ok(from_env) if !from_env.is_empty() => from_env,
        _ => log.log.clone(),
    };
    let filter =
        EnvFilter::try_new(&filter).map_err(|source| Error::LogFilter { filter, source })?;
    let registry = tracing_subscriber::registry().with(filter);
    // try_init: tests may initialise logging more than once per process.
    let _ = match log.log_format {
        LogFormat::Plain => registry.with(fmt::layer().with_target(true)).try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false),
            )
            .try_init(),
    };
    Ok(())
}

/// A client for the cluster in `kubeconfig`, or, without one, for the
/// cluster the process runs in (or `$KUBECONFIG`).
pub async fn kube_client(kubeconfig: Option<&Path>) -> Result<kube::Client, Error> {
    client_for(kube_config(kubeconfig).await?)
}

/// The client configuration in `kubeconfig`, or in-cluster (or
/// `$KUBECONFIG`) without one.
pub async fn kube_config(kubeconfig: Option<&Path>) -> Result<kube::Config, Error> {
    Ok(match kubeconfig {
        Some(path) => {
            let kubeconfig_error = |source| Error::Kubeconfig {
                path: path.to_owned(),
                source: Box::new(source),
            };
            let file = kube::config::Kubeconfig::read_from(path).map_err(kubeconfig_error)?;
            kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(kubeconfig_error)?
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| Error::InferConfig(Box::new(e)))?,
    })
}

/// How long a request may wait for the next byte from the API server. A
/// watch is idle for at most its server-side timeout (kube's watcher asks
/// for 290 s), so this never cuts a healthy one; any other request on a
/// connection that went silent fails instead of hanging forever (kube sets
/// no read timeout). Callers that must act sooner (lease renewals) bound
/// their calls themselves.
pub const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(295);
/// TCP keepalive on every API connection, so a peer that vanished without
/// closing (a NAT dropping state, a frozen relay) is noticed by the kernel
/// and the pooled connection is not reused for hours.
pub const TCP_KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(30);

/// A client for `config`: kube's own layers (base URI, authentication,
/// headers) over a connector with connect, read and write timeouts and TCP
/// keepalive, which `kube::Client::try_from` does not set.
pub fn client_for(mut config: kube::Config) -> Result<kube::Client, Error> {
    use kube::client::ConfigExt;
    let cluster_url = config.cluster_url.to_string();
    let client_error = |source| Error::Client {
        cluster_url: cluster_url.clone(),
        source: Box::new(source),
    };
    config.read_timeout.get_or_insert(READ_TIMEOUT);
    let mut tcp = hyper_util::client::legacy::connect::HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_keepalive(Some(TCP_KEEPALIVE));
    tcp.set_connect_timeout(config.connect_timeout);
    let tls = config
        .rustls_https_connector_with_connector(tcp)
        .map_err(client_error)?;
    let mut connector = hyper_timeout::TimeoutConnector::new(tls);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    let http = hyper_util::client::legacy::Builder::new(hyper_util::rt::TokioExecutor::new())
        .build(connector);
    let service = tower::ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer().map_err(client_error)?)
        .layer(config.extra_headers_layer().map_err(client_error)?)
        .map_err(tower::BoxError::from)
        .service(http);
    Ok(kube::client::ClientBuilder::new(service, config.default_namespace).build())
}

/// Background tasks that stop with their owner: dropping this (the
/// owning future cancelled, or returning) aborts every one, so a stopped
/// controller leaves no heartbeat or sweeper writing behind it.
#[derive(Debug, Default)]
pub struct Tasks(Vec<tokio::task::JoinHandle<()>>);

impl Tasks {
    pub fn spawn(&mut self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.0.push(tokio::spawn(task));
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
