//! The feedback path for Gateway API implementations that cannot run on
//! this machine (Envoy Gateway, Istio, Cilium, NGINX Gateway Fabric, Kong,
//! kgateway), plus Traefik (which the e2e suite also runs for real): each
//! member object's status, shaped as that implementation documents it
//! (docs/IMPLEMENTATIONS.md says where each shape comes from), goes through
//! the agent's reduction (`fedway_agent::feedback::extract`), into a Work's
//! status, and through the hub's aggregation (`status`) and DNS record
//! computation (`dns_records`), exactly as in production. Messages differ
//! between versions; Fedway keys on condition types, statuses, reasons and
//! address values only, which is what these cases pin.

use std::collections::BTreeMap;

use fedway_crds::{
    MemberCluster,
    member_cluster::{DiscoveredGatewayClass, MemberClusterSpec, MemberClusterStatus},
    work::{ManifestStatus, ObjectIdentity, WorkStatus},
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde_json::{Value, json};

use crate::{
    dns_records::{self, Inputs, PlacedGateway},
    listener_status,
    status::{self, MemberReport},
};

const T: &str = "2026-01-01T00:00:00Z";
const HOSTNAME: &str = "shop.global.example.com";

fn cond(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": message,
           "lastTransitionTime": T, "observedGeneration": 1})
}

/// A member Gateway `web/shop` with `status`, as the implementation wrote it.
fn gateway(status: Value) -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
           "metadata": {"name": "shop", "namespace": "web", "generation": 1},
           "status": status})
}

/// A member HTTPRoute `web/stock` whose only parent entry is `controller`'s.
fn route(controller: &str, conditions: Vec<Value>) -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
    "metadata": {"name": "stock", "namespace": "web", "generation": 1},
    "status": {"parents": [{
        "parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shop"},
        "controllerName": controller,
        "conditions": conditions,
    }]}})
}

fn listener(name: &str, attached: i64, programmed: &str) -> Value {
    json!({"name": name, "attachedRoutes": attached,
           "supportedKinds": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}],
           "conditions": [cond("Accepted", "True", "Accepted", ""),
                          cond("ResolvedRefs", "True", "ResolvedRefs", ""),
                          cond("Programmed", programmed, if programmed == "True" { "Programmed" } else { "Pending" }, "")]})
}

/// One implementation's documented shapes and what Fedway must make of them.
struct Shape {
    implementation: &'static str,
    /// Its GatewayClass as the agent finds it (name, controllerName).
    class: (&'static str, &'static str),
    /// Its member Gateway once programmed.
    programmed: Value,
    /// Its member Gateway before its data plane has an address.
    pending: Value,
    /// Its member HTTPRoute whose backend Service is missing.
    rejected: Value,
    /// Addresses the hub Gateway and the DNS record carry when programmed.
    hub_addresses: &'static [&'static str],
    dns_addresses: &'static [&'static str],
    /// The reason the hub route's ResolvedRefs carries.
    route_reason: &'static str,
}

