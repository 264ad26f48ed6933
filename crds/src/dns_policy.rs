//! DNSPolicy: how Fedway's DNS answers for a Gateway's hostnames: strategy,
//! TTL, health checks and the per-cluster weights, priorities and regions.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{duration::Duration, target_ref::GatewayTargetRef};

#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "fedway.dev",
    doc = "How Fedway DNS answers for a Gateway: strategy, TTL, health checks, per-cluster weights, priorities and regions.",
    version = "v1alpha1",
    kind = "DNSPolicy",
    plural = "dnspolicies",
    category = "fedway",
    namespaced,
    status = "DNSPolicyStatus",
    printcolumn = r#"{"name":"Gateway","type":"string","jsonPath":".spec.targetRefs[*].name"}"#,
    printcolumn = r#"{"name":"Strategy","type":"string","jsonPath":".spec.strategy"}"#,
    printcolumn = r#"{"name":"Accepted","type":"string","jsonPath":".status.conditions[?(@.type==\"Accepted\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct DNSPolicySpec {
    /// The Gateways (or listeners) whose hostnames this policy steers.
    #[schemars(length(min = 1, max = 16))]
    pub target_refs: Vec<GatewayTargetRef>,
    #[serde(default)]
    pub strategy: DnsStrategy,
    /// TTL of the answers, in seconds. Short TTLs make failover fast.
    #[serde(default = "default_ttl")]
    #[schemars(default = "default_ttl", range(min = 1, max = 86400))]
    pub ttl_seconds: u32,
    /// Failover priority groups: lower answers first; a group is used only
    /// when every lower group has no healthy endpoint. Unmatched clusters get
    /// priority 0. The first matching entry wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub priorities: Vec<ClusterPriority>,
    /// Weighted split between clusters. Unmatched clusters get weight 1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub weights: Vec<ClusterWeight>,
    /// Geo steering: which client networks belong to which region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<GeoSteering>,
    /// Active health checks of every endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// Answer with every endpoint when none is healthy, rather than with
    /// nothing.
    #[serde(default = "default_true")]
    #[schemars(default = "default_true")]
    pub fail_open: bool,
}

fn default_ttl() -> u32 {
    10
}

fn default_true() -> bool {
    true
}

/// How answers are chosen among healthy endpoints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DnsStrategy {
    /// Every healthy endpoint, rotated.
    #[default]
    RoundRobin,
    /// The healthy endpoints of the lowest priority group.
    Failover,
    /// One endpoint per answer, chosen by weight.
    Weighted,
    /// The healthy endpoints of the client's region, else the nearest.
    Geo,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterPriority {
    #[schemars(schema_with = "crate::schema::required_selector")]
    pub cluster_selector: LabelSelector,
    #[schemars(range(min = 0, max = 1000))]
    pub priority: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterWeight {
    #[schemars(schema_with = "crate::schema::required_selector")]
    pub cluster_selector: LabelSelector,
    /// Relative weight; 0 takes the cluster out of the split.
    #[schemars(range(min = 0, max = 1_000_000))]
    pub weight: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GeoSteering {
    /// The cluster label that names a cluster's region.
    #[serde(default = "default_region_label")]
    #[schemars(default = "default_region_label")]
    pub region_label: String,
    /// Client networks per region, matched longest prefix first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub client_regions: Vec<ClientRegion>,
    /// Region for clients no table matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_region: Option<String>,
}

fn default_region_label() -> String {
    "topology.kubernetes.io/region".into()
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.cidrs.all(c, isCIDR(c))").message("every entry of cidrs must be a CIDR such as 192.0.2.0/24 or 2001:db8::/32"))]
pub struct ClientRegion {
    #[schemars(length(min = 1, max = 63))]
    pub region: String,
    #[schemars(length(min = 1, max = 64), inner(length(max = 43)))]
    pub cidrs: Vec<String>,
}

/// An active probe of each endpoint, with hysteresis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("duration(self.timeout) <= duration(self.interval)").message("healthCheck.timeout must not exceed healthCheck.interval"))]
pub struct HealthCheck {
    #[serde(default)]
    pub protocol: ProbeProtocol,
    /// Port to probe; the listener's port when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u16>,
    /// HTTP(S) path.
    #[serde(default = "default_path")]
    #[schemars(default = "default_path", regex(pattern = r"^/"))]
    pub path: String,
    /// HTTP(S) statuses that count as healthy.
    #[serde(default = "default_statuses")]
    #[schemars(default = "default_statuses", length(min = 1, max = 16))]
    pub expected_statuses: Vec<u16>,
    #[serde(default = "default_interval")]
    #[schemars(default = "default_interval")]
    pub interval: Duration,
    #[serde(default = "default_timeout")]
    #[schemars(default = "default_timeout")]
    pub timeout: Duration,
    /// Consecutive failures that make a healthy endpoint unhealthy.
    #[serde(default = "default_failures")]
    #[schemars(default = "default_failures", range(min = 1, max = 20))]
    pub failure_threshold: u32,
    /// Consecutive successes that make an unhealthy endpoint healthy.
    #[serde(default = "default_successes")]
    #[schemars(default = "default_successes", range(min = 1, max = 20))]
    pub success_threshold: u32,
}

fn default_path() -> String {
    "/".into()
}
fn default_statuses() -> Vec<u16> {
    vec![200]
}
fn default_interval() -> Duration {
    Duration::parse("5s").expect("constant is a valid duration")
}
fn default_timeout() -> Duration {
    Duration::parse("1s").expect("constant is a valid duration")
}
fn default_failures() -> u32 {
    3
}
fn default_successes() -> u32 {
    2
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ProbeProtocol {
    #[default]
    #[serde(rename = "HTTP")]
    Http,
    #[serde(rename = "HTTPS")]
    Https,
    #[serde(rename = "TCP")]
    Tcp,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct DNSPolicyStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<Condition>,
    /// Health of each endpoint as the reporting DNS server sees it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub endpoints: Vec<EndpointHealth>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointHealth {
    pub cluster_name: String,
    pub address: String,
    pub healthy: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}
