//! Which DNSRecords the hub publishes, and what each DNSPolicy is told about
//! it. Pure: the global DNS reconciler (`dns.rs`) gathers the inputs from
//! its watches and writes the result.
//!
//! ```text
//!  DNSPolicy.targetRefs ─> Gateway listeners ─> hostnames ─┐
//!  listeners no policy names ──(RoundRobin defaults)───────┤ in a DNSZone?
//!                                                          ▼
//!                            one claim per (hostname, policy, Gateway)
//!                            one winner per record name (oldest policy first)
//!                                                          ▼
//!  MemberClusters (labels, Ready) + member reports ─> endpoints, per cluster
//! ```
//!
//! Decisions worth knowing:
//! - A listener hostname that no DNSPolicy names is still published, with the
//!   DNSPolicy defaults (RoundRobin, TTL 10 s, fail-open, no health check):
//!   a Gateway in one of Fedway's zones answers in DNS without extra objects.
//!   Such claims always lose to claims made by a policy.
//! - Claims for one record name are ranked by the policy's age (then
//!   namespace and name), then the Gateway's age (then namespace and name).
//!   Ranking by the policy first means a new policy never steals a hostname
//!   an existing one already publishes.
//! - A member whose copy has never had an IP address is left out: an
//!   endpoint without an address cannot be answered with (and the DNSRecord
//!   schema requires one).
//! - A member whose copy reports no address now, but was published before,
//!   keeps its last published addresses, marked not hub-healthy. A missing
//!   address usually means a missing report (the member's API server is
//!   unreachable, its agent's last apply failed) rather than a gateway that
//!   truly lost its address, and the hub cannot tell the two apart; so losing
//!   sight of a member never removes its endpoint, it only marks it down.
//!   The endpoint goes when the Gateway is no longer placed there.
//! - Hub health is per hostname: a member is healthy for a hostname when it
//!   is Ready, its copy of the Gateway is programmed, every listener with
//!   that hostname is programmed, and no route serving the hostname is
//!   refused or unresolved there (a backend Service missing in that member,
//!   say). So one broken route takes that member out of DNS for its
//!   hostnames only.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
};

use fedway_crds::{
    DNSPolicy, DNSRecordSpec, DNSZone, MemberCluster,
    dns_policy::DnsStrategy,
    dns_record::{Endpoint, PolicyRef},
    record_name, selector,
    target_ref::GatewayTargetRef,
    work::Manifest,
    work::ObjectIdentity,
};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use serde_json::{Value, json};

use crate::{
    gateway_check::in_zone,
    work_builder::{self, ObjectKey, str_at},
};

/// The MemberCluster label naming its region when the policy names none.
pub const DEFAULT_REGION_LABEL: &str = "topology.kubernetes.io/region";
/// Bounds of the DNSRecord schema.
const MAX_ENDPOINTS: usize = 1024;
const MAX_ADDRESSES: usize = 16;
/// Longest object name Kubernetes accepts.
const MAX_OBJECT_NAME: usize = 253;
/// What a hostname no DNSPolicy names is published with (the DNSPolicy
/// defaults).
const DEFAULT_TTL: u32 = 10;

/// What one member reports about its copy of a hub Gateway.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberGateway {
    pub cluster: String,
    /// The member's implementation says `Programmed=True`.
    pub programmed: bool,
    /// Addresses in the copy's status (IPs or hostnames; only IPs are used).
    pub addresses: Vec<String>,
    /// Listeners the implementation reports with `Programmed` not True.
    pub failing_listeners: BTreeSet<String>,
    /// Routes refused or unresolved there for this Gateway.
    pub failing_routes: BTreeSet<RouteId>,
}

/// Names a route (HTTPRoute, GRPCRoute, ...) in the hub, as in members.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RouteId {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl From<&ObjectIdentity> for RouteId {
    fn from(identity: &ObjectIdentity) -> Self {
        RouteId {
            kind: identity.kind.clone(),
            namespace: identity.namespace.clone().unwrap_or_default(),
            name: identity.name.clone(),
        }
    }
}

impl RouteId {
    fn of(route: &Value) -> RouteId {
        RouteId {
            kind: str_at(route, &["kind"]).to_owned(),
            namespace: str_at(route, &["metadata", "namespace"]).to_owned(),
            name: str_at(route, &["metadata", "name"]).to_owned(),
        }
    }
}

/// A hub Gateway of a Fedway class, with every member it is placed in.
#[derive(Clone, Debug)]
pub struct PlacedGateway<'a> {
    pub gateway: &'a Value,
    /// The ListenerSets attached to it: their listeners publish hostnames
    /// as the Gateway's own do.
    pub listener_sets: Vec<&'a Value>,
    pub members: Vec<MemberGateway>,
}

/// A listener of a placed Gateway or of one of its ListenerSets.
struct OwnedListener<'a> {
    /// See [`listener_id`].
    id: String,
    /// `Gateway` or `ListenerSet`, and which: what routes' parentRefs name.
    owner_kind: &'static str,
    owner: ObjectKey,
    listener: &'a Value,
}

/// How a listener is named in claims and member reports: a Gateway's by
/// its name, a ListenerSet's as `namespace/set/listener` (a listener name
/// has no `/`, so the two never collide).
pub fn listener_id(owner_kind: &str, owner: &ObjectKey, listener: &str) -> String {
    if owner_kind == "ListenerSet" {
        format!("{owner}/{listener}")
    } else {
        listener.to_owned()
    }
}

/// The Gateway's listeners, then its ListenerSets'.
fn owned_listeners<'a>(placed: &PlacedGateway<'a>) -> Vec<OwnedListener<'a>> {
    let owners = std::iter::once(("Gateway", placed.gateway))
        .chain(placed.listener_sets.iter().map(|set| ("ListenerSet", *set)));
    owners
        .flat_map(|(owner_kind, owner)| {
            let key = ObjectKey::of(owner);
            owner["spec"]["listeners"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |listener| OwnedListener {
                    id: listener_id(owner_kind, &key, str_at(listener, &["name"])),
                    owner_kind,
                    owner: key.clone(),
                    listener,
                })
        })
        .collect()
}

/// Everything the records are computed from.
pub struct Inputs<'a> {
    pub gateways: &'a [PlacedGateway<'a>],
    /// The hub's HTTPRoutes and GRPCRoutes: a listener without a hostname
    /// publishes the hostnames of the routes attached to it.
    pub routes: &'a [Value],
    pub policies: &'a [DNSPolicy],
    /// The apexes of the DNSZones.
    pub zones: &'a [String],
    pub members: &'a [MemberCluster],
    /// The records published before, by object name.
    pub previous: &'a BTreeMap<String, DNSRecordSpec>,
}

/// The `Accepted` condition a DNSPolicy gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub accepted: bool,
    pub reason: &'static str,
    pub message: String,
}

/// The result: records by object name, and a verdict for every policy by
/// `(namespace, name)`.
#[derive(Debug, Default)]
pub struct Computed {
    pub records: BTreeMap<String, DNSRecordSpec>,
    pub policies: BTreeMap<(String, String), Verdict>,
}

/// One listener's hostname wanted in DNS.
struct Claim<'a> {
    hostname: String,
    record: String,
    policy: Option<&'a DNSPolicy>,
    gateway: &'a PlacedGateway<'a>,
    listener: String,
    /// Further listeners of the Gateway with this hostname (ports 80 and
    /// 443, say): a member serves the hostname only if all of them work.
    also: Vec<String>,
    /// The hostname comes from a route, not the listener.
    from_route: bool,
}

/// What happened to one policy's hostnames.
#[derive(Default)]
struct Notes {
    targets_found: usize,
    published: BTreeSet<String>,
    problems: Vec<String>,
    conflicts: Vec<String>,
}

