//! The agent's Prometheus metrics (prefix `fedway_agent_`, documented in
//! docs/METRICS.md).

use fedway_runtime::metrics::{
    ControllerMetrics, Counter, Gauge, ReconcileMetrics, Registry, register_all,
};

#[derive(Clone, Debug, Default)]
pub struct AgentMetrics {
    /// The Work controller.
    pub works: ControllerMetrics,
    /// Objects written to the member (server-side apply), i.e. differing
    /// from their Work; up-to-date objects are not counted.
    pub objects_applied: Counter,
    pub apply_failures: Counter,
    /// Objects whose takeover the Work's policy refused.
    pub takeovers_refused: Counter,
    /// Objects deleted or released because they left their Work.
    pub objects_removed: Counter,
    pub lease_renewals: Counter,
    pub lease_renewal_failures: Counter,
    /// Unix time of the last renewed Lease: alert when it falls behind.
    pub last_renewal_seconds: Gauge,
}

impl AgentMetrics {
    /// Metrics registered in `registry` under `fedway_agent_`.
    pub fn register(registry: &mut Registry) -> Self {
        let registry = registry.sub_registry_with_prefix("fedway_agent");
        let metrics = Self {
            works: ReconcileMetrics::register(registry).controller("work"),
            ..Self::default()
        };
        register_all(
            registry,
            &[
                (
                    "objects_applied",
                    "Objects written to the member because they differed from their Work",
                    &metrics.objects_applied,
                ),
                (
                    "apply_failures",
                    "Objects that could not be applied to the member",
                    &metrics.apply_failures,
                ),
                (
                    "takeovers_refused",
                    "Objects left alone because the Work's takeover policy refused them",
                    &metrics.takeovers_refused,
                ),
                (
                    "objects_removed",
                    "Objects deleted or released because they left their Work",
                    &metrics.objects_removed,
                ),
                (
                    "lease_renewals",
                    "Heartbeat Lease renewals in the hub",
                    &metrics.lease_renewals,
                ),
                (
                    "lease_renewal_failures",
                    "Intervals in which the Lease could not be renewed (retries included)",
                    &metrics.lease_renewal_failures,
                ),
            ],
        );
        registry.register(
            "last_renewal_timestamp_seconds",
            "Unix time of the last renewed heartbeat Lease",
            metrics.last_renewal_seconds.clone(),
        );
        metrics
    }
}
