use gateway_api::grpcroutes::GrpcRoute;
use serde_json::{Value, json};

use super::*;
use crate::{matching::RouteMatch, request::RequestHead};

fn grpc_route(matches: Value) -> GrpcRoute {
    let route = json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "GRPCRoute",
        "metadata": {"name": "r", "namespace": "ns", "generation": 3},
        "spec": {
            "parentRefs": [{"name": "gw", "sectionName": "http"}],
            "hostnames": ["grpc.example.com"],
            "rules": [{
                "name": "echo",
                "matches": matches,
                "filters": [{"type": "RequestHeaderModifier",
                             "requestHeaderModifier": {"set": [{"name": "x-a", "value": "1"}]}}],
                "backendRefs": [{"name": "svc", "port": 8080, "weight": 2}]
            }]
        },
        "status": {"parents": [{
            "controllerName": "fedway.dev/lb-proxy",
            "parentRef": {"name": "gw"},
            "conditions": []
        }]}
    });
    match serde_json::from_value(route) {
        Ok(r) => r,
        Err(e) => panic!("GRPCRoute does not parse: {e}"),
    }
}

fn translated_matches(matches: Value) -> Vec<RouteMatch> {
    let http = match to_http_route(&grpc_route(matches)) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    http.spec
        .rules
        .iter()
        .flatten()
        .flat_map(|r| r.matches.iter().flatten())
        .map(|m| match RouteMatch::compile(m) {
            Ok(m) => m,
            Err(e) => panic!("translated match does not compile: {e}"),
        })
        .collect()
}

const SVC: &str = "gateway_api_conformance.echo_basic.grpcecho.GrpcEcho";

/// Which calls each kind of method match routes (grpcroute-exact-method-
/// matching and the GRPCMethodMatch docs).
#[test]
fn method_matches_route_the_calls_they_name() {
    let echo = format!("/{SVC}/Echo");
    let echo_two = format!("/{SVC}/EchoTwo");
    let other_service = "/other.Service/Echo";
    for (method, calls) in [
        // Exact service and method: that one call.
        (
            json!({"service": SVC, "method": "Echo"}),
            [(&*echo, true), (&*echo_two, false), (other_service, false)],
        ),
        // The type defaults to Exact.
        (
            json!({"type": "Exact", "service": SVC, "method": "EchoTwo"}),
            [(&*echo, false), (&*echo_two, true), (other_service, false)],
        ),
        // Service only: every method of it.
        (
            json!({"service": SVC}),
            [(&*echo, true), (&*echo_two, true), (other_service, false)],
        ),
        // Method only: that method of every service.
        (
            json!({"method": "Echo"}),
            [(&*echo, true), (&*echo_two, false), (other_service, true)],
        ),
        // Regular expressions, anchored on both parts.
        (
            json!({"type": "RegularExpression", "service": ".*GrpcEcho", "method": "Echo.*"}),
            [(&*echo, true), (&*echo_two, true), (other_service, false)],
        ),
        (
            json!({"type": "RegularExpression", "method": "Echo"}),
            [(&*echo, true), (&*echo_two, false), (other_service, true)],
        ),
    ] {
        let matches = translated_matches(json!([{ "method": method }]));
        assert_eq!(matches.len(), 1);
        for (path, want) in calls {
            assert_eq!(
                matches[0].matches(&RequestHead::get("grpc.example.com", path)),
                want,
                "{method} for {path}"
            );
        }
    }
}

/// A method-only Exact match is a literal, not a pattern.
#[test]
fn exact_method_is_escaped() {
    let matches = translated_matches(json!([{"method": {"method": "Echo"}}]));
    assert!(!matches[0].matches(&RequestHead::get("h", "/a/b/Echo")));
    assert!(!matches[0].matches(&RequestHead::get("h", "/a/EchoX")));
}

/// No method, no matches at all, or header-only matches: every call, with
/// the headers still required.
#[test]
fn absent_method_matches_every_call() {
    let any = translated_matches(json!([{}]));
    assert!(any[0].matches(&RequestHead::get("h", "/x.Y/Z")));
    let headers = translated_matches(json!([{"headers": [{"name": "version", "value": "two"}]}]));
    assert!(!headers[0].matches(&RequestHead::get("h", "/x.Y/Z")));
    assert!(headers[0].matches(&RequestHead::get("h", "/x.Y/Z").with_header("version", "two")));
    let none = match to_http_route(&grpc_route(Value::Null)) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert!(
        none.spec
            .rules
            .iter()
            .flatten()
            .all(|r| r.matches.is_none())
    );
}

/// Everything but the matches survives as it was: metadata (age, name,
/// generation), parentRefs, hostnames, filters, weights, rule names, status.
#[test]
fn everything_else_is_kept() {
    let grpc = grpc_route(json!([{"method": {"service": SVC, "method": "Echo"}}]));
    let http = match to_http_route(&grpc) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(http.metadata, grpc.metadata);
    assert_eq!(
        http.spec.hostnames,
        Some(vec!["grpc.example.com".to_owned()])
    );
    let parents = http.spec.parent_refs.unwrap_or_default();
    assert_eq!(parents.len(), 1);
    assert_eq!(parents[0].section_name.as_deref(), Some("http"));
    let rule = &http.spec.rules.unwrap_or_default()[0];
    assert_eq!(rule.name.as_deref(), Some("echo"));
    assert_eq!(rule.filters.as_ref().map(Vec::len), Some(1));
    let backends = rule.backend_refs.clone().unwrap_or_default();
    assert_eq!(
        (
            backends[0].name.as_str(),
            backends[0].port,
            backends[0].weight
        ),
        ("svc", Some(8080), Some(2))
    );
    let status = http.status.unwrap_or_default();
    assert_eq!(status.parents[0].controller_name, "fedway.dev/lb-proxy");
}