/// Computes every DNSRecord and every policy's verdict.
pub fn compute(inputs: &Inputs<'_>) -> Computed {
    let mut notes: BTreeMap<(String, String), Notes> = BTreeMap::new();
    let mut claims: Vec<Claim<'_>> = Vec::new();
    // Listeners some policy names, as (gateway index, listener name).
    let mut covered: BTreeSet<(usize, String)> = BTreeSet::new();

    for policy in inputs.policies {
        let namespace = policy.namespace().unwrap_or_default();
        let note = notes.entry(policy_key(policy)).or_default();
        for target in &policy.spec.target_refs {
            if target.group != GatewayTargetRef::GROUP || target.kind != GatewayTargetRef::KIND {
                note.problems.push(format!(
                    "target {}/{} {} is not a Gateway",
                    target.group, target.kind, target.name
                ));
                continue;
            }
            let found = inputs.gateways.iter().enumerate().find(|(_, g)| {
                str_at(g.gateway, &["metadata", "namespace"]) == namespace
                    && str_at(g.gateway, &["metadata", "name"]) == target.name
            });
            let Some((index, placed)) = found else {
                note.problems.push(format!(
                    "Gateway {namespace}/{} is not a Gateway of a Fedway class",
                    target.name
                ));
                continue;
            };
            note.targets_found += 1;
            let gateway = gateway_key(placed.gateway);
            let listeners: Vec<ListenerHostname> = listeners(placed, inputs.routes)
                .into_iter()
                .filter(|l| {
                    target
                        .section_name
                        .as_ref()
                        .is_none_or(|s| *s == l.listener)
                })
                .collect();
            if let (Some(section), true) = (&target.section_name, listeners.is_empty()) {
                note.problems
                    .push(format!("Gateway {gateway} has no listener {section:?}"));
            }
            for ListenerHostname {
                listener,
                hostname,
                from_route,
            } in listeners
            {
                covered.insert((index, listener.clone()));
                let Some(hostname) = hostname else {
                    note.problems.push(format!(
                        "listener {listener:?} of Gateway {gateway} has no hostname, nor do the routes attached to it, so no DNS record"
                    ));
                    continue;
                };
                match publishable(&hostname, inputs.zones) {
                    Ok((hostname, record)) => claims.push(Claim {
                        hostname,
                        record,
                        policy: Some(policy),
                        gateway: placed,
                        listener,
                        also: Vec::new(),
                        from_route,
                    }),
                    Err(why) => note.problems.push(why),
                }
            }
        }
    }
    for (index, placed) in inputs.gateways.iter().enumerate() {
        for ListenerHostname {
            listener,
            hostname,
            from_route,
        } in listeners(placed, inputs.routes)
        {
            if covered.contains(&(index, listener.clone())) {
                continue;
            }
            // Without a policy there is nobody to tell why a hostname is not
            // published; the Gateway's own Accepted condition already
            // reports hostnames outside every zone.
            if let Some(Ok((hostname, record))) = hostname.map(|h| publishable(&h, inputs.zones)) {
                claims.push(Claim {
                    hostname,
                    record,
                    policy: None,
                    gateway: placed,
                    listener,
                    also: Vec::new(),
                    from_route,
                });
            }
        }
    }

    claims.sort_by(|a, b| a.record.cmp(&b.record).then_with(|| rank(a).cmp(&rank(b))));
    // Two listeners of one Gateway with one hostname (ports 80 and 443, say)
    // are one claim, not a conflict.
    claims.dedup_by(|later, earlier| {
        let same = later.record == earlier.record
            && later.hostname == earlier.hostname
            && same_policy(later.policy, earlier.policy)
            && std::ptr::eq(later.gateway, earlier.gateway);
        if same && later.listener != earlier.listener {
            earlier.also.push(std::mem::take(&mut later.listener));
        }
        same
    });

    let mut computed = Computed::default();
    for group in claims.chunk_by(|a, b| a.record == b.record) {
        let Some((winner, losers)) = group.split_first() else {
            continue;
        };
        computed
            .records
            .insert(winner.record.clone(), record(winner, inputs));
        if let Some(policy) = winner.policy {
            notes
                .entry(policy_key(policy))
                .or_default()
                .published
                .insert(winner.hostname.clone());
        }
        for loser in losers {
            let Some(policy) = loser.policy else { continue };
            notes
                .entry(policy_key(policy))
                .or_default()
                .conflicts
                .push(format!(
                    "{} (listener {:?} of Gateway {}) is published for {} instead, which claimed it first",
                    loser.hostname,
                    loser.listener,
                    gateway_key(loser.gateway.gateway),
                    describe(winner),
                ));
        }
    }
    computed.policies = notes
        .into_iter()
        .map(|(key, note)| (key, verdict(note)))
        .collect();
    computed
}

/// The Work manifests that carry the whole picture to a member: every
/// DNSZone, then every DNSRecord, each by name, in a stable order.
pub fn work_manifests(
    zones: &[DNSZone],
    records: &BTreeMap<String, DNSRecordSpec>,
) -> Vec<Manifest> {
    let mut zones: Vec<&DNSZone> = zones.iter().collect();
    zones.sort_by_key(|z| z.name_any());
    let zones = zones.into_iter().map(|zone| {
        manifest(
            "DNSZone",
            &zone.name_any(),
            serde_json::to_value(&zone.spec).unwrap_or_default(),
        )
    });
    let records = records.iter().map(|(name, spec)| {
        manifest(
            "DNSRecord",
            name,
            serde_json::to_value(spec).unwrap_or_default(),
        )
    });
    zones.chain(records).collect()
}

fn manifest(kind: &str, name: &str, spec: Value) -> Manifest {
    let object = json!({
        "apiVersion": format!("{}/{}", fedway_crds::GROUP, fedway_crds::VERSION),
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    });
    match object {
        Value::Object(map) => Manifest(map),
        _ => Manifest::default(),
    }
}

/// The normalized hostname and its record's object name, or why it cannot
/// be published.
fn publishable(hostname: &str, zones: &[String]) -> Result<(String, String), String> {
    let hostname = hostname.trim_end_matches('.').to_ascii_lowercase();
    let record = record_name(&hostname);
    if record.len() > MAX_OBJECT_NAME {
        return Err(format!(
            "{hostname} is too long for a DNSRecord name ({} characters, at most {MAX_OBJECT_NAME})",
            record.len()
        ));
    }
    if !zones.iter().any(|zone| in_zone(&hostname, zone)) {
        let zones = if zones.is_empty() {
            "there are no DNSZones".to_owned()
        } else {
            format!("zones: {}", zones.join(", "))
        };
        return Err(format!("{hostname} is in no DNSZone ({zones})"));
    }
    Ok((hostname, record))
}

/// One hostname a listener publishes (`None`: it has none).
struct ListenerHostname {
    listener: String,
    hostname: Option<String>,
    /// Taken from a route attached to it: such a claim ranks below a
    /// listener's own hostname.
    from_route: bool,
}

/// Each listener's hostnames (the Gateway's and its ListenerSets'): its
/// own, or — a listener without one takes every hostname — those of the
/// routes [`attached`] to it.
fn listeners(placed: &PlacedGateway<'_>, routes: &[Value]) -> Vec<ListenerHostname> {
    let mut out = Vec::new();
    for owned in owned_listeners(placed) {
        if let Some(hostname) = owned.listener["hostname"]
            .as_str()
            .filter(|h| !h.is_empty())
        {
            out.push(ListenerHostname {
                listener: owned.id,
                hostname: Some(hostname.to_owned()),
                from_route: false,
            });
            continue;
        }
        let from_routes: BTreeSet<&str> = routes
            .iter()
            .filter(|route| attached(route, &owned))
            .flat_map(|route| route["spec"]["hostnames"].as_array().into_iter().flatten())
            .filter_map(|h| h.as_str().filter(|h| !h.is_empty()))
            .collect();
        if from_routes.is_empty() {
            out.push(ListenerHostname {
                listener: owned.id.clone(),
                hostname: None,
                from_route: false,
            });
        }
        out.extend(from_routes.into_iter().map(|h| ListenerHostname {
            listener: owned.id.clone(),
            hostname: Some(h.to_owned()),
            from_route: true,
        }));
    }
    out
}

