//! How a Gateway is reached: on an address of its own bound by this
//! process ([`Publish::Local`], host network), or through a Service per
//! Gateway, in the replicas' namespace, in front of every replica
//! ([`Publish::Service`]): type
//! LoadBalancer (the address is the load balancer's), or ClusterIP with an
//! external IP from the pool (routed to the nodes, kube-proxy forwards it).
//!
//! Behind a Service each listener port of each Gateway has a port of its
//! own in the pod (the Service's `targetPort`): two Gateways both listen on
//! 80, and the pod tells them apart by the port the Service sends to. The
//! ports are a pure function of what is watched (the Services' current
//! target ports kept, the rest hashed), so every replica computes the same.

use std::{
    collections::{BTreeMap, BTreeSet},
    hash::Hasher,
    net::{IpAddr, Ipv4Addr, SocketAddr},
};

use k8s_openapi::{
    api::core::v1::{Service, ServicePort, ServiceSpec},
    apimachinery::pkg::util::intstr::IntOrString,
};
use kube::api::ObjectMeta;

use super::{ObjectKey, addresses::AddressPool};

/// Where Gateway addresses come from and how listeners are bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Publish {
    /// Each Gateway's listeners bind an address from the pool, which must
    /// be local to this process.
    Local(AddressPool),
    /// A Service per Gateway selects every replica (`selector`: the
    /// replicas' pod labels). The Services live in the replicas' own
    /// `namespace`: a Service selects pods of its namespace only.
    Service {
        kind: ServiceKind,
        selector: BTreeMap<String, String>,
        namespace: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceKind {
    /// `type: LoadBalancer`; the address is the first IP in the Service's
    /// `status.loadBalancer.ingress`.
    LoadBalancer,
    /// `type: ClusterIP` with `externalIPs: [an address from the pool]`.
    ExternalIps(AddressPool),
}

impl Publish {
    /// The pool addresses are assigned from, if any.
    pub fn pool(&self) -> Option<&AddressPool> {
        match self {
            Publish::Local(pool)
            | Publish::Service {
                kind: ServiceKind::ExternalIps(pool),
                ..
            } => Some(pool),
            Publish::Service {
                kind: ServiceKind::LoadBalancer,
                ..
            } => None,
        }
    }
}

/// The labels on every Service this controller publishes a Gateway with:
/// the Gateway's namespace and name. They make it ours; an owner reference
/// cannot (the Gateway is in another namespace).
pub const GATEWAY_NAMESPACE_LABEL: &str = "fedway.dev/proxy-gateway-namespace";
pub const GATEWAY_LABEL: &str = "fedway.dev/proxy-gateway";
/// Pod ports behind Services: `FIRST_POD_PORT..FIRST_POD_PORT + POD_PORTS`.
pub const FIRST_POD_PORT: u16 = 20000;
pub const POD_PORTS: u16 = 10000;

/// The Service publishing Gateway `gateway`:
/// `<namespace>-<name>-<hash>-fedway-proxy`, a DNS label of at most 63
/// characters. The hash of the whole key keeps `web/a-b` and `web-a/b`
/// apart, and long names unique once cut.
pub fn service_name(gateway: &ObjectKey) -> String {
    const SUFFIX: &str = "-fedway-proxy";
    let key = format!("{}/{}", gateway.namespace, gateway.name);
    let hash = format!("{:08x}", fnv1a(key.as_bytes()) as u32);
    let base = format!("{}-{}", gateway.namespace, gateway.name);
    let keep = 63 - SUFFIX.len() - hash.len() - 1;
    let cut: String = base.chars().take(keep).collect();
    format!("{}-{hash}{SUFFIX}", cut.trim_end_matches('-'))
}

/// The Gateway a Service of ours publishes, from its labels.
pub fn published_gateway(service: &Service) -> Option<ObjectKey> {
    let labels = service.metadata.labels.as_ref()?;
    Some(ObjectKey::new(
        labels.get(GATEWAY_NAMESPACE_LABEL)?,
        labels.get(GATEWAY_LABEL)?,
    ))
}

/// The pod port of each `(Gateway, listener port)`, in `wanted` order
/// (oldest Gateway first, which wins a contested port): the target port its
/// Service already has when free and in range, else the first free port
/// from a hash of the pair.
pub fn pod_ports(
    wanted: &[(ObjectKey, Vec<u16>)],
    current: &BTreeMap<(ObjectKey, u16), u16>,
) -> BTreeMap<(ObjectKey, u16), u16> {
    let in_range = |p: u16| (FIRST_POD_PORT..FIRST_POD_PORT + POD_PORTS).contains(&p);
    let mut taken = BTreeSet::new();
    let mut out = BTreeMap::new();
    let pairs: Vec<(ObjectKey, u16)> = wanted
        .iter()
        .flat_map(|(key, ports)| ports.iter().map(move |p| (key.clone(), *p)))
        .collect();
    for pair in &pairs {
        if let Some(&port) = current.get(pair)
            && in_range(port)
            && taken.insert(port)
        {
            out.insert(pair.clone(), port);
        }
    }
    for pair in pairs {
        if out.contains_key(&pair) {
            continue;
        }
        let key = format!("{}/{}:{}", pair.0.namespace, pair.0.name, pair.1);
        let start = u16::try_from(fnv1a(key.as_bytes()) % u64::from(POD_PORTS)).unwrap_or(0);
        // At most POD_PORTS probes; more pairs than ports go unbound.
        let free = (0..POD_PORTS)
            .map(|i| FIRST_POD_PORT + (start + i) % POD_PORTS)
            .find(|p| !taken.contains(p));
        if let Some(port) = free {
            taken.insert(port);
            out.insert(pair, port);
        }
    }
    out
}

/// `(listener port, target port)` of the Service of `gateway`, as it is.
pub fn current_target_ports(service: &Service) -> Vec<(u16, u16)> {
    service
        .spec
        .iter()
        .flat_map(|s| s.ports.iter().flatten())
        .filter_map(|p| {
            let target = match &p.target_port {
                Some(IntOrString::Int(n)) => u16::try_from(*n).ok()?,
                _ => return None,
            };
            Some((u16::try_from(p.port).ok()?, target))
        })
        .collect()
}

/// The load balancer's first IP address for `service`, if it has one.
pub fn load_balancer_ip(service: &Service) -> Option<IpAddr> {
    service
        .status
        .as_ref()?
        .load_balancer
        .as_ref()?
        .ingress
        .iter()
        .flatten()
        .find_map(|i| i.ip.as_deref()?.parse().ok())
}

/// Where a listener binds in the pod behind a Service.
pub fn pod_socket(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)
}