fn shapes() -> Vec<Shape> {
    let missing = |controller: &str, message: &str| {
        route(
            controller,
            vec![
                cond("Accepted", "True", "Accepted", ""),
                cond("ResolvedRefs", "False", "BackendNotFound", message),
            ],
        )
    };
    vec![
        Shape {
            implementation: "Traefik",
            class: ("traefik", "traefik.io/gateway-controller"),
            // The address is the static one from its
            // providers.kubernetesGateway.statusAddress setting (ip,
            // hostname, or copied from a Service).
            programmed: gateway(json!({
                "addresses": [{"type": "IPAddress", "value": "192.0.2.10"}],
                "conditions": [cond("Accepted", "True", "Accepted", "Gateway successfully scheduled"),
                               cond("Programmed", "True", "Programmed", "Gateway successfully scheduled")],
                "listeners": [listener("http", 2, "True")],
            })),
            // Traefik programs without waiting for an address; with no
            // statusAddress configured it publishes none.
            pending: gateway(json!({
                "conditions": [cond("Accepted", "True", "Accepted", "Gateway successfully scheduled"),
                               cond("Programmed", "True", "Programmed", "Gateway successfully scheduled")],
                "listeners": [listener("http", 2, "True")],
            })),
            rejected: missing(
                "traefik.io/gateway-controller",
                // Verbatim from the e2e run against Traefik v3.6.12.
                "Cannot load HTTPBackendRef web/stock: getting service: service \"stock\" not found",
            ),
            hub_addresses: &["192.0.2.10"],
            dns_addresses: &["192.0.2.10"],
            route_reason: "BackendNotFound",
        },
        Shape {
            implementation: "Envoy Gateway",
            class: ("eg", "gateway.envoyproxy.io/gatewayclass-controller"),
            // Addresses from its envoy proxy Service: the load balancer's
            // IPs (or hostnames), else the Service's external IPs.
            programmed: gateway(json!({
                "addresses": [{"type": "IPAddress", "value": "192.0.2.20"}],
                "conditions": [cond("Accepted", "True", "Accepted", "The Gateway has been scheduled by Envoy Gateway"),
                               cond("Programmed", "True", "Programmed", "Address assigned to the Gateway, 1/1 envoy replicas available")],
                "listeners": [listener("http", 2, "True")],
            })),
            pending: gateway(json!({
                "conditions": [cond("Accepted", "True", "Accepted", "The Gateway has been scheduled by Envoy Gateway"),
                               cond("Programmed", "False", "AddressNotAssigned", "No addresses have been assigned to the Gateway")],
                "listeners": [listener("http", 2, "True")],
            })),
            rejected: missing(
                "gateway.envoyproxy.io/gatewayclass-controller",
                "Failed to process route rule 0 backendRef 0: service web/stock not found.",
            ),
            hub_addresses: &["192.0.2.20"],
            dns_addresses: &["192.0.2.20"],
            route_reason: "BackendNotFound",
        },
        Shape {
            implementation: "Istio",
            class: ("istio", "istio.io/gateway-controller"),
            programmed: gateway(json!({
                "addresses": [{"type": "IPAddress", "value": "192.0.2.30"}],
                "conditions": [cond("Accepted", "True", "Accepted", "Resource accepted"),
                               cond("Programmed", "True", "Programmed", "Resource programmed, assigned to service(s) shop-istio.web.svc.cluster.local:80")],
                "listeners": [listener("http", 2, "True")],
            })),
            // Until its Service gets a load balancer address, Istio
            // publishes the Service's in-cluster hostname.
            pending: gateway(json!({
                "addresses": [{"type": "Hostname", "value": "shop-istio.web.svc.cluster.local"}],
                "conditions": [cond("Accepted", "True", "Accepted", "Resource accepted"),
                               cond("Programmed", "False", "AddressNotAssigned", "Assigned to service(s) shop-istio.web.svc.cluster.local:80, but failed to assign to all requested addresses: address pending for hostname \"shop-istio.web.svc.cluster.local\"")],
                "listeners": [listener("http", 2, "True")],
            })),
            rejected: missing(
                "istio.io/gateway-controller",
                "backend(stock.web.svc.cluster.local) not found",
            ),
            hub_addresses: &["192.0.2.30"],
            dns_addresses: &["192.0.2.30"],
            route_reason: "BackendNotFound",
        },
        Shape {
            implementation: "Cilium",
            class: ("cilium", "io.cilium/gateway-controller"),
            // From its cilium-gateway-<name> LoadBalancer Service.
            programmed: gateway(json!({
                "addresses": [{"type": "IPAddress", "value": "192.0.2.40"}],
                "conditions": [cond("Accepted", "True", "Accepted", "Gateway successfully scheduled"),
                               cond("Programmed", "True", "Programmed", "Gateway successfully reconciled")],
                "listeners": [listener("http", 2, "True")],
            })),
            pending: gateway(json!({
                "conditions": [cond("Accepted", "True", "Accepted", "Gateway successfully scheduled"),
                               cond("Programmed", "False", "AddressNotAssigned", "Address is not ready yet")],
                "listeners": [listener("http", 2, "True")],
            })),
            rejected: missing(
                "io.cilium/gateway-controller",
                "Service \"web/stock\" not found",
            ),
            hub_addresses: &["192.0.2.40"],
            dns_addresses: &["192.0.2.40"],
            route_reason: "BackendNotFound",
        },
        Shape {
            implementation: "NGINX Gateway Fabric",
            class: ("nginx", "gateway.nginx.org/nginx-gateway-controller"),
            // From the nginx Service it provisions per Gateway: load
            // balancer IP and/or hostname (an AWS NLB gives a hostname).
            programmed: gateway(json!({
                "addresses": [{"type": "IPAddress", "value": "192.0.2.50"},
                              {"type": "Hostname", "value": "shop-nginx.elb.example.com"}],
                "conditions": [cond("Accepted", "True", "Accepted", "Gateway is accepted"),
                               cond("Programmed", "True", "Programmed", "Gateway is programmed")],
                "listeners": [listener("http", 2, "True")],
            })),
            pending: gateway(json!({
                "conditions": [cond("Accepted", "True", "Accepted", "Gateway is accepted"),
                               cond("Programmed", "False", "Invalid", "Gateway is not programmed")],
                "listeners": [listener("http", 2, "False")],
            })),
            rejected: missing(
                "gateway.nginx.org/nginx-gateway-controller",
                "spec.rules[0].backendRefs[0].name: Not found: \"stock\"",
            ),
            hub_addresses: &["192.0.2.50", "shop-nginx.elb.example.com"],
            dns_addresses: &["192.0.2.50"],
            route_reason: "BackendNotFound",
        },
        Shape {
            implementation: "Kong (Kong Ingress Controller)",
            class: ("kong", "konghq.com/kic-gateway-controller"),
            // From its publish Service (kong-proxy): the proxy is not
            // provisioned per Gateway; listeners must match its ports.
            programmed: gateway(json!({
                "addresses": [{"type": "IPAddress", "value": "192.0.2.60"}],
                "conditions": [cond("Accepted", "True", "Accepted", ""),
                               cond("Programmed", "True", "Programmed", "")],
                "listeners": [listener("http", 2, "True")],
            })),
            pending: gateway(json!({
                "conditions": [cond("Accepted", "True", "Accepted", ""),
                               cond("Programmed", "False", "Pending", "")],
                "listeners": [listener("http", 0, "False")],
            })),
            rejected: missing(
                "konghq.com/kic-gateway-controller",
                "Service web/stock not found",
            ),
            hub_addresses: &["192.0.2.60"],
            dns_addresses: &["192.0.2.60"],
            route_reason: "BackendNotFound",
        },
        Shape {
            implementation: "kgateway",
            class: ("kgateway", "kgateway.dev/kgateway"),
            programmed: gateway(json!({
                "addresses": [{"type": "Hostname", "value": "shop.lb.example.com"}],
                "conditions": [cond("Accepted", "True", "Accepted", ""),
                               cond("Programmed", "True", "Programmed", "")],
                "listeners": [listener("http", 2, "True")],
            })),
            pending: gateway(json!({
                "conditions": [cond("Accepted", "True", "Accepted", ""),
                               cond("Programmed", "False", "AddressNotAssigned", "")],
                "listeners": [listener("http", 2, "True")],
            })),
            rejected: missing("kgateway.dev/kgateway", "Service \"stock\" not found"),
            // A hostname-only address: shown at the hub, but nothing DNS
            // can answer an A query with (no CNAME support yet).
            hub_addresses: &["shop.lb.example.com"],
            dns_addresses: &[],
            route_reason: "BackendNotFound",
        },
    ]
}

