use std::net::IpAddr;

use serde_json::{Value, json};

use super::*;
use crate::controller::{
    addresses::Assignment,
    gateway_status::{self, Secrets},
};

fn gateway(listeners: Value) -> GatewayVerdict {
    let g = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"namespace": "infra", "name": "gw"},
        "spec": {"gatewayClassName": "fedway-proxy", "listeners": listeners},
    }))
    .expect("valid Gateway");
    let ip: IpAddr = "10.0.0.1".parse().expect("ip");
    gateway_status::validate(&g, Assignment::Assigned(ip), &Secrets::new(), &[])
}

fn route(namespace: &str, hostnames: Value, parent: Value) -> (HttpRoute, HttpRouteParentRefs) {
    let r: HttpRoute = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"namespace": namespace, "name": "r"},
        "spec": {"parentRefs": [parent], "hostnames": hostnames},
    }))
    .expect("valid HTTPRoute");
    let p = r.spec.parent_refs.clone().unwrap_or_default().remove(0);
    (r, p)
}

fn listeners() -> Value {
    json!([
        {"name": "same", "port": 80, "protocol": "HTTP", "hostname": "*.example.com"},
        {"name": "all", "port": 8080, "protocol": "HTTP",
         "allowedRoutes": {"namespaces": {"from": "All"}}},
        {"name": "selected", "port": 8081, "protocol": "HTTP",
         "allowedRoutes": {"namespaces": {"from": "Selector", "selector": {
             "matchLabels": {"team": "shop"},
             "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod", "stage"]}]}}}},
    ])
}

fn labels() -> NamespaceLabels {
    NamespaceLabels::from([
        (
            "shop".to_owned(),
            BTreeMap::from([
                ("team".to_owned(), "shop".to_owned()),
                ("env".to_owned(), "prod".to_owned()),
            ]),
        ),
        (
            "dev".to_owned(),
            BTreeMap::from([
                ("team".to_owned(), "shop".to_owned()),
                ("env".to_owned(), "dev".to_owned()),
            ]),
        ),
        ("infra".to_owned(), BTreeMap::new()),
    ])
}

fn attach_one(namespace: &str, hostnames: Value, parent: Value) -> Attachment {
    let (r, p) = route(namespace, hostnames, parent);
    attach(RouteKind::Http, &r, &p, &gateway(listeners()), &labels())
}

fn attached(names: &[&str]) -> Attachment {
    Attachment::Attached(names.iter().map(|n| (*n).to_owned()).collect())
}

fn reason(a: &Attachment) -> &str {
    match a {
        Attachment::Rejected { reason, .. } => reason,
        Attachment::Attached(_) => "Attached",
    }
}

#[test]
fn namespaces_same_all_and_selector() {
    let parent = json!({"name": "gw", "namespace": "infra"});
    assert_eq!(
        attach_one("infra", json!([]), parent.clone()),
        attached(&["same", "all"])
    );
    assert_eq!(
        attach_one("shop", json!([]), parent.clone()),
        attached(&["all", "selected"])
    );
    assert_eq!(
        attach_one("dev", json!([]), parent.clone()),
        attached(&["all"])
    );
}

#[test]
fn section_name_and_port_narrow_the_listeners() {
    let a = attach_one(
        "shop",
        json!([]),
        json!({"name": "gw", "namespace": "infra", "sectionName": "selected"}),
    );
    assert_eq!(a, attached(&["selected"]));
    let a = attach_one(
        "infra",
        json!([]),
        json!({"name": "gw", "namespace": "infra", "port": 80}),
    );
    assert_eq!(a, attached(&["same"]));
    let a = attach_one(
        "infra",
        json!([]),
        json!({"name": "gw", "namespace": "infra", "sectionName": "nope"}),
    );
    assert_eq!(reason(&a), "NoMatchingParent");
    let a = attach_one(
        "dev",
        json!([]),
        json!({"name": "gw", "namespace": "infra", "sectionName": "same"}),
    );
    assert_eq!(reason(&a), "NotAllowedByListeners");
}

/// A listener's allowedRoutes.kinds decide which route kinds attach; with
/// none listed, HTTP listeners take both HTTPRoutes and GRPCRoutes.
#[test]
fn route_kinds_allowed_by_listeners() {
    let gw = gateway(json!([
        {"name": "any", "port": 80, "protocol": "HTTP"},
        {"name": "http-only", "port": 81, "protocol": "HTTP",
         "allowedRoutes": {"kinds": [{"kind": "HTTPRoute"}]}},
        {"name": "grpc-only", "port": 82, "protocol": "HTTP",
         "allowedRoutes": {"kinds": [{"kind": "GRPCRoute"}]}},
    ]));
    let (r, p) = route("infra", json!([]), json!({"name": "gw"}));
    assert_eq!(
        attach(RouteKind::Http, &r, &p, &gw, &labels()),
        attached(&["any", "http-only"])
    );
    assert_eq!(
        attach(RouteKind::Grpc, &r, &p, &gw, &labels()),
        attached(&["any", "grpc-only"])
    );
    let (r, p) = route(
        "infra",
        json!([]),
        json!({"name": "gw", "sectionName": "http-only"}),
    );
    let a = attach(RouteKind::Grpc, &r, &p, &gw, &labels());
    assert_eq!(reason(&a), "NotAllowedByListeners");
    assert!(matches!(&a, Attachment::Rejected { message, .. } if message.contains("GRPCRoutes")));
}

#[test]
fn hostnames_must_intersect() {
    let parent = json!({"name": "gw", "namespace": "infra", "sectionName": "same"});
    assert_eq!(
        attach_one("infra", json!(["shop.example.com"]), parent.clone()),
        attached(&["same"])
    );
    assert_eq!(
        attach_one("infra", json!(["*.shop.example.com"]), parent.clone()),
        attached(&["same"])
    );
    let a = attach_one("infra", json!(["shop.example.org"]), parent);
    assert_eq!(reason(&a), "NoMatchingListenerHostname");
}

#[test]
fn parent_gateway_defaults_and_other_kinds() {
    let (_, p) = route("app", json!([]), json!({"name": "gw"}));
    assert_eq!(parent_gateway("app", &p), Some(("app".into(), "gw".into())));
    let (_, p) = route(
        "app",
        json!([]),
        json!({"name": "svc", "group": "", "kind": "Service"}),
    );
    assert_eq!(parent_gateway("app", &p), None);
}

#[test]
fn selector_operators() {
    let sel = |expr: Value| -> Selector {
        serde_json::from_value(json!({"matchExpressions": [expr]})).expect("selector")
    };
    let labels = BTreeMap::from([("a".to_owned(), "1".to_owned())]);
    assert!(selector_matches(
        &sel(json!({"key": "a", "operator": "Exists"})),
        &labels
    ));
    assert!(!selector_matches(
        &sel(json!({"key": "a", "operator": "DoesNotExist"})),
        &labels
    ));
    assert!(selector_matches(
        &sel(json!({"key": "a", "operator": "NotIn", "values": ["2"]})),
        &labels
    ));
    assert!(!selector_matches(
        &sel(json!({"key": "a", "operator": "Bogus"})),
        &labels
    ));
}
