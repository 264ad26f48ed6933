use std::net::IpAddr;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::*;
use fedway_runtime::certificates::testing::tls_secret;

use crate::controller::addresses::AddressPool;

fn obj<K: DeserializeOwned>(v: Value) -> Arc<K> {
    Arc::new(serde_json::from_value(v).expect("valid object"))
}

fn route(namespace: &str, name: &str, hostnames: Value, backend: &str) -> Arc<HttpRoute> {
    obj(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"namespace": namespace, "name": name, "generation": 1},
        "spec": {
            "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "gw", "namespace": "infra"}],
            "hostnames": hostnames,
            "rules": [{"backendRefs": [{"name": backend, "namespace": "infra", "port": 80}]}],
        },
    }))
}

pub(crate) fn snapshot() -> Snapshot {
    let mut secret = tls_secret("cert", "shop.example.com");
    secret.metadata.namespace = Some("infra".into());
    Snapshot {
        classes: vec![
            obj(
                json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
                        "metadata": {"name": "fedway-proxy", "generation": 1},
                        "spec": {"controllerName": "fedway.dev/lb-proxy"}}),
            ),
            obj(
                json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
                        "metadata": {"name": "other"}, "spec": {"controllerName": "example.com/other"}}),
            ),
        ],
        gateways: vec![
            obj(
                json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                "metadata": {"namespace": "infra", "name": "gw", "generation": 2},
                "spec": {"gatewayClassName": "fedway-proxy", "listeners": [
                    {"name": "http", "port": 80, "protocol": "HTTP", "hostname": "*.example.com"},
                    {"name": "https", "port": 443, "protocol": "HTTPS", "hostname": "shop.example.com",
                     "tls": {"certificateRefs": [{"name": "cert"}]}},
                ]}}),
            ),
            obj(
                json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                "metadata": {"namespace": "infra", "name": "not-ours"},
                "spec": {"gatewayClassName": "other", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}}),
            ),
        ],
        routes: vec![
            route("infra", "valid", json!(["shop.example.com"]), "web"),
            route(
                "infra",
                "missing-backend",
                json!(["shop.example.com"]),
                "nope",
            ),
            route("elsewhere", "not-allowed", json!([]), "web"),
            route("infra", "other-host", json!(["shop.example.org"]), "web"),
        ],
        services: vec![obj(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"namespace": "infra", "name": "web"},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}))],
        slices: vec![obj(
            json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"namespace": "infra", "name": "web-1", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080}],
            "endpoints": [{"addresses": ["10.1.0.1"], "conditions": {"ready": true}},
                          {"addresses": ["10.1.0.2"], "conditions": {"ready": false}}]}),
        )],
        secrets: vec![Arc::new(secret)],
        ..Default::default()
    }
}

fn pool() -> AddressPool {
    "10.0.0.1-10.0.0.9".parse().expect("pool")
}

fn parent_reasons(o: &Outcome, name: &str) -> Vec<(&'static str, bool, String)> {
    o.routes
        .iter()
        .find(|r| r.key.name == name)
        .expect("route outcome")
        .parents[0]
        .conditions
        .iter()
        .map(|c| (c.type_, c.status, c.reason.clone()))
        .collect()
}

#[test]
fn a_whole_pass() {
    let o = compute("fedway.dev/lb-proxy", &Publish::Local(pool()), &snapshot());
    assert_eq!(o.classes.len(), 1, "only our class");
    assert!(o.classes[0].conditions[0].status);

    assert_eq!(o.gateways.len(), 1, "only Gateways of our class");
    let gw = &o.gateways[0];
    assert_eq!(gw.addresses, vec!["10.0.0.1".to_owned()]);
    assert!(
        gw.conditions.iter().all(|c| c.status),
        "{:?}",
        gw.conditions
    );
    let attached: Vec<(&str, i32)> = gw
        .listeners
        .iter()
        .map(|l| (l.name.as_str(), l.attached_routes))
        .collect();
    // valid and missing-backend attach to both listeners (their hostname is
    // inside both); the others attach nowhere.
    assert_eq!(attached, vec![("http", 2), ("https", 2)]);

    let ok = |t| {
        (
            t,
            true,
            if t == "Accepted" {
                "Accepted".into()
            } else {
                "ResolvedRefs".into()
            },
        )
    };
    assert_eq!(
        parent_reasons(&o, "valid"),
        vec![ok("Accepted"), ok("ResolvedRefs")]
    );
    assert_eq!(
        parent_reasons(&o, "missing-backend"),
        vec![
            ok("Accepted"),
            ("ResolvedRefs", false, "BackendNotFound".into())
        ]
    );
    assert_eq!(
        parent_reasons(&o, "not-allowed")[0],
        ("Accepted", false, "NotAllowedByListeners".into())
    );
    assert_eq!(
        parent_reasons(&o, "not-allowed")[1],
        ("ResolvedRefs", false, "RefNotPermitted".into())
    );
    assert_eq!(
        parent_reasons(&o, "other-host")[0],
        ("Accepted", false, "NoMatchingListenerHostname".into())
    );

    let ip: IpAddr = "10.0.0.1".parse().expect("ip");
    let sockets: Vec<SocketAddr> = o.config.sockets.keys().copied().collect();
    assert_eq!(
        sockets,
        vec![SocketAddr::new(ip, 80), SocketAddr::new(ip, 443)]
    );
    assert!(o.config.sockets[&SocketAddr::new(ip, 80)].tls.is_none());
    let tls = o.config.sockets[&SocketAddr::new(ip, 443)]
        .tls
        .as_ref()
        .expect("tls");
    assert!(tls.by_hostname.contains_key("shop.example.com"));
    assert!(!o.config.sockets[&SocketAddr::new(ip, 80)].table.is_empty());
    let web = crate::backends::ServiceRef {
        namespace: "infra".into(),
        name: "web".into(),
        port: 80,
    };
    assert_eq!(
        o.config.endpoints[&web],
        vec!["10.1.0.1:8080".parse::<SocketAddr>().expect("addr")]
    );
}

