//! MemberCluster: a cluster joined to the hub. Its labels drive placement;
//! its status is written by the cluster's agent (what it found) and by the
//! hub (whether its heartbeat is fresh).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::duration::Duration;

/// Condition types on a MemberCluster.
pub mod condition {
    /// The hub created the member's namespace, identity and RBAC.
    pub const JOINED: &str = "Joined";
    /// The agent's lease was renewed recently enough.
    pub const READY: &str = "Ready";
}

#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "fedway.dev",
    doc = "A cluster joined to the hub: labels drive placement, status shows health and the Gateway API implementations found there.",
    version = "v1alpha1",
    kind = "MemberCluster",
    plural = "memberclusters",
    shortname = "mc",
    category = "fedway",
    status = "MemberClusterStatus",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Kubernetes","type":"string","jsonPath":".status.kubernetesVersion"}"#,
    printcolumn = r#"{"name":"Classes","type":"string","jsonPath":".status.gatewayClasses[*].name"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct MemberClusterSpec {
    /// How the hub judges the agent's heartbeat.
    #[serde(default)]
    pub heartbeat: Heartbeat,
    /// Whether this member runs a DNS server for the global zones
    /// (fedway-dns): only then does the hub send it the DNS data, every
    /// DNSZone and DNSRecord, in its Works `fedway-dns-<i>`. Each copy
    /// holds every member's endpoints, so in a large fleet let a few
    /// members serve DNS and set this false on the others.
    #[serde(default = "default_serves_dns", rename = "servesDNS")]
    #[schemars(default = "default_serves_dns")]
    pub serves_dns: bool,
}

fn default_serves_dns() -> bool {
    true
}

impl Default for MemberClusterSpec {
    fn default() -> Self {
        MemberClusterSpec {
            heartbeat: Heartbeat::default(),
            serves_dns: default_serves_dns(),
        }
    }
}

impl MemberCluster {
    /// Whether the hub last judged its heartbeat fresh (`Ready=True`).
    pub fn is_ready(&self) -> bool {
        self.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == condition::READY && c.status == "True")
        })
    }
}

/// The agent renews a Lease in its hub namespace every `interval`; after
/// `missedBeforeNotReady` intervals without a renewal the hub marks the
/// member NotReady. Config stays on the member either way.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Heartbeat {
    /// How often the agent renews its lease.
    #[serde(default = "default_heartbeat_interval")]
    #[schemars(default = "default_heartbeat_interval")]
    pub interval: Duration,
    /// Missed renewals before the member counts as NotReady.
    #[serde(default = "default_missed")]
    #[schemars(default = "default_missed", range(min = 1, max = 100))]
    pub missed_before_not_ready: u32,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self {
            interval: default_heartbeat_interval(),
            missed_before_not_ready: default_missed(),
        }
    }
}

fn default_heartbeat_interval() -> Duration {
    Duration::parse("10s").expect("constant is a valid duration")
}

fn default_missed() -> u32 {
    4
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberClusterStatus {
    /// `Joined`, `Ready`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<Condition>,
    /// The GatewayClasses the agent found in the member.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub gateway_classes: Vec<DiscoveredGatewayClass>,
    /// The member's Kubernetes version (`v1.35.4`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    /// The version of the agent serving this member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
}

/// A GatewayClass found in the member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveredGatewayClass {
    pub name: String,
    pub controller_name: String,
    /// Whether the class's controller accepted it.
    pub accepted: bool,
    /// The Gateway API features its implementation says it supports
    /// (`status.supportedFeatures`); empty when it says nothing, which
    /// Fedway takes as unknown, not as none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 128))]
    pub supported_features: Vec<String>,
}
