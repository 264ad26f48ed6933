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
    printcolumn = r#"{"name":"Clusters","type":"string","jsonPath":".spec.clusters"}"#,
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
    /// The endpoints' clusters in one line, for `kubectl get` (a printer
    /// column shows only the first value of a list): see [`clusters`].
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 512))]
    pub clusters: String,
}

/// The longest [`DNSRecordSpec::clusters`] line before it is cut short.
const MAX_CLUSTERS_LINE: usize = 480;

/// Every endpoint's cluster, `(down)` after those the hub does not judge
/// healthy, comma-separated; past [`MAX_CLUSTERS_LINE`] characters, the
/// rest are counted instead: `eu-1, us-1 (down), … 40 more`.
pub fn clusters(endpoints: &[Endpoint]) -> String {
    let mut line = String::new();
    for (shown, endpoint) in endpoints.iter().enumerate() {
        let item = if endpoint.hub_healthy {
            endpoint.cluster_name.clone()
        } else {
            format!("{} (down)", endpoint.cluster_name)
        };
        if line.len() + item.len() + 2 > MAX_CLUSTERS_LINE {
            line.push_str(&format!(", … {} more", endpoints.len() - shown));
            break;
        }
        if !line.is_empty() {
            line.push_str(", ");
        }
        line.push_str(&item);
    }
    line
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
    /// The hub's view: member Ready and its gateway serving this hostname
    /// (Gateway and the hostname's listeners Programmed, its routes
    /// accepted and resolved there). Probes by each DNS server are combined
    /// with it.
    pub hub_healthy: bool,
}

fn default_weight() -> i64 {
    1
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn endpoint(cluster: &str, healthy: bool) -> Endpoint {
        Endpoint {
            cluster_name: cluster.into(),
            hub_healthy: healthy,
            ..Default::default()
        }
    }

    #[test]
    fn the_clusters_line_names_every_cluster_and_fits_its_schema() {
        assert_eq!(clusters(&[]), "");
        assert_eq!(
            clusters(&[endpoint("eu-1", true), endpoint("us-1", false)]),
            "eu-1, us-1 (down)"
        );
        // 1024 endpoints (the schema's most) with the longest names a
        // MemberCluster can have (63, a namespace label).
        let many: Vec<Endpoint> = (0..1024)
            .map(|i| endpoint(&format!("{i:0>63}"), i % 2 == 0))
            .collect();
        let line = clusters(&many);
        assert!(line.chars().count() <= 512, "{}", line.len());
        assert!(
            line.starts_with(&format!("{:0>63}, {:0>63} (down), ", 0, 1)),
            "{line}"
        );
        // One ", " before each cluster shown after the first, and one
        // before the count.
        let shown = line.matches(", ").count();
        assert!(
            line.ends_with(&format!(", … {} more", 1024 - shown)),
            "{line}"
        );
    }
}
