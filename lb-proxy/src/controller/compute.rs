//! One pass of the controller, as a pure function of everything watched:
//! GatewayClass, Gateway and HTTPRoute statuses, and the [`ProxyConfig`]
//! the data plane serves. No I/O; the watch loop feeds it snapshots of its
//! stores and writes what comes out.

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    sync::Arc,
};

use fedway_crds::DNSRecord;
use gateway_api::{
    gatewayclasses::GatewayClass, gateways::Gateway, grpcroutes::GrpcRoute, httproutes::HttpRoute,
    httproutes::HttpRouteParentRefs, referencegrants::ReferenceGrant,
};
use k8s_openapi::api::{
    core::v1::{Namespace, Secret, Service},
    discovery::v1::EndpointSlice,
};

use super::{
    ObjectKey,
    addresses::{self, AddressRequest, Assignment},
    attachment::{self, Attachment, NamespaceLabels},
    conditions::Cond,
    endpoints,
    gateway_status::{self, GatewayVerdict, Secrets},
    publish::{self, Publish, ServiceKind, ServiceRequest},
    refs::Refs,
    spillover,
};
use crate::{
    backends::{BackendTarget, InvalidBackend, ResolveRefs, resolve_ref},
    config::{ProxyConfig, SocketConfig},
    filters::Scheme,
    grpc::{self, RouteKind},
    route_table,
    routes::{self, Listener, RouteInput},
};

/// Everything a pass reads.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub classes: Vec<Arc<GatewayClass>>,
    pub gateways: Vec<Arc<Gateway>>,
    pub routes: Vec<Arc<HttpRoute>>,
    pub grpc_routes: Vec<Arc<GrpcRoute>>,
    pub grants: Vec<Arc<ReferenceGrant>>,
    pub services: Vec<Arc<Service>>,
    pub slices: Vec<Arc<EndpointSlice>>,
    /// `kubernetes.io/tls` Secrets.
    pub secrets: Vec<Arc<Secret>>,
    pub namespaces: Vec<Arc<Namespace>>,
    /// The DNSRecords the hub replicates here (empty where Fedway's CRDs
    /// are not installed): other clusters' gateways, for spillover.
    pub dns_records: Vec<Arc<DNSRecord>>,
}

