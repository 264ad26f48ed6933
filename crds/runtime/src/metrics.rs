//! Prometheus metrics for every binary: the `--metrics-listen` flag, the
//! HTTP endpoint (`GET /metrics`, `GET /healthz`), and the reconcile
//! metrics every controller keeps (kube-rs's controller-rs does the same).
//!
//! Each binary registers its own metrics in a [`Registry`] under its prefix
//! (`fedway_hub_`, `fedway_agent_`, `fedway_proxy_`); the names are
//! documented in docs/METRICS.md.

use std::{
    fmt::Write as _,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use http_body_util::Full;
use hyper::{Request, Response, body::Bytes, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
pub use prometheus_client::{
    self,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// The metrics flag every binary takes.
#[derive(Clone, Debug, clap::Args)]
pub struct MetricsArgs {
    /// Serve Prometheus metrics on this address (`GET /metrics`, and
    /// `GET /healthz`); none when absent.
    #[arg(long, env = "FEDWAY_METRICS_LISTEN", value_name = "ADDR:PORT")]
    pub metrics_listen: Option<SocketAddr>,
}

/// One scrape's answer.
pub struct Page {
    pub content_type: &'static str,
    pub body: String,
}

/// What the endpoint answers on `/metrics`, computed per scrape.
pub type PageSource = Arc<dyn Fn() -> Page + Send + Sync>;

/// The OpenMetrics content type prometheus-client's text encoder writes.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A page source that encodes `registry`.
pub fn registry_page(registry: Registry) -> PageSource {
    let registry = Arc::new(registry);
    Arc::new(move || {
        let mut body = String::new();
        // Encoding into a String fails only if a metric's own encoder does.
        if let Err(error) = prometheus_client::encoding::text::encode(&mut body, &registry) {
            let _ = writeln!(body, "# encoding failed: {error}");
        }
        Page {
            content_type: OPENMETRICS,
            body,
        }
    })
}

/// Binds `address` and serves `page` there in a task. Failing to bind is
/// the caller's error: asked-for metrics that are silently missing would
/// go unnoticed until someone needs them.
pub async fn spawn(
    address: SocketAddr,
    page: PageSource,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    let bound = listener.local_addr()?;
    tracing::info!(address = %bound, "serving metrics");
    Ok((bound, tokio::spawn(serve(listener, page))))
}

/// Serves `registry` where `args` asks, if it asks.
pub async fn serve_registry(
    args: &MetricsArgs,
    registry: Registry,
) -> std::io::Result<Option<tokio::task::JoinHandle<()>>> {
    match args.metrics_listen {
        Some(address) => Ok(Some(spawn(address, registry_page(registry)).await?.1)),
        None => Ok(None),
    }
}

/// Serves `GET /metrics` (and `/healthz`) on `listener` until dropped.
/// Scrapers are peers too: each connection gets a header timeout and a
/// lifetime bound.
async fn serve(listener: tokio::net::TcpListener, page: PageSource) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // EMFILE and the like: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let page = page.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let page = page.clone();
                async move {
                    let (status, content_type, body) = match request.uri().path() {
                        "/metrics" => {
                            let page = page();
                            (200, page.content_type, page.body)
                        }
                        "/healthz" => (200, "text/plain", "ok\n".to_owned()),
                        _ => (404, "text/plain", "not found\n".to_owned()),
                    };
                    Response::builder()
                        .status(status)
                        .header("content-type", content_type)
                        .body(Full::new(Bytes::from(body)))
                }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(5))
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(Duration::from_secs(30), connection).await;
        });
    }
}

/// Registers metrics of one kind (plain counters, plain gauges):
/// `(name, help, metric)`.
pub fn register_all<M>(registry: &mut Registry, metrics: &[(&str, &str, &M)])
where
    M: prometheus_client::registry::Metric + Clone,
{
    for (name, help, metric) in metrics {
        registry.register(*name, *help, (*metric).clone());
    }
}