/// Whether `route` attaches to the listener: a parentRef to its Gateway or
/// ListenerSet naming this listener or none, this port or none, from a
/// namespace the listener's `allowedRoutes` admits (its owner's own by
/// default, any with `from: All`; a namespace selector is not evaluated
/// here, so it admits the owner's own only).
fn attached(route: &Value, owned: &OwnedListener<'_>) -> bool {
    let listener = owned.listener;
    let any_namespace = listener["allowedRoutes"]["namespaces"]["from"] == "All";
    let route_namespace = str_at(route, &["metadata", "namespace"]);
    (any_namespace || route_namespace == owned.owner.namespace)
        && route["spec"]["parentRefs"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| {
                work_builder::parent_is(p, route_namespace, owned.owner_kind, &owned.owner)
                    && p["sectionName"]
                        .as_str()
                        .is_none_or(|s| s == str_at(listener, &["name"]))
                    && p["port"]
                        .as_u64()
                        .is_none_or(|port| Some(port) == listener["port"].as_u64())
            })
}

/// The routes that serve the claim's hostname: attached to one of its
/// listeners, with no hostnames (they take the listener's) or one that
/// names it, or a wildcard that covers it. A route for one name under a
/// wildcard listener (`a.example.com` under `*.example.com`) is not counted
/// for the wildcard's record: one such route failing must not take every
/// name under the wildcard out of a member.
fn serving<'r>(claim: &Claim<'_>, routes: &'r [Value]) -> impl Iterator<Item = &'r Value> {
    let listeners: Vec<OwnedListener<'_>> = owned_listeners(claim.gateway)
        .into_iter()
        .filter(|l| l.id == claim.listener || claim.also.contains(&l.id))
        .collect();
    routes.iter().filter(move |route| {
        listeners.iter().any(|l| attached(route, l))
            && route["spec"]["hostnames"]
                .as_array()
                .is_none_or(|hostnames| {
                    hostnames.is_empty()
                        || hostnames.iter().filter_map(Value::as_str).any(|h| {
                            let h = h.trim_end_matches('.').to_ascii_lowercase();
                            h == claim.hostname
                                || h.strip_prefix('*').is_some_and(|suffix| {
                                    !claim.hostname.starts_with('*')
                                        && claim.hostname.ends_with(suffix)
                                })
                        })
                })
    })
}

/// Whether the member serves the claim's hostname, as far as its report
/// tells: the Gateway and every listener with the hostname are programmed
/// there, and no route serving the hostname is refused or unresolved there.
fn serves(report: &MemberGateway, claim: &Claim<'_>, routes: &[Value]) -> bool {
    report.programmed
        && !std::iter::once(&claim.listener)
            .chain(&claim.also)
            .any(|l| report.failing_listeners.contains(l))
        && !serving(claim, routes).any(|r| report.failing_routes.contains(&RouteId::of(r)))
}

fn listener_port(placed: &PlacedGateway<'_>, id: &str) -> Option<u16> {
    owned_listeners(placed)
        .into_iter()
        .find(|l| l.id == id)
        .and_then(|l| l.listener["port"].as_u64())
        .and_then(|port| u16::try_from(port).ok())
}

/// Ranks claims for one record: policies before none, older first, then by
/// name; among one policy's Gateways, older first, then by name.
type Rank = (
    bool,
    Option<Timestamp>,
    String,
    String,
    bool,
    Option<Timestamp>,
    String,
    String,
);

fn rank(claim: &Claim<'_>) -> Rank {
    let (policy_created, policy_namespace, policy_name) = match claim.policy {
        Some(p) => (
            p.creation_timestamp().map(|t| t.0),
            p.namespace().unwrap_or_default(),
            p.name_any(),
        ),
        None => (None, String::new(), String::new()),
    };
    let gateway = claim.gateway.gateway;
    (
        claim.policy.is_none(),
        policy_created,
        policy_namespace,
        policy_name,
        claim.from_route,
        str_at(gateway, &["metadata", "creationTimestamp"])
            .parse::<Timestamp>()
            .ok(),
        str_at(gateway, &["metadata", "namespace"]).to_owned(),
        str_at(gateway, &["metadata", "name"]).to_owned(),
    )
}

