//! DNSZone: a zone Fedway's DNS servers are authoritative for.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// A DNS name (RFC 1123 labels, no trailing dot).
pub(crate) const DOMAIN_PATTERN: &str = r"^([a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?\.)*[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?$";

#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "fedway.dev",
    doc = "A zone Fedway DNS servers are authoritative for: apex, name servers with glue, SOA timers.",
    version = "v1alpha1",
    kind = "DNSZone",
    plural = "dnszones",
    category = "fedway",
    status = "DNSZoneStatus",
    printcolumn = r#"{"name":"Zone","type":"string","jsonPath":".spec.zone"}"#,
    printcolumn = r#"{"name":"Name servers","type":"string","jsonPath":".spec.nameServers[*].name"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct DNSZoneSpec {
    /// The zone apex, e.g. `global.example.com`.
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = DOMAIN_PATTERN)
    )]
    pub zone: String,
    /// The zone's NS records; names inside the zone need glue addresses.
    #[schemars(length(min = 1, max = 16))]
    pub name_servers: Vec<NameServer>,
    #[serde(default)]
    pub soa: Soa,
    /// TTL of the apex SOA and NS records, in seconds.
    #[serde(default = "default_apex_ttl")]
    #[schemars(default = "default_apex_ttl", range(min = 1, max = 86400))]
    pub ttl_seconds: u32,
}

fn default_apex_ttl() -> u32 {
    300
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct NameServer {
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = DOMAIN_PATTERN)
    )]
    pub name: String,
    /// Glue: the name server's IPv4/IPv6 addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(max = 45)))]
    #[x_kube(validation = Rule::new("self.all(a, isIP(a))").message("glue addresses must be IP addresses"))]
    pub addresses: Vec<String>,
}

/// SOA timers in seconds (RFC 1035 §3.3.13, RFC 2308 for `minimum`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Soa {
    /// Mailbox of the zone's admin, as a DNS name (`hostmaster.example.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rname: Option<String>,
    #[serde(default = "default_refresh")]
    #[schemars(default = "default_refresh", range(min = 1))]
    pub refresh: u32,
    #[serde(default = "default_retry")]
    #[schemars(default = "default_retry", range(min = 1))]
    pub retry: u32,
    #[serde(default = "default_expire")]
    #[schemars(default = "default_expire", range(min = 1))]
    pub expire: u32,
    /// Negative-caching TTL (RFC 2308).
    #[serde(default = "default_minimum")]
    #[schemars(default = "default_minimum", range(min = 0, max = 86400))]
    pub minimum: u32,
}

impl Default for Soa {
    fn default() -> Self {
        Self {
            rname: None,
            refresh: default_refresh(),
            retry: default_retry(),
            expire: default_expire(),
            minimum: default_minimum(),
        }
    }
}

fn default_refresh() -> u32 {
    3600
}
fn default_retry() -> u32 {
    600
}
fn default_expire() -> u32 {
    604_800
}
fn default_minimum() -> u32 {
    30
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct DNSZoneStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<Condition>,
}