/// Everything a pass decides.
#[derive(Default)]
pub struct Outcome {
    pub classes: Vec<ClassOutcome>,
    pub gateways: Vec<GatewayOutcome>,
    pub routes: Vec<RouteOutcome>,
    pub config: ProxyConfig,
    /// The Services publishing Gateways ([`Publish::Service`]).
    pub services: Vec<Service>,
    /// Services this controller published that no Gateway needs any more
    /// (gone, not ours, or not served): `(namespace, name)`.
    pub stale_services: Vec<ObjectKey>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClassOutcome {
    pub name: String,
    pub generation: Option<i64>,
    pub conditions: Vec<Cond>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GatewayOutcome {
    pub key: ObjectKey,
    pub generation: Option<i64>,
    pub addresses: Vec<String>,
    pub conditions: Vec<Cond>,
    pub listeners: Vec<ListenerOutcome>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListenerOutcome {
    pub name: String,
    pub attached_routes: i32,
    /// (group, kind)
    pub supported_kinds: Vec<(String, String)>,
    pub conditions: Vec<Cond>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RouteOutcome {
    pub kind: RouteKind,
    pub key: ObjectKey,
    pub generation: Option<i64>,
    /// One per parentRef naming a Gateway of ours, in spec order.
    pub parents: Vec<ParentOutcome>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParentOutcome {
    pub parent_ref: HttpRouteParentRefs,
    pub conditions: Vec<Cond>,
}

/// The pass. `controller_name` selects the GatewayClasses this controller
/// owns; `publish` is how Gateways get addresses and are reached.
pub fn compute(controller_name: &str, publish: &Publish, s: &Snapshot) -> Outcome {
    let live = |m: &kube::api::ObjectMeta| m.deletion_timestamp.is_none();
    let classes: Vec<ClassOutcome> = s
        .classes
        .iter()
        .filter(|c| live(&c.metadata) && c.spec.controller_name == controller_name)
        .map(|c| ClassOutcome {
            name: c.metadata.name.clone().unwrap_or_default(),
            generation: c.metadata.generation,
            conditions: vec![match &c.spec.parameters_ref {
                // No parameters are defined for this implementation; a class
                // asking for some would be served other than its author meant.
                Some(p) => Cond::new(
                    "Accepted",
                    false,
                    "InvalidParameters",
                    format!("parametersRef {}/{} is not supported", p.kind, p.name),
                ),
                None => Cond::new("Accepted", true, "Accepted", "handled by fedway-proxy"),
            }],
        })
        .collect();
    let accepted: Vec<&str> = classes
        .iter()
        .filter(|c| c.conditions.iter().all(|c| c.status))
        .map(|c| c.name.as_str())
        .collect();

    // Oldest first: the older Gateway wins a contested address.
    let mut gateways: Vec<&Gateway> = s
        .gateways
        .iter()
        .map(AsRef::as_ref)
        .filter(|g| live(&g.metadata) && accepted.contains(&g.spec.gateway_class_name.as_str()))
        .collect();
    gateways.sort_by_key(|g| (age(&g.metadata), ObjectKey::of(&g.metadata)));
    let requests: Vec<AddressRequest> = gateways
        .iter()
        .map(|g| AddressRequest {
            gateway: ObjectKey::of(&g.metadata),
            requested: g
                .spec
                .addresses
                .iter()
                .flatten()
                .map(|a| (a.r#type.clone(), a.value.clone()))
                .collect(),
            current: g
                .status
                .iter()
                .flat_map(|st| st.addresses.iter().flatten())
                .map(|a| a.value.clone())
                .collect(),
        })
        .collect();
    // The Services this controller published, by the Gateway they serve.
    let published: BTreeMap<ObjectKey, &Service> = match publish {
        Publish::Local(_) => BTreeMap::new(),
        Publish::Service { namespace, .. } => s
            .services
            .iter()
            .filter(|svc| svc.metadata.namespace.as_deref() == Some(namespace.as_str()))
            .filter_map(|svc| {
                let gateway = publish::published_gateway(svc)?;
                (svc.metadata.name.as_deref() == Some(publish::service_name(&gateway).as_str()))
                    .then_some((gateway, svc.as_ref()))
            })
            .collect(),
    };
    let mut assigned = match publish.pool() {
        Some(pool) => addresses::assign(pool, &requests),
        None => load_balancer_addresses(&requests, &published),
    };
    let grants: Vec<ReferenceGrant> = s.grants.iter().map(|g| (**g).clone()).collect();
    let secrets: Secrets = s
        .secrets
        .iter()
        .map(|sec| (ObjectKey::of(&sec.metadata).into_pair(), sec.clone()))
        .collect();
    let verdicts: BTreeMap<ObjectKey, GatewayVerdict> = gateways
        .iter()
        .filter_map(|g| {
            let key = ObjectKey::of(&g.metadata);
            let address = assigned.remove(&key)?;
            Some((key, gateway_status::validate(g, address, &secrets, &grants)))
        })
        .collect();
    let refs = Refs::new(s.services.iter().map(AsRef::as_ref), grants);
    let namespaces: NamespaceLabels = s
        .namespaces
        .iter()
        .filter_map(|n| {
            Some((
                n.metadata.name.clone()?,
                n.metadata.labels.clone().unwrap_or_default(),
            ))
        })
        .collect();

    // Attachment, per route and parentRef. GRPCRoutes are read as the
    // HTTPRoutes that route the same calls; their kind stays with them.
    let all_routes: Vec<(RouteKind, Arc<HttpRoute>)> = s
        .routes
        .iter()
        .map(|r| (RouteKind::Http, r.clone()))
        .chain(
            s.grpc_routes
                .iter()
                .filter_map(|g| match grpc::to_http_route(g) {
                    Ok(r) => Some((RouteKind::Grpc, Arc::new(r))),
                    Err(error) => {
                        tracing::warn!(%error, "GRPCRoute ignored");
                        None
                    }
                }),
        )
        .filter(|(_, r)| live(&r.metadata))
        .collect();
    let mut routes: Vec<(RouteKind, &HttpRoute)> = all_routes
        .iter()
        .map(|(kind, r)| (*kind, r.as_ref()))
        .collect();
    routes.sort_by_key(|(kind, r)| (ObjectKey::of(&r.metadata), *kind));
    let mut attached: BTreeMap<ObjectKey, Vec<AttachedRoute>> = BTreeMap::new();
    let mut route_outcomes = Vec::new();
    for (kind, route) in routes {
        let namespace = route.metadata.namespace.as_deref().unwrap_or_default();
        let ours: Vec<(&HttpRouteParentRefs, &GatewayVerdict)> = route
            .spec
            .parent_refs
            .iter()
            .flatten()
            .filter_map(|p| {
                let (ns, name) = attachment::parent_gateway(namespace, p)?;
                Some((p, verdicts.get(&ObjectKey::new(&ns, &name))?))
            })
            .collect();
        if ours.is_empty() {
            continue;
        }
        let route_conditions = route_conditions(kind, route, &refs);
        let mut parents = Vec::new();
        for (parent, gateway) in ours {
            let mut conditions = Vec::new();
            match attachment::attach(kind, route, parent, gateway, &namespaces) {
                Attachment::Attached(listeners) => {
                    conditions.push(route_conditions.accepted.clone());
                    attached
                        .entry(gateway.key.clone())
                        .or_default()
                        .push(AttachedRoute {
                            kind,
                            route,
                            listeners,
                        });
                }
                Attachment::Rejected { reason, message } => {
                    conditions.push(Cond::new("Accepted", false, reason, message));
                }
            }
            conditions.push(route_conditions.resolved.clone());
            conditions.extend(route_conditions.partially_invalid.clone());
            parents.push(ParentOutcome {
                parent_ref: parent.clone(),
                conditions,
            });
        }
        route_outcomes.push(RouteOutcome {
            kind,
            key: ObjectKey::of(&route.metadata),
            generation: route.metadata.generation,
            parents,
        });
    }

    // Behind Services: a pod port per (Gateway, listener port), oldest
    // Gateway first.
    let serving_ports = |verdict: &GatewayVerdict| -> Vec<u16> {
        let ports: std::collections::BTreeSet<u16> = verdict
            .listeners
            .iter()
            .filter(|l| l.serves())
            .map(|l| l.port)
            .collect();
        ports.into_iter().collect()
    };
    let pod_ports = match publish {
        Publish::Local(_) => BTreeMap::new(),
        Publish::Service { .. } => {
            let wanted: Vec<(ObjectKey, Vec<u16>)> = gateways
                .iter()
                .filter_map(|g| {
                    let key = ObjectKey::of(&g.metadata);
                    let ports = serving_ports(verdicts.get(&key)?);
                    Some((key, ports))
                })
                .collect();
            let current: BTreeMap<(ObjectKey, u16), u16> = published
                .iter()
                .flat_map(|(key, svc)| {
                    publish::current_target_ports(svc)
                        .into_iter()
                        .map(|(port, target)| ((key.clone(), port), target))
                })
                .collect();
            publish::pod_ports(&wanted, &current)
        }
    };

    // Gateway statuses, sockets and Services.
    let mut config = ProxyConfig::default();
    let mut gateway_outcomes = Vec::new();
    let mut published_services = Vec::new();
    for (key, verdict) in &verdicts {
        let on_gateway = attached.get(key).map(Vec::as_slice).unwrap_or_default();
        let count = |listener: &str| {
            on_gateway
                .iter()
                .filter(|a| a.listeners.iter().any(|l| l == listener))
                .count()
        };
        let ip = verdict.ip();
        gateway_outcomes.push(GatewayOutcome {
            key: key.clone(),
            generation: verdict.generation,
            addresses: ip.iter().map(ToString::to_string).collect(),
            conditions: verdict.conditions(),
            listeners: verdict
                .listeners
                .iter()
                .map(|l| ListenerOutcome {
                    name: l.name.clone(),
                    attached_routes: i32::try_from(count(&l.name)).unwrap_or(i32::MAX),
                    supported_kinds: l.supported_kinds.clone(),
                    conditions: l.conditions(ip),
                })
                .collect(),
        });
        match publish {
            Publish::Local(_) => {
                if let Some(ip) = ip.filter(|_| verdict.accepted()) {
                    let bind = |port| Some(SocketAddr::new(ip, port));
                    config
                        .sockets
                        .extend(sockets(&bind, verdict, on_gateway, &refs));
                }
            }
            Publish::Service {
                kind,
                selector,
                namespace,
            } => {
                let ports: Vec<(u16, u16)> = serving_ports(verdict)
                    .into_iter()
                    .filter_map(|port| Some((port, *pod_ports.get(&(key.clone(), port))?)))
                    .collect();
                let external_ip = matches!(kind, ServiceKind::ExternalIps(_))
                    .then_some(ip)
                    .flatten();
                // Bound before the load balancer has an address: its health
                // checks reach the pods first.
                if verdict.accepted() && !ports.is_empty() {
                    let bind = |port| {
                        let target = ports.iter().find(|(p, _)| *p == port)?.1;
                        Some(publish::pod_socket(target))
                    };
                    config
                        .sockets
                        .extend(sockets(&bind, verdict, on_gateway, &refs));
                    if external_ip.is_some() || matches!(kind, ServiceKind::LoadBalancer) {
                        published_services.push(publish::desired_service(&ServiceRequest {
                            gateway: key,
                            namespace,
                            ports,
                            kind,
                            selector,
                            external_ip,
                        }));
                    }
                }
            }
        }
    }
    let services: Vec<&Service> = s.services.iter().map(AsRef::as_ref).collect();
    let slices: Vec<&EndpointSlice> = s.slices.iter().map(AsRef::as_ref).collect();
    config.endpoints = endpoints::endpoints(&services, &slices);
    config.protocols = endpoints::protocols(&services);
    let own: Vec<std::net::IpAddr> = verdicts.values().filter_map(GatewayVerdict::ip).collect();
    let records: Vec<&DNSRecord> = s.dns_records.iter().map(AsRef::as_ref).collect();
    config.spillover = Arc::new(spillover::spillover(&records, &own));
    let wanted: std::collections::BTreeSet<ObjectKey> = published_services
        .iter()
        .map(|svc| ObjectKey::of(&svc.metadata))
        .collect();
    // Every Service of ours no Gateway needs: its Gateway gone, no longer
    // ours, or no longer served.
    let stale_services = published
        .values()
        .map(|svc| ObjectKey::of(&svc.metadata))
        .filter(|svc| !wanted.contains(svc))
        .collect();
    Outcome {
        classes,
        gateways: gateway_outcomes,
        routes: route_outcomes,
        config,
        services: published_services,
        stale_services,
    }
}

/// Addresses from each Gateway's LoadBalancer Service: its load balancer's
/// IP once it has one. A requested address cannot be honoured: the load
/// balancer chooses.
fn load_balancer_addresses(
    requests: &[AddressRequest],
    published: &BTreeMap<ObjectKey, &Service>,
) -> BTreeMap<ObjectKey, Assignment> {
    requests
        .iter()
        .map(|r| {
            let outcome = if !r.requested.is_empty() {
                Assignment::Unsupported(
                    "spec.addresses is not supported: the load balancer of the Gateway's Service assigns its address".to_owned(),
                )
            } else {
                match published.get(&r.gateway).and_then(|svc| publish::load_balancer_ip(svc)) {
                    Some(ip) => Assignment::Assigned(ip),
                    None => Assignment::NotAssigned(format!(
                        "waiting for a load balancer to give Service {} an address",
                        publish::service_name(&r.gateway)
                    )),
                }
            };
            (r.gateway.clone(), outcome)
        })
        .collect()
}

/// `(no timestamp last, timestamp)`: the spec's "oldest first".
fn age(m: &kube::api::ObjectMeta) -> (bool, Option<k8s_openapi::jiff::Timestamp>) {
    (
        m.creation_timestamp.is_none(),
        m.creation_timestamp.as_ref().map(|t| t.0),
    )
}

/// A route attached to some listeners of one Gateway.
struct AttachedRoute<'a> {
    kind: RouteKind,
    route: &'a HttpRoute,
    listeners: Vec<String>,
}

/// What holds for a route on every parent it is accepted by.
struct RouteConditions {
    accepted: Cond,
    resolved: Cond,
    partially_invalid: Option<Cond>,
}

fn route_conditions(kind: RouteKind, route: &HttpRoute, refs: &dyn ResolveRefs) -> RouteConditions {
    let namespace = route.metadata.namespace.as_deref().unwrap_or_default();
    let invalid: Option<InvalidBackend> = route
        .spec
        .rules
        .iter()
        .flatten()
        .flat_map(|r| r.backend_refs.iter().flatten())
        .find_map(|b| {
            match resolve_ref(
                namespace,
                b.group.as_deref(),
                b.kind.as_deref(),
                b.namespace.as_deref(),
                &b.name,
                b.port,
                refs,
            ) {
                BackendTarget::Invalid(i) => Some(i),
                BackendTarget::Service(_) => None,
            }
        });
    let resolved = match invalid {
        None => Cond::new(
            "ResolvedRefs",
            true,
            "ResolvedRefs",
            "all references resolved",
        ),
        Some(i) => {
            let reason = match i {
                InvalidBackend::InvalidKind { .. } => "InvalidKind",
                InvalidBackend::MissingPort(_) => "UnsupportedValue",
                InvalidBackend::NotFound(_) => "BackendNotFound",
                InvalidBackend::RefNotPermitted(_) => "RefNotPermitted",
            };
            Cond::new("ResolvedRefs", false, reason, i.to_string())
        }
    };
    let (rules, errors) =
        routes::compile_rules(&RouteInput::of_kind(kind, route, Vec::new()), refs);
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let (accepted, partially_invalid) = if errors.is_empty() {
        (
            Cond::new("Accepted", true, "Accepted", "route accepted"),
            None,
        )
    } else if rules.is_empty() {
        (
            Cond::new("Accepted", false, "UnsupportedValue", messages.join("; ")),
            None,
        )
    } else {
        (
            Cond::new("Accepted", true, "Accepted", "route accepted"),
            // The spec's wording for rules left out while the rest serve.
            Some(Cond::new(
                "PartiallyInvalid",
                true,
                "UnsupportedValue",
                format!("Dropped Rule(s): {}", messages.join("; ")),
            )),
        )
    };
    RouteConditions {
        accepted,
        resolved,
        partially_invalid,
    }
}

/// The sockets of one Gateway: one per port of its serving listeners, where
/// `bind` puts that port.
fn sockets(
    bind: &dyn Fn(u16) -> Option<SocketAddr>,
    verdict: &GatewayVerdict,
    on_gateway: &[AttachedRoute],
    refs: &Refs,
) -> HashMap<SocketAddr, SocketConfig> {
    let serving: Vec<_> = verdict.listeners.iter().filter(|l| l.serves()).collect();
    let listeners: Vec<Listener> = serving
        .iter()
        .map(|l| Listener {
            name: l.name.clone(),
            port: l.port,
            scheme: if l.protocol == "HTTPS" {
                Scheme::Https
            } else {
                Scheme::Http
            },
            hostname: l.hostname.clone(),
        })
        .collect();
    let inputs: Vec<RouteInput> = on_gateway
        .iter()
        .map(|a| RouteInput::of_kind(a.kind, a.route, a.listeners.clone()))
        .collect();
    // Rule errors are reported from `route_conditions`, per route.
    let mut tables = route_table::build(&listeners, &inputs, refs).tables;
    let mut out = HashMap::new();
    for l in &serving {
        let Some(socket) = bind(l.port) else { continue };
        out.entry(socket).or_insert_with(|| SocketConfig {
            port: l.port,
            table: Arc::new(tables.remove(&l.port).unwrap_or_default()),
            tls: None,
        });
    }
    for l in serving.iter().filter(|l| l.protocol == "HTTPS") {
        let (Some(cert), Some(socket)) = (
            &l.certificate,
            bind(l.port).and_then(|socket| out.get_mut(&socket)),
        ) else {
            continue;
        };
        let tls = Arc::make_mut(socket.tls.get_or_insert_with(Default::default));
        match &l.hostname {
            Some(h) => {
                tls.by_hostname
                    .entry(h.to_ascii_lowercase())
                    .or_insert_with(|| cert.clone());
            }
            None => {
                tls.default.get_or_insert_with(|| cert.clone());
            }
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests;
