//! The proxy's Prometheus metrics (prefix `fedway_proxy_`, documented in
//! docs/METRICS.md).
//!
//! The request path only touches plain atomic counters looked up once
//! here (responses by status class); label lookups happen on error paths
//! only. There is no per-request latency histogram: prometheus-client's
//! histogram takes a lock per observation, which the data plane's hot path
//! does not pay.

use fedway_runtime::metrics::{
    ControllerMetrics, Counter, Family, Gauge, ReconcileMetrics, Registry, register_all,
};
use prometheus_client::encoding::EncodeLabelSet;

#[derive(Debug, Default)]
pub struct ProxyMetrics {
    /// Controller passes (compute the config, hand it over, write statuses).
    pub passes: ControllerMetrics,
    pub status_writes: Counter,
    pub connections: Counter,
    pub connections_open: Gauge,
    pub tls_handshake_failures: Counter,
    /// Responses by status class: index 0 is 1xx … 4 is 5xx.
    responses: [Counter; 5],
    local_responses: Family<ReasonLabel, Counter>,
    pub spillovers: Counter,
    pub config_applies: Counter,
    pub socket_errors: Counter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

impl ProxyMetrics {
    /// Metrics registered in `registry` under `fedway_proxy_`.
    pub fn register(registry: &mut Registry) -> Self {
        let registry = registry.sub_registry_with_prefix("fedway_proxy");
        let responses_family = Family::<CodeLabel, Counter>::default();
        let metrics = Self {
            passes: ReconcileMetrics::register(registry).controller("gateway"),
            responses: CLASSES
                .map(|code| responses_family.get_or_create(&CodeLabel { code }).clone()),
            ..Self::default()
        };
        registry.register(
            "responses",
            "Responses sent to clients, by status class",
            responses_family,
        );
        registry.register(
            "local_responses",
            "Responses the proxy gave itself instead of a backend, by reason",
            metrics.local_responses.clone(),
        );
        register_all(
            registry,
            &[
                (
                    "status_writes",
                    "Status writes to GatewayClasses, Gateways and routes",
                    &metrics.status_writes,
                ),
                (
                    "connections",
                    "Client connections accepted",
                    &metrics.connections,
                ),
                (
                    "tls_handshake_failures",
                    "Client TLS handshakes that failed or timed out",
                    &metrics.tls_handshake_failures,
                ),
                (
                    "spillovers",
                    "Requests forwarded to a peer cluster's gateway (no healthy local endpoint)",
                    &metrics.spillovers,
                ),
                (
                    "config_applies",
                    "Configurations handed to the data plane",
                    &metrics.config_applies,
                ),
                (
                    "socket_errors",
                    "Listener sockets that could not be bound or set up",
                    &metrics.socket_errors,
                ),
            ],
        );
        registry.register(
            "connections_open",
            "Client connections open now",
            metrics.connections_open.clone(),
        );
        metrics
    }

    /// Counts one response sent to a client.
    pub fn response(&self, status: http::StatusCode) {
        let class = usize::from(status.as_u16() / 100).saturating_sub(1);
        if let Some(counter) = self.responses.get(class) {
            counter.inc();
        }
    }

    /// Counts a response the proxy answered itself, by `reason`.
    pub fn local_response(&self, reason: &'static str) {
        self.local_responses
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// Counts an open connection until the guard drops.
    pub fn connection(&self) -> ConnectionGuard<'_> {
        self.connections.inc();
        self.connections_open.inc();
        ConnectionGuard(&self.connections_open)
    }
}

pub struct ConnectionGuard<'a>(&'a Gauge);

impl Drop for ConnectionGuard<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_counted_by_class_and_local_ones_by_reason() {
        let mut registry = Registry::default();
        let metrics = ProxyMetrics::register(&mut registry);
        for status in [200, 204, 301, 404, 404, 503, 101] {
            metrics.response(http::StatusCode::from_u16(status).expect("status"));
        }
        metrics.local_response("no_route");
        {
            let _open = metrics.connection();
            assert_eq!(metrics.connections_open.get(), 1);
        }
        let page = (fedway_runtime::metrics::registry_page(registry))().body;
        for line in [
            "fedway_proxy_responses_total{code=\"1xx\"} 1\n",
            "fedway_proxy_responses_total{code=\"2xx\"} 2\n",
            "fedway_proxy_responses_total{code=\"3xx\"} 1\n",
            "fedway_proxy_responses_total{code=\"4xx\"} 2\n",
            "fedway_proxy_responses_total{code=\"5xx\"} 1\n",
            "fedway_proxy_local_responses_total{reason=\"no_route\"} 1\n",
            "fedway_proxy_connections_total 1\n",
            "fedway_proxy_connections_open 0\n",
            "fedway_proxy_reconcile_runs_total{controller=\"gateway\"} 0\n",
        ] {
            assert!(page.contains(line), "{line} not in:\n{page}");
        }
    }
}