#[test]
fn invalid_rules_are_reported_and_the_rest_serve() {
    let mut s = snapshot();
    s.routes = vec![obj(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"namespace": "infra", "name": "partly"},
        "spec": {
            "parentRefs": [{"name": "gw"}],
            "rules": [
                {"backendRefs": [{"name": "web", "port": 80}]},
                {"matches": [{"path": {"type": "RegularExpression", "value": "(("}}],
                 "backendRefs": [{"name": "web", "port": 80}]},
            ],
        },
    }))];
    let o = compute("fedway.dev/lb-proxy", &Publish::Local(pool()), &s);
    let reasons = parent_reasons(&o, "partly");
    assert!(
        reasons.contains(&("Accepted", true, "Accepted".into())),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&("PartiallyInvalid", true, "UnsupportedValue".into())),
        "{reasons:?}"
    );
}

#[test]
fn a_class_with_parameters_is_not_accepted_and_its_gateways_are_left_alone() {
    let mut s = snapshot();
    s.classes = vec![obj(
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
        "metadata": {"name": "fedway-proxy"},
        "spec": {"controllerName": "fedway.dev/lb-proxy",
                 "parametersRef": {"group": "example.com", "kind": "Params", "name": "p"}}}),
    )];
    let o = compute("fedway.dev/lb-proxy", &Publish::Local(pool()), &s);
    assert_eq!(o.classes[0].conditions[0].reason, "InvalidParameters");
    assert!(o.gateways.is_empty() && o.routes.is_empty() && o.config.sockets.is_empty());
}

/// A GRPCRoute attaches like an HTTPRoute of the same name (its own
/// outcome, kind GRPCRoute), counts in attachedRoutes and routes its calls.
#[test]
fn grpc_routes_attach_and_route() {
    let mut s = snapshot();
    s.grpc_routes = vec![obj(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GRPCRoute",
        "metadata": {"namespace": "infra", "name": "valid"},
        "spec": {
            "parentRefs": [{"name": "gw", "sectionName": "http"}],
            "hostnames": ["grpc.example.com"],
            "rules": [{
                "matches": [{"method": {"service": "echo.Echo", "method": "Say"}}],
                "backendRefs": [{"name": "web", "port": 80}],
            }],
        },
    }))];
    let o = compute("fedway.dev/lb-proxy", &Publish::Local(pool()), &s);
    let kinds: Vec<(RouteKind, &str)> = o
        .routes
        .iter()
        .filter(|r| r.key.name == "valid")
        .map(|r| (r.kind, r.key.name.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![(RouteKind::Http, "valid"), (RouteKind::Grpc, "valid")]
    );
    let grpc = o
        .routes
        .iter()
        .find(|r| r.kind == RouteKind::Grpc)
        .expect("GRPCRoute outcome");
    assert!(grpc.parents[0].conditions.iter().all(|c| c.status));
    let http_listener = o.gateways[0]
        .listeners
        .iter()
        .find(|l| l.name == "http")
        .expect("http listener");
    assert_eq!(http_listener.attached_routes, 3);
    assert!(
        http_listener
            .supported_kinds
            .contains(&("gateway.networking.k8s.io".into(), "GRPCRoute".into()))
    );

    let ip: IpAddr = "10.0.0.1".parse().expect("ip");
    let table = &o.config.sockets[&SocketAddr::new(ip, 80)].table;
    let call = crate::request::RequestHead::get("grpc.example.com", "/echo.Echo/Say");
    let selected = table.select(&call).expect("the call is routed");
    assert_eq!(selected.rule.route.kind, RouteKind::Grpc);
    let other = crate::request::RequestHead::get("grpc.example.com", "/echo.Echo/Other");
    assert!(table.select(&other).is_none());
}

fn behind_services(kind: ServiceKind) -> Publish {
    Publish::Service {
        kind,
        namespace: "fedway-system".to_owned(),
        selector: std::collections::BTreeMap::from([(
            "app.kubernetes.io/name".to_owned(),
            "fedway-proxy".to_owned(),
        )]),
    }
}

