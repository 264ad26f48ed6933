//! `fedway-dns`: Fedway's authoritative DNS server.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context as _;
use clap::Parser;
use fedway_dns::{Config, Source, rate_limit::RateLimitConfig};

#[derive(Debug, Parser)]
#[command(
    name = "fedway-dns",
    version,
    about = "Fedway's authoritative DNS for global hostnames, with active health checks",
    long_about = "Fedway's authoritative DNS for global hostnames, with active health checks.\n\n\
        Serves the DNSZones and DNSRecords of the cluster it runs beside (hub or member; \
        in-cluster credentials, $KUBECONFIG or --kubeconfig), or of a YAML file (--file). \
        The last good state is cached on disk (--cache), so a restart while the API \
        server is down still answers."
)]
struct Cli {
    #[command(flatten)]
    log: fedway_runtime::LogArgs,
    /// Address to serve DNS on, UDP and TCP (repeatable).
    #[arg(long, default_value = "127.0.0.1:5353", value_name = "ADDRESS:PORT")]
    listen: Vec<SocketAddr>,
    /// Serve zones and records from this YAML file of DNSZone and DNSRecord
    /// objects instead of the API server; it is re-read when it changes.
    #[arg(long, value_name = "PATH", conflicts_with = "kubeconfig")]
    file: Option<PathBuf>,
    /// Kubeconfig of the cluster to read DNSZones and DNSRecords from.
    #[arg(long, value_name = "PATH")]
    kubeconfig: Option<PathBuf>,
    /// File keeping the last good state, read at start-up.
    #[arg(long, value_name = "PATH")]
    cache: Option<PathBuf>,
    /// UDP sockets per address (SO_REUSEPORT); default: one per CPU.
    #[arg(long, value_name = "N")]
    udp_sockets: Option<usize>,
    #[command(flatten)]
    metrics: fedway_runtime::metrics::MetricsArgs,
    /// UDP responses per second per client network (/24, /56); 0 disables
    /// response-rate limiting.
    #[arg(long, default_value_t = RateLimitConfig::default().rate, value_name = "N")]
    rate_limit: u32,
    /// Over the limit, every N-th response is sent truncated (so real
    /// clients retry over TCP) and the others dropped; 0 drops all.
    #[arg(long, default_value_t = RateLimitConfig::default().slip, value_name = "N")]
    rate_limit_slip: u32,
    /// Write this server's probe results into the status of the DNSPolicies
    /// behind the records (run one such server, beside the hub).
    #[arg(long, conflicts_with = "file")]
    report_policy_status: bool,
    /// Worker threads answering queries; default: one per CPU.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let mut cli = Cli::parse();
    // hickory-server logs every TCP request at info; keep that out of the
    // default logs (a filter naming hickory_server still wins).
    if !cli.log.log.contains("hickory_server") {
        cli.log.log.push_str(",hickory_server=warn");
    }
    fedway_runtime::init(&cli.log)?;
    let workers = cli
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(cli, workers))
}

async fn run(cli: Cli, workers: usize) -> anyhow::Result<()> {
    let source = match cli.file {
        Some(path) => Source::File(path),
        None => Source::Cluster(fedway_runtime::kube_client(cli.kubeconfig.as_deref()).await?),
    };
    let mut running = fedway_dns::start(Config {
        listen: cli.listen,
        udp_sockets: cli.udp_sockets.unwrap_or(workers),
        source,
        cache: cli.cache,
        metrics_listen: cli.metrics.metrics_listen,
        rate_limit: RateLimitConfig {
            rate: cli.rate_limit,
            slip: cli.rate_limit_slip,
            ..RateLimitConfig::default()
        },
        report_policy_status: cli.report_policy_status,
    })
    .await?;
    tokio::select! {
        result = running.wait() => result?,
        () = fedway_runtime::shutdown_signal() => {
            tracing::info!("shutting down");
            running.shutdown().await;
        }
    }
    Ok(())
}
