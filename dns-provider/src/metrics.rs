//! Prometheus metrics, in the text exposition format, served on
//! `GET /metrics` by fedway-runtime's endpoint (names documented in
//! docs/METRICS.md).

use std::{
    fmt::Write as _,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
};

use hickory_proto::op::ResponseCode;

use crate::rate_limit::Verdict;

/// The page is Prometheus's text format (written here, not by
/// prometheus-client: it samples the served state at scrape time).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

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
