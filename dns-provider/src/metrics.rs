//! Prometheus metrics, in the text exposition format, served on
//! `GET /metrics` (names documented in docs/METRICS.md).

use std::{
    fmt::Write as _,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use hickory_proto::op::ResponseCode;
use http_body_util::Full;
use hyper::{Request, Response, body::Bytes, service::service_fn};
use hyper_util::rt::TokioIo;

use crate::rate_limit::Verdict;

/// The rcodes counted separately; anything else is `other`.
const RCODES: [(ResponseCode, &str); 7] = [
    (ResponseCode::NoError, "NOERROR"),
    (ResponseCode::NXDomain, "NXDOMAIN"),
    (ResponseCode::Refused, "REFUSED"),
    (ResponseCode::FormErr, "FORMERR"),
    (ResponseCode::NotImp, "NOTIMP"),
    (ResponseCode::ServFail, "SERVFAIL"),
    (ResponseCode::BADVERS, "BADVERS"),
];

#[derive(Default)]
pub struct Metrics {
    responses: [AtomicU64; RCODES.len() + 1],
    dropped: AtomicU64,
    slipped: AtomicU64,
    /// Whether the last attempt to read inputs from the API server worked.
    pub source_up: AtomicBool,
    pub input_updates: AtomicU64,
}

impl Metrics {
    pub fn answered(&self, rcode: ResponseCode) {
        let index = RCODES
            .iter()
            .position(|(code, _)| *code == rcode)
            .unwrap_or(RCODES.len());
        self.responses[index].fetch_add(1, Ordering::Relaxed);
    }

    pub fn rate_limited(&self, verdict: Verdict) {
        match verdict {
            Verdict::Allow => {}
            Verdict::Drop => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Verdict::Slip => {
                self.slipped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn responses(&self, rcode: &str) -> u64 {
        RCODES
            .iter()
            .position(|(_, name)| *name == rcode)
            .map_or(0, |i| self.responses[i].load(Ordering::Relaxed))
    }
}

/// One probed address, as the metrics page shows it.
pub struct EndpointSample {
    pub hostname: String,
    pub cluster: String,
    pub address: String,
    pub state: &'static str,
}

/// Everything the page shows beyond the counters.
#[derive(Default)]
pub struct Snapshot {
    pub serials: Vec<(String, u32)>,
    pub records: usize,
    pub skipped: usize,
    pub endpoints: Vec<EndpointSample>,
}

pub fn render(metrics: &Metrics, snapshot: &Snapshot) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP fedway_dns_responses_total DNS responses sent, by rcode.\n# TYPE fedway_dns_responses_total counter"
    );
    for (index, name) in RCODES
        .iter()
        .map(|(_, name)| *name)
        .chain(["other"])
        .enumerate()
    {
        let value = metrics.responses[index].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "fedway_dns_responses_total{{rcode=\"{name}\"}} {value}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP fedway_dns_rate_limited_total UDP responses withheld by response-rate limiting.\n# TYPE fedway_dns_rate_limited_total counter"
    );
    let _ = writeln!(
        out,
        "fedway_dns_rate_limited_total{{action=\"drop\"}} {}\nfedway_dns_rate_limited_total{{action=\"slip\"}} {}",
        metrics.dropped.load(Ordering::Relaxed),
        metrics.slipped.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP fedway_dns_source_up Whether the last read of DNSZones and DNSRecords succeeded.\n# TYPE fedway_dns_source_up gauge\nfedway_dns_source_up {}",
        u8::from(metrics.source_up.load(Ordering::Relaxed))
    );
    let _ = writeln!(
        out,
        "# HELP fedway_dns_input_updates_total Times the served zones were rebuilt.\n# TYPE fedway_dns_input_updates_total counter\nfedway_dns_input_updates_total {}",
        metrics.input_updates.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP fedway_dns_records DNSRecords served.\n# TYPE fedway_dns_records gauge\nfedway_dns_records {}\n# HELP fedway_dns_skipped_inputs DNSZones and DNSRecords left out (see logs).\n# TYPE fedway_dns_skipped_inputs gauge\nfedway_dns_skipped_inputs {}",
        snapshot.records, snapshot.skipped
    );
    let _ = writeln!(
        out,
        "# HELP fedway_dns_zone_serial SOA serial served per zone.\n# TYPE fedway_dns_zone_serial gauge"
    );
    for (zone, serial) in &snapshot.serials {
        let _ = writeln!(
            out,
            "fedway_dns_zone_serial{{zone=\"{}\"}} {serial}",
            escape(zone)
        );
    }
    let _ = writeln!(
        out,
        "# HELP fedway_dns_endpoint_healthy Probe result per endpoint address: 1 healthy, 0 unhealthy, -1 not probed yet.\n# TYPE fedway_dns_endpoint_healthy gauge"
    );
    for endpoint in &snapshot.endpoints {
        let value = match endpoint.state {
            "Healthy" => 1,
            "Unhealthy" => 0,
            _ => -1,
        };
        let _ = writeln!(
            out,
            "fedway_dns_endpoint_healthy{{hostname=\"{}\",cluster=\"{}\",address=\"{}\"}} {value}",
            escape(&endpoint.hostname),
            escape(&endpoint.cluster),
            escape(&endpoint.address)
        );
    }
    out
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Serves `GET /metrics` (and `/healthz`) until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, page: Arc<dyn Fn() -> String + Send + Sync>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let page = page.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let page = page.clone();
                async move {
                    let (status, body) = match request.uri().path() {
                        "/metrics" => (200, page()),
                        "/healthz" => (200, "ok\n".to_owned()),
                        _ => (404, "not found\n".to_owned()),
                    };
                    Response::builder()
                        .status(status)
                        .header("content-type", "text/plain; version=0.0.4")
                        .body(Full::new(Bytes::from(body)))
                }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(5))
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(std::time::Duration::from_secs(30), connection).await;
        });
    }
}

/// Binds the metrics listener.
pub async fn bind(address: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address).await
}
