//! The hub's Prometheus metrics (prefix `fedway_hub_`, documented in
//! docs/METRICS.md).

use fedway_runtime::metrics::{
    ControllerMetrics, Counter, Family, Gauge, ReconcileMetrics, Registry, register_all,
};
use prometheus_client::encoding::EncodeLabelSet;

#[derive(Clone, Debug, Default)]
pub struct HubMetrics {
    /// The Gateway controller (placement, Works, aggregated status).
    pub gateways: ControllerMetrics,
    /// Passes of the global DNS publisher (DNSRecords and their Works).
    pub dns: ControllerMetrics,
    pub works_written: Counter,
    pub works_deleted: Counter,
    pub dns_records_written: Counter,
    pub dns_records_deleted: Counter,
    /// 1 Ready, 0 NotReady, per member, as last judged by this replica.
    pub member_ready: Family<MemberLabel, Gauge>,
    /// 1 while this replica holds the leader Lease.
    pub leader: Gauge,
    /// Bytes of DNS data (DNSZones and DNSRecords as JSON) each member that
    /// serves DNS receives, and in how many Works.
    pub dns_data_bytes: Gauge,
    pub dns_works: Gauge,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MemberLabel {
    pub member: String,
}

impl HubMetrics {
    /// Metrics registered in `registry` under `fedway_hub_`.
    pub fn register(registry: &mut Registry) -> Self {
        let registry = registry.sub_registry_with_prefix("fedway_hub");
        let reconciles = ReconcileMetrics::register(registry);
        let metrics = Self {
            gateways: reconciles.controller("gateway"),
            dns: reconciles.controller("dns"),
            ..Self::default()
        };
        register_all(
            registry,
            &[
                (
                    "works_written",
                    "Works created or changed in member namespaces",
                    &metrics.works_written,
                ),
                (
                    "works_deleted",
                    "Works deleted (a Gateway unplaced or deleted)",
                    &metrics.works_deleted,
                ),
                (
                    "dns_records_written",
                    "DNSRecords created or changed",
                    &metrics.dns_records_written,
                ),
                (
                    "dns_records_deleted",
                    "DNSRecords deleted (a hostname no longer published)",
                    &metrics.dns_records_deleted,
                ),
            ],
        );
        registry.register(
            "member_ready",
            "Whether a member is Ready (1) or not (0), from its agent's heartbeats",
            metrics.member_ready.clone(),
        );
        register_all(
            registry,
            &[
                (
                    "dns_data_bytes",
                    "Bytes of DNS data (DNSZones and DNSRecords) in each DNS-serving member's Works",
                    &metrics.dns_data_bytes,
                ),
                (
                    "dns_works",
                    "Works (fedway-dns-<i>) the DNS data of each DNS-serving member is cut into",
                    &metrics.dns_works,
                ),
                (
                    "leader",
                    "Whether this replica holds the leader Lease",
                    &metrics.leader,
                ),
            ],
        );
        metrics
    }

    pub fn set_member_ready(&self, member: &str, ready: bool) {
        self.member_ready
            .get_or_create(&MemberLabel {
                member: member.to_owned(),
            })
            .set(i64::from(ready));
    }
}
