//! DNSRecord: everything a DNS server needs to answer for one global
//! hostname, computed by the hub and replicated to every member, so each
//! member's DNS server can answer from it alone when the hub is gone.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::dns_policy::{DnsStrategy, GeoSteering, HealthCheck};

#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "fedway.dev",
    doc = "Computed by the hub for one global hostname: every candidate endpoint and the policy to answer with. Replicated to every member.",
    version = "v1alpha1",
    kind = "DNSRecord",
    plural = "dnsrecords",
    category = "fedway",
    printcolumn = r#"{"name":"Hostname","type":"string","jsonPath":".spec.hostname"}"#,
    printcolumn = r#"{"name":"Strategy","type":"string","jsonPath":".spec.strategy"}"#,
    printcolumn = r#"{"name":"Clusters","type":"string","jsonPath":".spec.endpoints[*].clusterName"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct DNSRecordSpec {
    /// The name answered for; `*.` in front makes it a wildcard.
    #[schemars(
        length(min = 1, max = 253),
        regex(
            pattern = r"^(\*\.)?([a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?$"
        )
    )]
    pub hostname: String,
    #[schemars(range(min = 1, max = 86400))]
    pub ttl_seconds: u32,
    #[serde(default)]
    pub strategy: DnsStrategy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<GeoSteering>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    #[serde(default)]
    pub fail_open: bool,
    /// The DNSPolicy this record was computed from; DNS servers beside the
    /// hub report the health they see into its status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_ref: Option<PolicyRef>,
    /// Every candidate endpoint, healthy or not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1024))]
    pub endpoints: Vec<Endpoint>,
}

/// A namespaced reference to the DNSPolicy behind a record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRef {
    #[schemars(length(min = 1, max = 63))]
    pub namespace: String,
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// The object name of the DNSRecord for `hostname`: the lowercased name,
/// with a leading `*` spelled `wildcard` (object names cannot hold `*`).
pub fn record_name(hostname: &str) -> String {
    let lower = hostname.trim_end_matches('.').to_ascii_lowercase();
    match lower.strip_prefix("*.") {
        Some(rest) => format!("wildcard.{rest}"),
        None => lower,
    }
}

/// One member cluster's gateway for this hostname.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub cluster_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The gateway's addresses in that cluster.
    #[schemars(length(min = 1, max = 16), inner(length(max = 45)))]
    #[x_kube(validation = Rule::new("self.all(a, isIP(a))").message("endpoint addresses must be IP addresses"))]
    pub addresses: Vec<String>,
    #[serde(default = "default_weight")]
    #[schemars(default = "default_weight", range(min = 0, max = 1_000_000))]
    pub weight: i64,
    #[serde(default)]
    #[schemars(range(min = 0, max = 1000))]
    pub priority: u32,
    /// The hub's view: member Ready and gateway Programmed. Probes by each
    /// DNS server are combined with it.
    pub hub_healthy: bool,
}

fn default_weight() -> i64 {
    1
}

#[cfg(test)]
mod tests {
    use super::record_name;

    #[test]
    fn record_names_are_valid_object_names() {
        for (hostname, name) in [
            ("shop.global.example.com", "shop.global.example.com"),
            ("Shop.Global.Example.COM.", "shop.global.example.com"),
            ("*.shop.example.com", "wildcard.shop.example.com"),
        ] {
            assert_eq!(record_name(hostname), name, "{hostname}");
        }
    }
}