fn same_policy(a: Option<&DNSPolicy>, b: Option<&DNSPolicy>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => std::ptr::eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

fn policy_key(policy: &DNSPolicy) -> (String, String) {
    (policy.namespace().unwrap_or_default(), policy.name_any())
}

fn gateway_key(gateway: &Value) -> String {
    format!(
        "{}/{}",
        str_at(gateway, &["metadata", "namespace"]),
        str_at(gateway, &["metadata", "name"])
    )
}

fn describe(claim: &Claim<'_>) -> String {
    let gateway = gateway_key(claim.gateway.gateway);
    match claim.policy {
        Some(p) => {
            let (namespace, name) = policy_key(p);
            format!("DNSPolicy {namespace}/{name} (Gateway {gateway})")
        }
        None => format!("Gateway {gateway} (no DNSPolicy)"),
    }
}

fn record(claim: &Claim<'_>, inputs: &Inputs<'_>) -> DNSRecordSpec {
    let spec = claim.policy.map(|p| &p.spec);
    let region_label = spec
        .and_then(|s| s.geo.as_ref())
        .map_or(DEFAULT_REGION_LABEL, |g| g.region_label.as_str());
    let previous = inputs.previous.get(&claim.record);
    let mut reports: Vec<&MemberGateway> = claim.gateway.members.iter().collect();
    reports.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    reports.dedup_by(|a, b| a.cluster == b.cluster);
    let endpoints = reports
        .into_iter()
        .filter_map(|report| {
            // A member that left the federation has no endpoint.
            let member = inputs
                .members
                .iter()
                .find(|m| m.name_any() == report.cluster)?;
            let ready = member.is_ready();
            let mut hub_healthy = ready && serves(report, claim, inputs.routes);
            let mut addresses: Vec<String> = report
                .addresses
                .iter()
                .filter_map(|a| a.parse::<IpAddr>().ok())
                .map(|ip| ip.to_string())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .take(MAX_ADDRESSES)
                .collect();
            if addresses.is_empty() {
                addresses = previous?
                    .endpoints
                    .iter()
                    .find(|e| e.cluster_name == report.cluster)?
                    .addresses
                    .clone();
                hub_healthy = false;
            }
            let labels = member.labels();
            Some(Endpoint {
                cluster_name: report.cluster.clone(),
                region: labels.get(region_label).cloned(),
                addresses,
                weight: spec
                    .and_then(|s| {
                        s.weights
                            .iter()
                            .find(|w| selector::matches(&w.cluster_selector, labels))
                    })
                    .map_or(1, |w| w.weight),
                priority: spec
                    .and_then(|s| {
                        s.priorities
                            .iter()
                            .find(|p| selector::matches(&p.cluster_selector, labels))
                    })
                    .map_or(0, |p| p.priority),
                hub_healthy,
            })
        })
        .take(MAX_ENDPOINTS)
        .collect::<Vec<_>>();
    DNSRecordSpec {
        clusters: fedway_crds::dns_record::clusters(&endpoints),
        hostname: claim.hostname.clone(),
        ttl_seconds: spec.map_or(DEFAULT_TTL, |s| s.ttl_seconds),
        strategy: spec.map_or(DnsStrategy::RoundRobin, |s| s.strategy),
        geo: spec.and_then(|s| s.geo.clone()),
        // The check's port defaults to the port of the listener the
        // hostname came from, as the DNSPolicy documents.
        health_check: spec.and_then(|s| s.health_check.clone()).map(|mut check| {
            if check.port.is_none() {
                check.port = listener_port(claim.gateway, &claim.listener);
            }
            check
        }),
        fail_open: spec.is_none_or(|s| s.fail_open),
        policy_ref: claim.policy.map(|p| {
            let (namespace, name) = policy_key(p);
            PolicyRef { namespace, name }
        }),
        endpoints,
    }
}

fn verdict(note: Notes) -> Verdict {
    let published: Vec<String> = note.published.into_iter().collect();
    let why_not: Vec<String> = note
        .problems
        .iter()
        .chain(&note.conflicts)
        .cloned()
        .collect();
    let (accepted, reason) = if !published.is_empty() {
        (true, "Accepted")
    } else if note.targets_found == 0 {
        (false, "TargetNotFound")
    } else if note.problems.is_empty() && !note.conflicts.is_empty() {
        (false, "Conflicted")
    } else {
        (false, "Invalid")
    };
    let mut message = if published.is_empty() {
        "publishes no hostname".to_owned()
    } else {
        format!("publishes {}", published.join(", "))
    };
    if !why_not.is_empty() {
        message.push_str(if published.is_empty() {
            ": "
        } else {
            "; not: "
        });
        message.push_str(&why_not.join("; "));
    }
    Verdict {
        accepted,
        reason,
        message,
    }
}

#[cfg(test)]
mod tests {
    use fedway_crds::{
        DNSPolicySpec, DNSZoneSpec, MemberClusterSpec,
        dns_policy::{ClusterPriority, ClusterWeight, GeoSteering, HealthCheck},
        member_cluster::MemberClusterStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
    use kube::api::ObjectMeta;

    use super::*;

    const ZONE: &str = "global.example.com";
    const REGION: &str = "topology.kubernetes.io/region";

    fn at(seconds: i64) -> Option<Time> {
        Some(Time(
            Timestamp::from_second(1_800_000_000 + seconds).expect("a valid timestamp"),
        ))
    }

    fn gateway(name: &str, created: i64, listeners: Value) -> Value {
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": name, "namespace": "web",
                         "creationTimestamp": at(created).map(|t| t.0.to_string())},
            "spec": {"gatewayClassName": "fedway", "listeners": listeners},
        })
    }

    fn listener(name: &str, hostname: Option<&str>) -> Value {
        let mut l = json!({"name": name, "port": 80, "protocol": "HTTP"});
        if let Some(h) = hostname {
            l["hostname"] = h.into();
        }
        l
    }

    fn report(cluster: &str, programmed: bool, addresses: &[&str]) -> MemberGateway {
        MemberGateway {
            cluster: cluster.into(),
            programmed,
            addresses: addresses.iter().map(|a| (*a).to_owned()).collect(),
            ..MemberGateway::default()
        }
    }

    fn member(name: &str, region: Option<&str>, ready: bool) -> MemberCluster {
        let mut m = MemberCluster::new(name, MemberClusterSpec::default());
        m.metadata.labels = region.map(|r| [(REGION.to_owned(), r.to_owned())].into());
        m.status = Some(MemberClusterStatus {
            conditions: vec![Condition {
                type_: "Ready".into(),
                status: if ready { "True" } else { "False" }.into(),
                reason: "Test".into(),
                message: String::new(),
                last_transition_time: Time(Timestamp::UNIX_EPOCH),
                observed_generation: None,
            }],
            ..Default::default()
        });
        m
    }

    fn policy(name: &str, created: i64, targets: &[(&str, Option<&str>)]) -> DNSPolicy {
        let mut p = DNSPolicy::new(
            name,
            DNSPolicySpec {
                target_refs: targets
                    .iter()
                    .map(|(g, section)| GatewayTargetRef {
                        section_name: section.map(str::to_owned),
                        ..GatewayTargetRef::gateway(*g)
                    })
                    .collect(),
                ttl_seconds: 30,
                fail_open: true,
                ..Default::default()
            },
        );
        p.metadata = ObjectMeta {
            name: Some(name.into()),
            namespace: Some("web".into()),
            creation_timestamp: at(created),
            ..Default::default()
        };
        p
    }

    fn region_selector(region: &str) -> LabelSelector {
        LabelSelector {
            match_labels: Some([(REGION.to_owned(), region.to_owned())].into()),
            ..Default::default()
        }
    }

    struct World {
        gateways: Vec<Value>,
        placements: Vec<Vec<MemberGateway>>,
        policies: Vec<DNSPolicy>,
        zones: Vec<String>,
        members: Vec<MemberCluster>,
        previous: BTreeMap<String, DNSRecordSpec>,
        routes: Vec<Value>,
        /// Attached to every Gateway of the world (tests have one).
        listener_sets: Vec<Value>,
    }

    impl World {
        /// One Gateway `shop` with `shop.global.example.com`, placed in
        /// eu-1 and us-1, both Ready and programmed.
        fn new() -> World {
            World {
                gateways: vec![gateway(
                    "shop",
                    0,
                    json!([listener("http", Some("shop.global.example.com"))]),
                )],
                placements: vec![vec![
                    report("us-1", true, &["192.0.2.20"]),
                    report("eu-1", true, &["192.0.2.10"]),
                ]],
                policies: vec![],
                zones: vec![ZONE.into()],
                members: vec![
                    member("eu-1", Some("eu-west"), true),
                    member("us-1", Some("us-east"), true),
                ],
                previous: BTreeMap::new(),
                routes: vec![],
                listener_sets: vec![],
            }
        }

        fn compute(&self) -> Computed {
            let placed: Vec<PlacedGateway<'_>> = self
                .gateways
                .iter()
                .zip(&self.placements)
                .map(|(gateway, members)| PlacedGateway {
                    gateway,
                    listener_sets: self.listener_sets.iter().collect(),
                    members: members.clone(),
                })
                .collect();
            compute(&Inputs {
                gateways: &placed,
                routes: &self.routes,
                policies: &self.policies,
                zones: &self.zones,
                members: &self.members,
                previous: &self.previous,
            })
        }
    }

    fn endpoint(cluster: &str, region: &str, address: &str, healthy: bool) -> Endpoint {
        Endpoint {
            cluster_name: cluster.into(),
            region: Some(region.into()),
            addresses: vec![address.into()],
            weight: 1,
            priority: 0,
            hub_healthy: healthy,
        }
    }

    fn summary(computed: &Computed) -> Vec<String> {
        computed
            .records
            .iter()
            .map(|(name, r)| {
                let endpoints: Vec<String> = r
                    .endpoints
                    .iter()
                    .map(|e| {
                        format!(
                            "{}{}",
                            e.cluster_name,
                            if e.hub_healthy { "" } else { "(down)" }
                        )
                    })
                    .collect();
                format!("{name}={} [{}]", r.hostname, endpoints.join(","))
            })
            .collect()
    }

    /// The records' summary with eu-1 reporting `listeners` and `routes`
    /// failing, us-1 all well.
    fn eu_failing(world: &mut World, listeners: &[&str], routes: Vec<RouteId>) -> Vec<String> {
        world.placements = vec![vec![
            MemberGateway {
                failing_listeners: listeners.iter().map(|l| (*l).to_owned()).collect(),
                failing_routes: routes.into_iter().collect(),
                ..report("eu-1", true, &["192.0.2.10"])
            },
            report("us-1", true, &["192.0.2.20"]),
        ]];
        summary(&world.compute())
    }

    /// A 1 s HTTP check of `/healthz` on `port`.
    fn health_check(port: Option<u16>) -> HealthCheck {
        HealthCheck {
            protocol: Default::default(),
            port,
            path: "/healthz".into(),
            expected_statuses: vec![200],
            interval: fedway_crds::duration::Duration::parse("1s").expect("duration"),
            timeout: fedway_crds::duration::Duration::parse("1s").expect("duration"),
            failure_threshold: 2,
            success_threshold: 2,
        }
    }

    fn verdict_of(computed: &Computed, name: &str) -> Verdict {
        computed
            .policies
            .get(&("web".to_owned(), name.to_owned()))
            .cloned()
            .unwrap_or_else(|| panic!("no verdict for {name}"))
    }

    #[test]
    fn a_health_check_without_port_probes_the_listener_port() {
        let mut world = World::new();
        let mut p = policy("shop-dns", 0, &[("shop", None)]);
        p.spec.health_check =
            Some(serde_json::from_value(json!({"protocol": "TCP"})).expect("health check"));
        world.policies = vec![p];
        let computed = world.compute();
        let check = computed.records["shop.global.example.com"]
            .health_check
            .clone()
            .expect("check carried");
        assert_eq!(check.port, Some(80), "the listener's port");
    }

    #[test]
    fn a_failover_policy_publishes_one_record_with_every_member() {
        let mut world = World::new();
        let mut p = policy("shop-dns", 0, &[("shop", None)]);
        p.spec.strategy = DnsStrategy::Failover;
        p.spec.priorities = vec![ClusterPriority {
            cluster_selector: region_selector("us-east"),
            priority: 10,
        }];
        p.spec.weights = vec![ClusterWeight {
            cluster_selector: region_selector("eu-west"),
            weight: 5,
        }];
        p.spec.health_check = Some(health_check(Some(8080)));
        world.policies = vec![p.clone()];
        let computed = world.compute();
        let record = &computed.records["shop.global.example.com"];
        assert_eq!(
            record,
            &DNSRecordSpec {
                hostname: "shop.global.example.com".into(),
                ttl_seconds: 30,
                strategy: DnsStrategy::Failover,
                geo: None,
                health_check: p.spec.health_check.clone(),
                fail_open: true,
                policy_ref: Some(PolicyRef {
                    namespace: "web".into(),
                    name: "shop-dns".into()
                }),
                endpoints: vec![
                    Endpoint {
                        weight: 5,
                        ..endpoint("eu-1", "eu-west", "192.0.2.10", true)
                    },
                    Endpoint {
                        priority: 10,
                        ..endpoint("us-1", "us-east", "192.0.2.20", true)
                    },
                ],
                clusters: "eu-1, us-1".into(),
            }
        );
        assert_eq!(
            verdict_of(&computed, "shop-dns"),
            Verdict {
                accepted: true,
                reason: "Accepted",
                message: "publishes shop.global.example.com".into()
            }
        );
    }

    #[test]
    fn endpoints_follow_member_health_and_reports() {
        // (case, placements, members, previous endpoints, expected endpoints)
        type Case = (
            &'static str,
            Vec<MemberGateway>,
            Vec<MemberCluster>,
            Vec<Endpoint>,
            Vec<Endpoint>,
        );
        let eu = || member("eu-1", Some("eu-west"), true);
        let us = || member("us-1", Some("us-east"), true);
        let cases: Vec<Case> = vec![
            (
                "ready and programmed",
                vec![report("eu-1", true, &["192.0.2.10"])],
                vec![eu()],
                vec![],
                vec![endpoint("eu-1", "eu-west", "192.0.2.10", true)],
            ),
            (
                "not programmed: listed, not hub-healthy",
                vec![report("eu-1", false, &["192.0.2.10"])],
                vec![eu()],
                vec![],
                vec![endpoint("eu-1", "eu-west", "192.0.2.10", false)],
            ),
            (
                "member NotReady with its last report: kept, not hub-healthy",
                vec![report("eu-1", true, &["192.0.2.10"])],
                vec![member("eu-1", Some("eu-west"), false)],
                vec![],
                vec![endpoint("eu-1", "eu-west", "192.0.2.10", false)],
            ),
            (
                "Ready member without an address yet: left out",
                vec![
                    report("eu-1", false, &[]),
                    report("us-1", true, &["192.0.2.20"]),
                ],
                vec![eu(), us()],
                vec![],
                vec![endpoint("us-1", "us-east", "192.0.2.20", true)],
            ),
            (
                "Ready member whose report lost its address: last addresses kept, not hub-healthy",
                vec![report("eu-1", true, &[])],
                vec![eu()],
                vec![endpoint("eu-1", "eu-west", "192.0.2.10", true)],
                vec![endpoint("eu-1", "eu-west", "192.0.2.10", false)],
            ),
            (
                "new addresses replace the last published ones",
                vec![report("eu-1", true, &["192.0.2.12"])],
                vec![eu()],
                vec![endpoint("eu-1", "eu-west", "192.0.2.10", true)],
                vec![endpoint("eu-1", "eu-west", "192.0.2.12", true)],
            ),
            (
                "a member the Gateway left: its endpoint goes",
                vec![report("us-1", true, &["192.0.2.20"])],
                vec![eu(), us()],
                vec![endpoint("eu-1", "eu-west", "192.0.2.10", true)],
                vec![endpoint("us-1", "us-east", "192.0.2.20", true)],
            ),
            (
                "NotReady member without a report: last published addresses kept",
                vec![report("eu-1", false, &[])],
                vec![member("eu-1", Some("eu-west"), false)],
                vec![endpoint("eu-1", "eu-west", "192.0.2.10", true)],
                vec![endpoint("eu-1", "eu-west", "192.0.2.10", false)],
            ),
            (
                "NotReady member never published: left out",
                vec![report("eu-1", false, &[])],
                vec![member("eu-1", Some("eu-west"), false)],
                vec![],
                vec![],
            ),
            (
                "hostname addresses are not IPs: left out",
                vec![report("eu-1", true, &["lb.example.net"])],
                vec![eu()],
                vec![],
                vec![],
            ),
            (
                "addresses: only IPs, deduplicated, sorted",
                vec![report(
                    "eu-1",
                    true,
                    &[
                        "192.0.2.11",
                        "lb.example.net",
                        "2001:db8::1",
                        "192.0.2.10",
                        "192.0.2.11",
                    ],
                )],
                vec![eu()],
                vec![],
                vec![Endpoint {
                    addresses: vec![
                        "192.0.2.10".into(),
                        "192.0.2.11".into(),
                        "2001:db8::1".into(),
                    ],
                    ..endpoint("eu-1", "eu-west", "", true)
                }],
            ),
            (
                "a member that left the federation: no endpoint",
                vec![report("gone", true, &["192.0.2.99"])],
                vec![eu()],
                vec![],
                vec![],
            ),
            (
                "no region label: no region",
                vec![report("eu-1", true, &["192.0.2.10"])],
                vec![member("eu-1", None, true)],
                vec![],
                vec![Endpoint {
                    region: None,
                    ..endpoint("eu-1", "", "192.0.2.10", true)
                }],
            ),
            (
                "sorted by cluster name, duplicates once",
                vec![
                    report("us-1", true, &["192.0.2.20"]),
                    report("eu-1", true, &["192.0.2.10"]),
                    report("us-1", true, &["192.0.2.20"]),
                ],
                vec![us(), eu()],
                vec![],
                vec![
                    endpoint("eu-1", "eu-west", "192.0.2.10", true),
                    endpoint("us-1", "us-east", "192.0.2.20", true),
                ],
            ),
        ];
        for (name, placements, members, previous, want) in cases {
            let mut world = World::new();
            world.placements = vec![placements];
            world.members = members;
            world.policies = vec![policy("p", 0, &[("shop", None)])];
            if !previous.is_empty() {
                world.previous.insert(
                    "shop.global.example.com".into(),
                    DNSRecordSpec {
                        endpoints: previous,
                        ..Default::default()
                    },
                );
            }
            let computed = world.compute();
            assert_eq!(
                computed.records["shop.global.example.com"].endpoints, want,
                "{name}"
            );
        }
    }

    #[test]
    fn weights_priorities_and_regions_come_from_member_labels() {
        let mut world = World::new();
        world.members = vec![
            member("eu-1", Some("eu-west"), true),
            member("us-1", Some("us-east"), true),
        ];
        world.members[1]
            .metadata
            .labels
            .get_or_insert_default()
            .insert("geo".into(), "americas".into());
        let mut p = policy("p", 0, &[("shop", None)]);
        // First match wins, unmatched get weight 1 / priority 0.
        p.spec.weights = vec![
            ClusterWeight {
                cluster_selector: region_selector("us-east"),
                weight: 7,
            },
            ClusterWeight {
                cluster_selector: region_selector("us-east"),
                weight: 9,
            },
        ];
        p.spec.priorities = vec![ClusterPriority {
            cluster_selector: region_selector("eu-west"),
            priority: 3,
        }];
        p.spec.geo = Some(GeoSteering {
            region_label: "geo".into(),
            client_regions: vec![],
            default_region: None,
        });
        world.policies = vec![p];
        let record = &world.compute().records["shop.global.example.com"];
        let got: Vec<(&str, Option<&str>, i64, u32)> = record
            .endpoints
            .iter()
            .map(|e| {
                (
                    e.cluster_name.as_str(),
                    e.region.as_deref(),
                    e.weight,
                    e.priority,
                )
            })
            .collect();
        assert_eq!(
            got,
            [("eu-1", None, 1, 3), ("us-1", Some("americas"), 7, 0)]
        );
        assert!(record.geo.is_some());
    }

    #[test]
    fn hostnames_and_their_verdicts() {
        // (case, listeners, policy targets, zones, records, accepted, reason, message part)
        type Case = (
            &'static str,
            Value,
            Vec<(&'static str, Option<&'static str>)>,
            Vec<&'static str>,
            Vec<&'static str>,
            bool,
            &'static str,
            &'static str,
        );
        let cases: Vec<Case> = vec![
            (
                "wildcard listener",
                json!([listener("http", Some("*.Shop.Global.Example.com."))]),
                vec![("shop", None)],
                vec![ZONE],
                vec!["wildcard.shop.global.example.com=*.shop.global.example.com"],
                true,
                "Accepted",
                "publishes *.shop.global.example.com",
            ),
            (
                "listener without hostname",
                json!([listener("http", None)]),
                vec![("shop", None)],
                vec![ZONE],
                vec![],
                false,
                "Invalid",
                "listener \"http\" of Gateway web/shop has no hostname, nor do the routes attached to it, so no DNS record",
            ),
            (
                "hostname outside every zone",
                json!([listener("http", Some("shop.example.org"))]),
                vec![("shop", None)],
                vec![ZONE],
                vec![],
                false,
                "Invalid",
                "shop.example.org is in no DNSZone (zones: global.example.com)",
            ),
            (
                "no zones at all",
                json!([listener("http", Some("shop.global.example.com"))]),
                vec![("shop", None)],
                vec![],
                vec![],
                false,
                "Invalid",
                "there are no DNSZones",
            ),
            (
                "one listener in, one out: accepted, naming both",
                json!([
                    listener("a", Some("a.global.example.com")),
                    listener("b", Some("b.example.org"))
                ]),
                vec![("shop", None)],
                vec![ZONE],
                vec!["a.global.example.com=a.global.example.com"],
                true,
                "Accepted",
                "publishes a.global.example.com; not: b.example.org is in no DNSZone",
            ),
            (
                "sectionName picks one listener; the other is published with defaults",
                json!([
                    listener("a", Some("a.global.example.com")),
                    listener("b", Some("b.global.example.com"))
                ]),
                vec![("shop", Some("b"))],
                vec![ZONE],
                vec![
                    "a.global.example.com=a.global.example.com",
                    "b.global.example.com=b.global.example.com",
                ],
                true,
                "Accepted",
                "publishes b.global.example.com",
            ),
            (
                "unknown sectionName",
                json!([listener("a", Some("a.global.example.com"))]),
                vec![("shop", Some("nope"))],
                vec![ZONE],
                vec!["a.global.example.com=a.global.example.com"],
                false,
                "Invalid",
                "Gateway web/shop has no listener \"nope\"",
            ),
            (
                "unknown Gateway",
                json!([listener("a", Some("a.global.example.com"))]),
                vec![("other", None)],
                vec![ZONE],
                vec!["a.global.example.com=a.global.example.com"],
                false,
                "TargetNotFound",
                "Gateway web/other is not a Gateway of a Fedway class",
            ),
            (
                "two listeners, one hostname: one record, no conflict",
                json!([listener("http", Some("shop.global.example.com")),
                       {"name": "https", "port": 443, "protocol": "HTTPS", "hostname": "shop.global.example.com"}]),
                vec![("shop", None)],
                vec![ZONE],
                vec!["shop.global.example.com=shop.global.example.com"],
                true,
                "Accepted",
                "publishes shop.global.example.com",
            ),
            (
                "zone apex",
                json!([listener("http", Some("global.example.com"))]),
                vec![("shop", None)],
                vec!["other.example.com", ZONE],
                vec!["global.example.com=global.example.com"],
                true,
                "Accepted",
                "publishes global.example.com",
            ),
        ];
        for (name, listeners, targets, zones, records, accepted, reason, part) in cases {
            let mut world = World::new();
            world.gateways = vec![gateway("shop", 0, listeners)];
            world.policies = vec![policy("p", 0, &targets)];
            world.zones = zones.into_iter().map(str::to_owned).collect();
            let computed = world.compute();
            let got: Vec<String> = computed
                .records
                .iter()
                .map(|(n, r)| format!("{n}={}", r.hostname))
                .collect();
            assert_eq!(got, records, "{name}");
            let verdict = verdict_of(&computed, "p");
            assert_eq!(
                (verdict.accepted, verdict.reason),
                (accepted, reason),
                "{name}: {}",
                verdict.message
            );
            assert!(
                verdict.message.contains(part),
                "{name}: {:?} lacks {part:?}",
                verdict.message
            );
        }
    }

    #[test]
    fn a_listener_without_hostname_publishes_its_routes_hostnames() {
        let route = |name: &str, parent: Value, hostnames: &[&str]| {
            json!({"kind": "HTTPRoute", "metadata": {"name": name, "namespace": "web"},
                   "spec": {"parentRefs": [parent], "hostnames": hostnames}})
        };
        let mut world = World::new();
        world.routes = vec![
            route(
                "both",
                json!({"name": "shop"}),
                &["a.global.example.com", "b.global.example.com"],
            ),
            route(
                "same-again",
                json!({"name": "shop", "sectionName": "http", "port": 80}),
                &["a.global.example.com"],
            ),
            route(
                "other-section",
                json!({"name": "shop", "sectionName": "admin"}),
                &["c.global.example.com"],
            ),
            route(
                "other-port",
                json!({"name": "shop", "port": 8080}),
                &["d.global.example.com"],
            ),
            route(
                "other-gateway",
                json!({"name": "blog"}),
                &["e.global.example.com"],
            ),
            route(
                "other-namespace",
                json!({"name": "shop", "namespace": "api"}),
                &["f.global.example.com"],
            ),
            route(
                "outside-zones",
                json!({"name": "shop"}),
                &["shop.example.org"],
            ),
        ];
        let mut foreign = route(
            "foreign",
            json!({"name": "shop", "namespace": "web"}),
            &["g.global.example.com"],
        );
        foreign["metadata"]["namespace"] = "api".into();
        world.routes.push(foreign);
        let records =
            |world: &World| -> Vec<String> { world.compute().records.into_keys().collect() };
        world.gateways = vec![gateway("shop", 0, json!([listener("http", None)]))];
        assert_eq!(
            records(&world),
            ["a.global.example.com", "b.global.example.com"],
            "this listener's routes, once each, in the zones, from its namespace"
        );
        let mut open = listener("http", None);
        open["allowedRoutes"] = json!({"namespaces": {"from": "All"}});
        world.gateways = vec![gateway("shop", 0, json!([open]))];
        assert_eq!(
            records(&world),
            [
                "a.global.example.com",
                "b.global.example.com",
                "g.global.example.com"
            ],
            "allowedRoutes from All: other namespaces' routes too"
        );
        world.gateways = vec![gateway(
            "shop",
            0,
            json!([listener("http", Some("shop.global.example.com"))]),
        )];
        assert_eq!(
            records(&world),
            ["shop.global.example.com"],
            "a listener's own hostname wins over its routes'"
        );
    }

    #[test]
    fn listener_sets_publish_their_hostnames_with_their_gateway() {
        let mut world = World::new();
        let mut https = listener("https", Some("tenant.global.example.com"));
        https["port"] = 443.into();
        let mut open = listener("open", None);
        open["port"] = 8080.into();
        world.listener_sets = vec![json!({
            "kind": "ListenerSet", "metadata": {"name": "tenant", "namespace": "web"},
            "spec": {"parentRef": {"name": "shop"}, "listeners": [https, open]},
        })];
        let route = |name: &str, parent: Value, hostnames: &[&str]| {
            json!({"kind": "HTTPRoute", "metadata": {"name": name, "namespace": "web"},
                   "spec": {"parentRefs": [parent], "hostnames": hostnames}})
        };
        world.routes = vec![
            // Gives the set's listener without a hostname one.
            route(
                "blog",
                json!({"kind": "ListenerSet", "name": "tenant", "sectionName": "open"}),
                &["blog.global.example.com"],
            ),
            // A parentRef to the Gateway does not attach to the set's
            // listener of that name.
            route(
                "other",
                json!({"name": "shop", "sectionName": "open"}),
                &["other.global.example.com"],
            ),
        ];
        let id = |name: &str| RouteId {
            kind: "HTTPRoute".into(),
            namespace: "web".into(),
            name: name.into(),
        };
        // (case, eu-1's failing listeners, its failing routes, records)
        type Case = (
            &'static str,
            Vec<&'static str>,
            Vec<RouteId>,
            [&'static str; 3],
        );
        let cases: [Case; 4] = [
            (
                "all work",
                vec![],
                vec![],
                [
                    "blog.global.example.com=blog.global.example.com [eu-1,us-1]",
                    "shop.global.example.com=shop.global.example.com [eu-1,us-1]",
                    "tenant.global.example.com=tenant.global.example.com [eu-1,us-1]",
                ],
            ),
            (
                "the set's listener fails: its hostname only",
                vec!["web/tenant/https"],
                vec![],
                [
                    "blog.global.example.com=blog.global.example.com [eu-1,us-1]",
                    "shop.global.example.com=shop.global.example.com [eu-1,us-1]",
                    "tenant.global.example.com=tenant.global.example.com [eu-1(down),us-1]",
                ],
            ),
            (
                "the Gateway's listener of the same name is another listener",
                vec!["https", "open"],
                vec![],
                [
                    "blog.global.example.com=blog.global.example.com [eu-1,us-1]",
                    "shop.global.example.com=shop.global.example.com [eu-1,us-1]",
                    "tenant.global.example.com=tenant.global.example.com [eu-1,us-1]",
                ],
            ),
            (
                "the set's route fails",
                vec![],
                vec![id("blog")],
                [
                    "blog.global.example.com=blog.global.example.com [eu-1(down),us-1]",
                    "shop.global.example.com=shop.global.example.com [eu-1,us-1]",
                    "tenant.global.example.com=tenant.global.example.com [eu-1,us-1]",
                ],
            ),
        ];
        for (case, listeners, routes, want) in cases {
            assert_eq!(eu_failing(&mut world, &listeners, routes), want, "{case}");
        }
        // A health check without a port probes the set listener's.
        let mut policy = policy("tenant", 0, &[("shop", None)]);
        policy.spec.health_check = Some(health_check(None));
        world.policies = vec![policy];
        let computed = world.compute();
        let check = computed.records["tenant.global.example.com"]
            .health_check
            .as_ref()
            .expect("a health check");
        assert_eq!(check.port, Some(443));
    }

    #[test]
    fn a_member_serves_a_hostname_only_where_its_listeners_and_routes_work() {
        let route = |kind: &str, namespace: &str, name: &str, parent: Value, hostnames: &[&str]| {
            json!({"kind": kind, "metadata": {"name": name, "namespace": namespace},
                   "spec": {"parentRefs": [parent], "hostnames": hostnames}})
        };
        let id = |kind: &str, namespace: &str, name: &str| RouteId {
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        };
        let mut world = World::new();
        let mut https = listener("https", Some("shop.global.example.com"));
        https["port"] = 443.into();
        https["protocol"] = "HTTPS".into();
        let mut open = listener("open", None);
        open["port"] = 8080.into();
        world.gateways = vec![gateway(
            "shop",
            0,
            json!([
                listener("http", Some("shop.global.example.com")),
                https,
                listener("apps", Some("*.apps.global.example.com")),
                open,
            ]),
        )];
        world.routes = vec![
            // Every shop.global.example.com request on port 80.
            route(
                "HTTPRoute",
                "web",
                "shop",
                json!({"name": "shop", "sectionName": "http"}),
                &[],
            ),
            // One name under the wildcard; the open listener publishes it.
            route(
                "HTTPRoute",
                "web",
                "a",
                json!({"name": "shop"}),
                &["a.apps.global.example.com"],
            ),
            route(
                "HTTPRoute",
                "web",
                "wild",
                json!({"name": "shop", "sectionName": "apps"}),
                &["*.apps.global.example.com"],
            ),
            // Matches SHOP.global.example.com. as the record's hostname.
            route(
                "GRPCRoute",
                "web",
                "rpc",
                json!({"name": "shop", "sectionName": "https"}),
                &["SHOP.global.example.com."],
            ),
            route("HTTPRoute", "web", "blog", json!({"name": "blog"}), &[]),
            // Not admitted by any listener (allowedRoutes: Same).
            route(
                "HTTPRoute",
                "api",
                "far",
                json!({"name": "shop", "namespace": "web"}),
                &[],
            ),
        ];
        const ALL_UP: [&str; 3] = [
            "a.apps.global.example.com=a.apps.global.example.com [eu-1,us-1]",
            "shop.global.example.com=shop.global.example.com [eu-1,us-1]",
            "wildcard.apps.global.example.com=*.apps.global.example.com [eu-1,us-1]",
        ];
        // (case, eu-1's failing listeners, its failing routes, records)
        type Case = (&'static str, Vec<&'static str>, Vec<RouteId>, Vec<String>);
        let cases: Vec<Case> = vec![
            (
                "all work",
                vec![],
                vec![],
                ALL_UP.map(String::from).to_vec(),
            ),
            (
                "one of the hostname's two listeners fails",
                vec!["https"],
                vec![],
                vec![
                    ALL_UP[0].into(),
                    "shop.global.example.com=shop.global.example.com [eu-1(down),us-1]".into(),
                    ALL_UP[2].into(),
                ],
            ),
            (
                "the wildcard listener fails",
                vec!["apps"],
                vec![],
                vec![
                    ALL_UP[0].into(),
                    ALL_UP[1].into(),
                    "wildcard.apps.global.example.com=*.apps.global.example.com [eu-1(down),us-1]"
                        .into(),
                ],
            ),
            (
                "a route without hostnames fails",
                vec![],
                vec![id("HTTPRoute", "web", "shop")],
                vec![
                    ALL_UP[0].into(),
                    "shop.global.example.com=shop.global.example.com [eu-1(down),us-1]".into(),
                    ALL_UP[2].into(),
                ],
            ),
            (
                "a GRPCRoute naming the hostname in another case fails",
                vec![],
                vec![id("GRPCRoute", "web", "rpc")],
                vec![
                    ALL_UP[0].into(),
                    "shop.global.example.com=shop.global.example.com [eu-1(down),us-1]".into(),
                    ALL_UP[2].into(),
                ],
            ),
            (
                "a route for one name fails: that name only, not the wildcard",
                vec![],
                vec![id("HTTPRoute", "web", "a")],
                vec![
                    "a.apps.global.example.com=a.apps.global.example.com [eu-1(down),us-1]".into(),
                    ALL_UP[1].into(),
                    ALL_UP[2].into(),
                ],
            ),
            (
                "the wildcard's route fails",
                vec![],
                vec![id("HTTPRoute", "web", "wild")],
                vec![
                    ALL_UP[0].into(),
                    ALL_UP[1].into(),
                    "wildcard.apps.global.example.com=*.apps.global.example.com [eu-1(down),us-1]"
                        .into(),
                ],
            ),
            (
                "routes that serve none of it fail: another kind, Gateway, namespace",
                vec!["no-such-listener"],
                vec![
                    id("GRPCRoute", "web", "shop"),
                    id("HTTPRoute", "web", "blog"),
                    id("HTTPRoute", "api", "far"),
                ],
                ALL_UP.map(String::from).to_vec(),
            ),
        ];
        for (case, listeners, routes, want) in cases {
            assert_eq!(eu_failing(&mut world, &listeners, routes), want, "{case}");
        }
    }

    #[test]
    fn a_gateway_without_policy_is_published_with_defaults() {
        let world = World::new();
        let computed = world.compute();
        let record = &computed.records["shop.global.example.com"];
        assert_eq!(record.ttl_seconds, DEFAULT_TTL);
        assert_eq!(record.strategy, DnsStrategy::RoundRobin);
        assert!(record.fail_open);
        assert_eq!(record.policy_ref, None);
        assert_eq!(record.health_check, None);
        assert_eq!(record.endpoints.len(), 2);
        assert!(computed.policies.is_empty());
    }

    #[test]
    fn conflicts_have_one_deterministic_winner() {
        let two_gateways = || {
            vec![
                gateway(
                    "old",
                    0,
                    json!([listener("http", Some("shop.global.example.com"))]),
                ),
                gateway(
                    "new",
                    100,
                    json!([listener("http", Some("shop.global.example.com"))]),
                ),
            ]
        };
        let placements = || {
            vec![
                vec![report("eu-1", true, &["192.0.2.10"])],
                vec![report("us-1", true, &["192.0.2.20"])],
            ]
        };
        // (case, gateways, policies, winning cluster, loser policy, loser reason)
        type Case = (
            &'static str,
            Vec<Value>,
            Vec<DNSPolicy>,
            &'static str,
            Option<&'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                "older policy wins even for the newer Gateway",
                two_gateways(),
                vec![
                    policy("b-new-policy", 50, &[("old", None)]),
                    policy("a-old-policy", 10, &[("new", None)]),
                ],
                "us-1",
                Some("b-new-policy"),
            ),
            (
                "same age: policy name decides",
                two_gateways(),
                vec![
                    policy("b", 10, &[("old", None)]),
                    policy("a", 10, &[("new", None)]),
                ],
                "us-1",
                Some("b"),
            ),
            (
                "one policy, two Gateways: the older Gateway wins",
                two_gateways(),
                vec![policy("p", 10, &[("new", None), ("old", None)])],
                "eu-1",
                None,
            ),
            (
                "a policy beats a Gateway without one",
                two_gateways(),
                vec![policy("p", 10, &[("new", None)])],
                "us-1",
                None,
            ),
            (
                "no policies: the older Gateway wins",
                two_gateways(),
                vec![],
                "eu-1",
                None,
            ),
            (
                "a literal wildcard label and a wildcard share a record name",
                vec![
                    gateway(
                        "old",
                        0,
                        json!([listener("http", Some("wildcard.global.example.com"))]),
                    ),
                    gateway(
                        "new",
                        100,
                        json!([listener("http", Some("*.global.example.com"))]),
                    ),
                ],
                vec![
                    policy("a", 10, &[("old", None)]),
                    policy("b", 20, &[("new", None)]),
                ],
                "eu-1",
                Some("b"),
            ),
        ];
        for (name, gateways, policies, winner, loser) in cases {
            let mut world = World::new();
            world.gateways = gateways;
            world.placements = placements();
            world.policies = policies;
            // Input order must not matter.
            for reversed in [false, true] {
                if reversed {
                    world.gateways.reverse();
                    world.placements.reverse();
                    world.policies.reverse();
                }
                let computed = world.compute();
                assert_eq!(
                    computed.records.len(),
                    1,
                    "{name}: {:?}",
                    summary(&computed)
                );
                let record = computed.records.values().next().expect("one record");
                assert_eq!(
                    record
                        .endpoints
                        .iter()
                        .map(|e| e.cluster_name.as_str())
                        .collect::<Vec<_>>(),
                    [winner],
                    "{name}"
                );
                if let Some(loser) = loser {
                    let verdict = verdict_of(&computed, loser);
                    assert!(!verdict.accepted, "{name}");
                    assert_eq!(verdict.reason, "Conflicted", "{name}");
                    assert!(
                        verdict.message.contains("instead, which claimed it first"),
                        "{name}: {}",
                        verdict.message
                    );
                }
                for (key, verdict) in &computed.policies {
                    if Some(key.1.as_str()) != loser {
                        assert!(verdict.accepted, "{name}: {key:?} {verdict:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_policy_losing_one_hostname_is_accepted_for_the_others() {
        let mut world = World::new();
        world.gateways = vec![
            gateway(
                "old",
                0,
                json!([listener("http", Some("shop.global.example.com"))]),
            ),
            gateway(
                "new",
                100,
                json!([
                    listener("a", Some("shop.global.example.com")),
                    listener("b", Some("cart.global.example.com"))
                ]),
            ),
        ];
        world.placements = vec![vec![], vec![]];
        world.policies = vec![
            policy("first", 0, &[("old", None)]),
            policy("second", 10, &[("new", None)]),
        ];
        let verdict = verdict_of(&world.compute(), "second");
        assert!(verdict.accepted);
        assert_eq!(
            verdict.message,
            "publishes cart.global.example.com; not: shop.global.example.com (listener \"a\" of Gateway web/new) \
             is published for DNSPolicy web/first (Gateway web/old) instead, which claimed it first"
        );
    }

    #[test]
    fn output_is_stable() {
        let mut world = World::new();
        world.policies = vec![policy("p", 0, &[("shop", None)])];
        let first = world.compute().records;
        world.placements[0].reverse();
        world.members.reverse();
        assert_eq!(world.compute().records, first);
    }

    #[test]
    fn work_manifests_carry_zones_then_records_by_name() {
        let zone = |name: &str| {
            DNSZone::new(
                name,
                DNSZoneSpec {
                    zone: format!("{name}.example.com"),
                    ..Default::default()
                },
            )
        };
        let world = World::new();
        let records = world.compute().records;
        let manifests = work_manifests(&[zone("b"), zone("a")], &records);
        let names: Vec<String> = manifests
            .iter()
            .map(|m| {
                format!(
                    "{} {} {}",
                    m.0["apiVersion"].as_str().unwrap_or_default(),
                    m.0["kind"].as_str().unwrap_or_default(),
                    m.0["metadata"]["name"].as_str().unwrap_or_default()
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                "fedway.dev/v1alpha1 DNSZone a",
                "fedway.dev/v1alpha1 DNSZone b",
                "fedway.dev/v1alpha1 DNSRecord shop.global.example.com"
            ]
        );
        let spec: DNSRecordSpec =
            serde_json::from_value(manifests[2].0["spec"].clone()).expect("a DNSRecord spec");
        assert_eq!(spec, records["shop.global.example.com"]);
    }
}