fn identity(object: &Value) -> ObjectIdentity {
    ObjectIdentity {
        group: "gateway.networking.k8s.io".into(),
        version: "v1".into(),
        kind: object["kind"].as_str().unwrap_or_default().into(),
        namespace: Some("web".into()),
        name: object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .into(),
    }
}

/// A Work's status as the agent writes it for these live member objects.
fn work_status(objects: &[&Value]) -> WorkStatus {
    WorkStatus {
        manifests: objects
            .iter()
            .map(|object| ManifestStatus {
                identity: identity(object),
                conditions: vec![],
                feedback: fedway_agent::feedback::extract(object),
            })
            .collect(),
        ..Default::default()
    }
}

fn ready_member(name: &str, classes: Vec<DiscoveredGatewayClass>) -> MemberCluster {
    let mut member = MemberCluster::new(name, MemberClusterSpec::default());
    member.status = Some(MemberClusterStatus {
        conditions: vec![Condition {
            type_: "Ready".into(),
            status: "True".into(),
            reason: "Test".into(),
            message: String::new(),
            last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
            observed_generation: None,
        }],
        gateway_classes: classes,
        ..Default::default()
    });
    member
}

/// The hub Gateway the members run: one HTTP listener.
fn hub_gateway() -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "shop", "namespace": "web", "creationTimestamp": T},
        "spec": {"gatewayClassName": "fedway",
                 "listeners": [{"name": "http", "port": 80, "protocol": "HTTP", "hostname": HOSTNAME}]},
    })
}