fn programmed(o: &Outcome) -> (bool, String) {
    let c = o.gateways[0]
        .conditions
        .iter()
        .find(|c| c.type_ == "Programmed")
        .expect("Programmed");
    (c.status, c.reason.clone())
}

#[test]
fn behind_a_cluster_ip_service_the_address_is_its_external_ip() {
    let o = compute(
        "fedway.dev/lb-proxy",
        &behind_services(ServiceKind::ExternalIps(pool())),
        &snapshot(),
    );
    assert_eq!(o.gateways[0].addresses, vec!["10.0.0.1".to_owned()]);
    assert!(programmed(&o).0, "{:?}", programmed(&o));
    let [service] = o.services.as_slice() else {
        panic!("one Service: {:?}", o.services)
    };
    assert_eq!(
        (
            service.metadata.namespace.as_deref(),
            service.metadata.name.as_deref()
        ),
        (
            Some("fedway-system"),
            Some(publish::service_name(&ObjectKey::new("infra", "gw")).as_str())
        )
    );
    let spec = service.spec.clone().expect("a spec");
    assert_eq!(spec.external_ips, Some(vec!["10.0.0.1".to_owned()]));
    // Each listener port goes to a pod port the data plane binds on every
    // address of the pod.
    let targets = publish::current_target_ports(service);
    assert_eq!(
        targets.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
        vec![80, 443]
    );
    let mut bound: Vec<SocketAddr> = o.config.sockets.keys().copied().collect();
    bound.sort();
    let mut want: Vec<SocketAddr> = targets
        .iter()
        .map(|(_, t)| publish::pod_socket(*t))
        .collect();
    want.sort();
    assert_eq!(bound, want);
    // The HTTPS listener's certificate is on its pod port.
    let https = publish::pod_socket(targets[1].1);
    assert!(o.config.sockets[&https].tls.is_some());
    assert!(o.stale_services.is_empty());
}

#[test]
fn behind_a_load_balancer_the_address_waits_for_it() {
    let publish = behind_services(ServiceKind::LoadBalancer);
    let o = compute("fedway.dev/lb-proxy", &publish, &snapshot());
    assert!(o.gateways[0].addresses.is_empty());
    assert_eq!(programmed(&o), (false, "AddressNotAssigned".to_owned()));
    // Published and bound all the same: the load balancer needs both.
    assert_eq!(o.services.len(), 1);
    assert_eq!(o.config.sockets.len(), 2);

    // The load balancer gave the Service an address: the Gateway's.
    let mut s = snapshot();
    let mut service = o.services[0].clone();
    service.status = Some(
        serde_json::from_value(json!({"loadBalancer": {"ingress": [{"ip": "192.0.2.80"}]}}))
            .expect("a status"),
    );
    s.services.push(Arc::new(service));
    let o = compute("fedway.dev/lb-proxy", &publish, &s);
    assert_eq!(o.gateways[0].addresses, vec!["192.0.2.80".to_owned()]);
    assert!(programmed(&o).0, "{:?}", programmed(&o));

    // A requested address cannot be honoured: the load balancer picks.
    let mut gw = (*s.gateways[0]).clone();
    gw.spec.addresses = Some(vec![
        serde_json::from_value(json!({"type": "IPAddress", "value": "192.0.2.9"}))
            .expect("an address"),
    ]);
    s.gateways[0] = Arc::new(gw);
    let o = compute("fedway.dev/lb-proxy", &publish, &s);
    let accepted = o.gateways[0]
        .conditions
        .iter()
        .find(|c| c.type_ == "Accepted")
        .expect("Accepted");
    assert_eq!(
        (accepted.status, accepted.reason.as_str()),
        (false, "UnsupportedAddress")
    );
    // No longer served: its Service goes.
    let ours = ObjectKey::new(
        "fedway-system",
        &publish::service_name(&ObjectKey::new("infra", "gw")),
    );
    assert!(o.services.is_empty());
    assert_eq!(o.stale_services, vec![ours.clone()]);
    // A Gateway gone: its Service too (no owner reference can do it across
    // namespaces).
    let mut gone = s.clone();
    gone.gateways.clear();
    let o = compute("fedway.dev/lb-proxy", &publish, &gone);
    assert_eq!(o.stale_services, vec![ours]);
}

#[test]
fn published_target_ports_are_kept() {
    let publish = behind_services(ServiceKind::ExternalIps(pool()));
    let first = compute("fedway.dev/lb-proxy", &publish, &snapshot());
    let mut s = snapshot();
    let mut service = first.services[0].clone();
    // As if an earlier pass (or another replica) had chosen 20007 for 80.
    if let Some(port) = service
        .spec
        .as_mut()
        .and_then(|s| s.ports.as_mut())
        .and_then(|p| p.first_mut())
    {
        port.target_port =
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(20007));
    }
    s.services.push(Arc::new(service));
    let o = compute("fedway.dev/lb-proxy", &publish, &s);
    assert_eq!(
        publish::current_target_ports(&o.services[0])[0],
        (80, 20007)
    );
    assert!(o.config.sockets.contains_key(&publish::pod_socket(20007)));
}