/// Runs, failures and durations of reconciles, per controller of the
/// binary (label `controller`), as kube-rs's controller-rs keeps them.
#[derive(Clone, Debug)]
pub struct ReconcileMetrics {
    runs: Family<ControllerLabel, Counter>,
    failures: Family<ControllerLabel, Counter>,
    duration: Family<ControllerLabel, Histogram, fn() -> Histogram>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct ControllerLabel {
    controller: &'static str,
}

/// Reconciles of a Kubernetes controller take milliseconds (one object,
/// a few API calls) to seconds (a slow API server).
fn duration_histogram() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

impl ReconcileMetrics {
    /// Registers `reconcile_runs_total`, `reconcile_failures_total` and
    /// `reconcile_duration_seconds` in `registry` (already prefixed).
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            runs: Family::default(),
            failures: Family::default(),
            duration: Family::new_with_constructor(duration_histogram),
        };
        registry.register("reconcile_runs", "Reconciles run", metrics.runs.clone());
        registry.register(
            "reconcile_failures",
            "Reconciles that ended in an error (retried with backoff)",
            metrics.failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "How long reconciles took",
            metrics.duration.clone(),
        );
        metrics
    }

    /// The handles of one controller, looked up once.
    pub fn controller(&self, controller: &'static str) -> ControllerMetrics {
        let label = ControllerLabel { controller };
        ControllerMetrics {
            runs: self.runs.get_or_create(&label).clone(),
            failures: self.failures.get_or_create(&label).clone(),
            duration: self.duration.get_or_create(&label).clone(),
        }
    }
}

/// One controller's reconcile metrics.
#[derive(Clone, Debug)]
pub struct ControllerMetrics {
    runs: Counter,
    failures: Counter,
    duration: Histogram,
}

/// Unregistered (tests, or a binary run without an endpoint).
impl Default for ControllerMetrics {
    fn default() -> Self {
        Self {
            runs: Counter::default(),
            failures: Counter::default(),
            duration: duration_histogram(),
        }
    }
}

impl ControllerMetrics {
    /// Counts a run and times it until the guard drops.
    pub fn start(&self) -> ReconcileTimer<'_> {
        self.runs.inc();
        ReconcileTimer {
            duration: &self.duration,
            started: Instant::now(),
        }
    }

    pub fn failed(&self) {
        self.failures.inc();
    }
}

/// Observes the reconcile's duration when dropped.
pub struct ReconcileTimer<'a> {
    duration: &'a Histogram,
    started: Instant,
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        self.duration.observe(self.started.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconcile_metrics_encode_under_the_registry_prefix() {
        let mut registry = Registry::default();
        let metrics = ReconcileMetrics::register(registry.sub_registry_with_prefix("fedway_test"));
        let gateway = metrics.controller("gateway");
        drop(gateway.start());
        drop(gateway.start());
        gateway.failed();
        drop(metrics.controller("dns").start());
        let page = registry_page(registry)();
        assert_eq!(page.content_type, OPENMETRICS);
        for line in [
            "fedway_test_reconcile_runs_total{controller=\"gateway\"} 2\n",
            "fedway_test_reconcile_runs_total{controller=\"dns\"} 1\n",
            "fedway_test_reconcile_failures_total{controller=\"gateway\"} 1\n",
            "fedway_test_reconcile_duration_seconds_count{controller=\"gateway\"} 2\n",
            "fedway_test_reconcile_duration_seconds_bucket{le=\"0.005\",controller=\"gateway\"} 2\n",
        ] {
            assert!(page.body.contains(line), "{line} not in:\n{}", page.body);
        }
        assert!(page.body.ends_with("# EOF\n"));
    }

    #[tokio::test]
    async fn endpoint_serves_metrics_health_and_404() {
        let page: PageSource = Arc::new(|| Page {
            content_type: "text/plain",
            body: "m 1\n".to_owned(),
        });
        let (address, task) = spawn(
            "127.0.0.1:0".parse().unwrap_or_else(|_| unreachable!()),
            page,
        )
        .await
        .expect("bind");
        for (path, want_status, want_body) in [
            ("/metrics", "200", "m 1\n"),
            ("/healthz", "200", "ok\n"),
            ("/other", "404", "not found\n"),
        ] {
            let response = get(address, path).await;
            let status = response.split(' ').nth(1).unwrap_or_default();
            assert_eq!(status, want_status, "{path}: {response}");
            assert!(response.ends_with(want_body), "{path}: {response}");
        }
        task.abort();
    }

    async fn get(address: SocketAddr, path: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        response
    }
}