/// What publishing one Gateway takes.
pub struct ServiceRequest<'a> {
    pub gateway: &'a ObjectKey,
    /// Where the replicas run, and so the Service.
    pub namespace: &'a str,
    /// `(listener port, pod port)`, sorted.
    pub ports: Vec<(u16, u16)>,
    pub kind: &'a ServiceKind,
    pub selector: &'a BTreeMap<String, String>,
    /// The external IP (ClusterIP kind), once assigned.
    pub external_ip: Option<IpAddr>,
}

/// The Service publishing one Gateway.
pub fn desired_service(r: &ServiceRequest<'_>) -> Service {
    let (type_, external_ips) = match r.kind {
        ServiceKind::LoadBalancer => ("LoadBalancer", None),
        ServiceKind::ExternalIps(_) => (
            "ClusterIP",
            Some(r.external_ip.iter().map(ToString::to_string).collect()),
        ),
    };
    Service {
        metadata: ObjectMeta {
            name: Some(service_name(r.gateway)),
            namespace: Some(r.namespace.to_owned()),
            labels: Some(BTreeMap::from([
                (
                    GATEWAY_NAMESPACE_LABEL.to_owned(),
                    r.gateway.namespace.clone(),
                ),
                (GATEWAY_LABEL.to_owned(), r.gateway.name.clone()),
            ])),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            type_: Some(type_.to_owned()),
            selector: Some(r.selector.clone()),
            external_ips,
            // Client addresses reach the proxy (and its logs) unchanged
            // where the Service's type allows it.
            external_traffic_policy: (type_ == "LoadBalancer").then(|| "Local".to_owned()),
            ports: Some(
                r.ports
                    .iter()
                    .map(|(port, target)| ServicePort {
                        name: Some(format!("port-{port}")),
                        port: i32::from(*port),
                        target_port: Some(IntOrString::Int(i32::from(*target))),
                        protocol: Some("TCP".to_owned()),
                        ..ServicePort::default()
                    })
                    .collect(),
            ),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

/// Whether `current` already is `desired` in what this controller sets.
pub fn service_matches(current: &Service, desired: &Service) -> bool {
    let (Some(c), Some(d)) = (&current.spec, &desired.spec) else {
        return false;
    };
    let ports = |s: &ServiceSpec| {
        s.ports
            .iter()
            .flatten()
            .map(|p| {
                (
                    p.name.clone(),
                    p.port,
                    p.target_port.clone(),
                    p.protocol.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    c.type_ == d.type_
        && c.selector == d.selector
        && c.external_ips.clone().unwrap_or_default() == d.external_ips.clone().unwrap_or_default()
        && ports(c) == ports(d)
        && current
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(GATEWAY_LABEL))
            == desired
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(GATEWAY_LABEL))
}

/// FNV-1a, 64 bits: stable across processes and versions, unlike std's
/// hasher, which is what makes every replica pick the same ports.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(bytes);
    hasher.finish()
}

#[cfg(test)]
mod tests;
