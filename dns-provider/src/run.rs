//! Starting a DNS server: state (from the cache first), source, listeners,
//! metrics; and stopping it.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use fedway_runtime::metrics::{Page, PageSource};
use hickory_server::Server;
use tokio::task::JoinHandle;

use crate::{
    metrics::{self, Metrics},
    policy_status,
    rate_limit::RateLimitConfig,
    server::{self, Handler},
    source,
    state::Served,
};

/// Where DNSZones and DNSRecords come from.
pub enum Source {
    /// A YAML file of DNSZone and DNSRecord objects, re-read on change.
    File(PathBuf),
    /// Watched on this cluster's API server.
    Cluster(kube::Client),
}

pub struct Config {
    pub listen: Vec<SocketAddr>,
    /// UDP sockets per listen address (SO_REUSEPORT); one per core is best.
    pub udp_sockets: usize,
    pub source: Source,
    /// The last good state is kept in this file.
    pub cache: Option<PathBuf>,
    pub metrics_listen: Option<SocketAddr>,
    pub rate_limit: RateLimitConfig,
    /// Report this server's probe results into the status of the
    /// DNSPolicies behind the records (`status.endpoints`). Meant for the
    /// one server beside the hub: the cluster source must be the hub.
    pub report_policy_status: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("binding DNS listeners {addresses:?}: {source}")]
    Bind {
        addresses: Vec<SocketAddr>,
        source: std::io::Error,
    },
    #[error("binding metrics listener {address}: {source}")]
    Metrics {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("the DNS server stopped: {0}")]
    Stopped(String),
}

/// A started server. Dropping it without `shutdown` aborts its tasks.
pub struct Running {
    /// The DNS addresses bound (ports resolved when 0 was asked for).
    pub dns: Vec<SocketAddr>,
    pub metrics: Option<SocketAddr>,
    pub served: Arc<Served>,
    server: Server<Handler>,
    tasks: Vec<JoinHandle<()>>,
    /// UDP workers are threads (see `server::serve_udp`); this stops them.
    stop_udp: Arc<AtomicBool>,
    udp_workers: Vec<std::thread::JoinHandle<()>>,
}

/// Starts serving. Must be called inside a Tokio runtime.
pub async fn start(config: Config) -> Result<Running, Error> {
    let metrics = Arc::new(Metrics::default());
    let served = Arc::new(Served::new(config.cache.clone(), metrics.clone()));
    served.load_cache();

    let handler = Handler::new(served.zones.clone(), config.rate_limit, metrics.clone());
    let mut server = Server::new(handler.clone());
    let (dns, udp) =
        server::bind(&mut server, &config.listen, config.udp_sockets).map_err(|source| {
            Error::Bind {
                addresses: config.listen.clone(),
                source,
            }
        })?;

    let stop_udp = Arc::new(AtomicBool::new(false));
    let mut udp_workers = Vec::new();
    for (index, socket) in udp.into_iter().enumerate() {
        let (handler, stop) = (handler.clone(), stop_udp.clone());
        let worker = std::thread::Builder::new()
            .name(format!("fedway-dns-udp-{index}"))
            .spawn(move || server::serve_udp(socket, handler, stop))
            .map_err(|source| Error::Bind {
                addresses: config.listen.clone(),
                source,
            })?;
        udp_workers.push(worker);
    }
    let mut tasks: Vec<JoinHandle<()>> = Vec::new();
    if config.report_policy_status
        && let Source::Cluster(client) = &config.source
    {
        tasks.push(tokio::spawn(policy_status::run(
            client.clone(),
            served.clone(),
            Duration::from_secs(2),
        )));
    }
    tasks.push(tokio::spawn(match config.source {
        Source::File(path) => Box::pin(source::watch_file(
            path,
            served.clone(),
            Duration::from_secs(1),
        ))
            as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
        Source::Cluster(client) => Box::pin(source::watch_cluster(client, served.clone())),
    }));

    let metrics_address = match config.metrics_listen {
        Some(address) => {
            let page_state = served.clone();
            let page: PageSource = Arc::new(move || Page {
                content_type: metrics::CONTENT_TYPE,
                body: metrics::render(&page_state.metrics, &page_state.snapshot()),
            });
            let (bound, task) = fedway_runtime::metrics::spawn(address, page)
                .await
                .map_err(|source| Error::Metrics { address, source })?;
            tasks.push(task);
            Some(bound)
        }
        None => None,
    };
    tracing::info!(?dns, metrics = ?metrics_address, "fedway-dns serving");
    Ok(Running {
        dns,
        metrics: metrics_address,
        served,
        server,
        tasks,
        stop_udp,
        udp_workers,
    })
}

impl Running {
    /// Runs until the listeners fail.
    pub async fn wait(&mut self) -> Result<(), Error> {
        self.server
            .block_until_done()
            .await
            .map_err(|e| Error::Stopped(e.to_string()))
    }

    /// Stops the listeners (finishing requests in flight) and the tasks.
    pub async fn shutdown(mut self) {
        for task in &self.tasks {
            task.abort();
        }
        self.stop_udp.store(true, Ordering::Relaxed);
        let workers = std::mem::take(&mut self.udp_workers);
        // The workers notice within their read timeout; join off the runtime.
        let _ = tokio::task::spawn_blocking(move || {
            for worker in workers {
                let _ = worker.join();
            }
        })
        .await;
        if let Err(error) = self.server.shutdown_gracefully().await {
            tracing::debug!(%error, "DNS listeners stopped with an error");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop_udp.store(true, Ordering::Relaxed);
        for task in &self.tasks {
            task.abort();
        }
        self.server.shutdown_token().cancel();
    }
}