/// The hub route `web/stock`, attached to the hub Gateway, for its hostname.
fn hub_route() -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
           "metadata": {"name": "stock", "namespace": "web"},
           "spec": {"parentRefs": [{"name": "shop"}]}})
}

/// The endpoint DNS would publish for one member with this Work status and
/// these hub routes: (addresses, hub-healthy), or None when it is left out.
fn dns_endpoint(
    member: &MemberCluster,
    work: &WorkStatus,
    routes: &[Value],
) -> Option<(Vec<String>, bool)> {
    let hub_gateway = hub_gateway();
    let placed = [PlacedGateway {
        gateway: &hub_gateway,
        listener_sets: vec![],
        members: vec![status::member_gateway(
            "member",
            ("web", "shop"),
            Some(work),
        )],
    }];
    let computed = dns_records::compute(&Inputs {
        gateways: &placed,
        routes,
        policies: &[],
        zones: &["global.example.com".to_owned()],
        members: std::slice::from_ref(member),
        previous: &BTreeMap::new(),
    });
    let record = computed.records.get(HOSTNAME)?;
    let endpoint = record.endpoints.first()?;
    Some((endpoint.addresses.clone(), endpoint.hub_healthy))
}

#[test]
fn every_documented_shape_reaches_hub_status_and_dns() {
    for shape in shapes() {
        let name = shape.implementation;
        let (class, controller) = shape.class;
        // Placement: the agent's discovered class is the member's native one.
        let classes = vec![
            DiscoveredGatewayClass {
                name: "fedway-proxy".into(),
                controller_name: "fedway.dev/lb-proxy".into(),
                accepted: true,
                supported_features: vec![],
            },
            DiscoveredGatewayClass {
                name: class.into(),
                controller_name: controller.into(),
                accepted: true,
                supported_features: vec![],
            },
        ];
        assert_eq!(
            fedway_crds::placement::native_class(&classes),
            Some(class),
            "{name}: native class"
        );
        let member = ready_member("member", classes);

        // Programmed: the hub says so, with the member's addresses; DNS
        // publishes the IPs, healthy.
        let work = work_status(&[&shape.programmed, &shape.rejected]);
        let reports = [MemberReport::new("member", true, &work)];
        let programmed = status::gateway_programmed("shop", &reports);
        assert!(programmed.status, "{name}: {programmed:?}");
        assert_eq!(
            programmed.message, "programmed in 1 of 1 members: member",
            "{name}"
        );
        assert_eq!(
            status::gateway_addresses("shop", &reports),
            shape.hub_addresses,
            "{name}: hub addresses"
        );
        let listeners = listener_status::listeners(&hub_gateway(), &[], &reports);
        assert!(
            listeners.iter().all(|l| l.accepted.status
                && l.resolved_refs.status
                && l.programmed.status
                && l.attached_routes == 2),
            "{name}: listeners {listeners:?}"
        );
        let want_dns = (!shape.dns_addresses.is_empty()).then(|| {
            (
                shape
                    .dns_addresses
                    .iter()
                    .map(|a| (*a).to_owned())
                    .collect(),
                true,
            )
        });
        assert_eq!(
            dns_endpoint(&member, &work, &[]),
            want_dns,
            "{name}: DNS endpoint"
        );
        // The rejected route serves the hostname: the member does not.
        assert_eq!(
            dns_endpoint(&member, &work, &[hub_route()]),
            want_dns.clone().map(|(addresses, _)| (addresses, false)),
            "{name}: DNS endpoint with its rejected route"
        );

        // The rejected route: the hub route's ResolvedRefs is False with the
        // implementation's reason, attributed to the member.
        let resolved = status::route_condition(
            "HTTPRoute",
            "web",
            "stock",
            status::ParentRef::gateway("web", "shop"),
            "ResolvedRefs",
            &reports,
        );
        assert!(!resolved.status, "{name}: {resolved:?}");
        assert_eq!(resolved.reason, shape.route_reason, "{name}");
        assert!(
            resolved.message.starts_with(&format!(
                "not ResolvedRefs in member ({}: ",
                shape.route_reason
            )),
            "{name}: {}",
            resolved.message
        );
        let accepted = status::route_condition(
            "HTTPRoute",
            "web",
            "stock",
            status::ParentRef::gateway("web", "shop"),
            "Accepted",
            &reports,
        );
        assert!(accepted.status, "{name}: {accepted:?}");

        // Not programmed yet: the hub says why, in the implementation's
        // words, and DNS publishes nothing for a member that never had an IP.
        let work = work_status(&[&shape.pending]);
        let reports = [MemberReport::new("member", true, &work)];
        let pending = status::gateway_programmed("shop", &reports);
        let pending_condition = shape.pending["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Programmed")
            .cloned()
            .unwrap_or_default();
        if pending_condition["status"] == "True" {
            // Traefik: Programmed without an address; DNS has nothing to
            // publish, the hub says programmed.
            assert!(pending.status, "{name}: {pending:?}");
        } else {
            assert!(!pending.status, "{name}: {pending:?}");
            assert_eq!(
                pending.message,
                format!(
                    "programmed in 0 of 1 members; not programmed in member (Programmed=False: {})",
                    pending_condition["reason"].as_str().unwrap_or_default()
                ),
                "{name}"
            );
        }
        assert_eq!(
            dns_endpoint(&member, &work, &[]),
            None,
            "{name}: DNS while pending"
        );
    }
}

#[test]
fn route_reasons_from_members_are_kept_only_when_valid() {
    let bad = |reason: &str| {
        route(
            "example.com/ctrl",
            vec![cond("ResolvedRefs", "False", reason, "m")],
        )
    };
    for (reason, want) in [
        ("BackendNotFound", "BackendNotFound"),
        ("RefNotPermitted", "RefNotPermitted"),
        ("", "Pending"),
        ("not a reason", "Pending"),
        ("9Lives", "Pending"),
        ("Trailing:", "Pending"),
    ] {
        let work = work_status(&[&bad(reason)]);
        let reports = [MemberReport::new("m", true, &work)];
        let got = status::route_condition(
            "HTTPRoute",
            "web",
            "stock",
            status::ParentRef::gateway("web", "shop"),
            "ResolvedRefs",
            &reports,
        );
        assert_eq!(got.reason, want, "{reason:?}");
        assert!(!got.status);
    }
}
