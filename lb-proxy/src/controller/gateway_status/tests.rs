use std::net::IpAddr;

use serde_json::{Value, json};

use super::*;

fn gateway(listeners: Value) -> Gateway {
    serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"namespace": "infra", "name": "gw", "generation": 3},
        "spec": {"gatewayClassName": "fedway-proxy", "listeners": listeners},
    }))
    .expect("valid Gateway")
}

fn ip() -> Assignment {
    Assignment::Assigned("10.0.0.1".parse::<IpAddr>().expect("ip"))
}

fn secrets() -> Secrets {
    let secret = fedway_runtime::certificates::testing::tls_secret("cert", "shop.example.com");
    let mut secret = secret;
    secret.metadata.namespace = Some("infra".into());
    Secrets::from([(("infra".into(), "cert".into()), Arc::new(secret))])
}

fn listener<'a>(v: &'a GatewayVerdict, name: &str) -> &'a ListenerVerdict {
    v.listeners
        .iter()
        .find(|l| l.name == name)
        .expect("listener")
}

fn https(name: &str, port: i32, secret_ns: Option<&str>, secret: &str) -> Value {
    json!({"name": name, "port": port, "protocol": "HTTPS", "hostname": format!("{name}.example.com"),
           "tls": {"mode": "Terminate", "certificateRefs": [{"name": secret, "namespace": secret_ns}]}})
}

#[test]
fn valid_http_and_https_listeners() {
    let v = validate(
        &gateway(json!([
            {"name": "http", "port": 80, "protocol": "HTTP"},
            https("https", 443, None, "cert"),
        ])),
        ip(),
        &secrets(),
        &[],
    );
    assert!(v.listeners.iter().all(ListenerVerdict::serves));
    assert!(listener(&v, "https").certificate.is_some());
    let conds = v.conditions();
    assert!(conds.iter().all(|c| c.status), "{conds:?}");
    let l = listener(&v, "http").conditions(v.ip());
    assert_eq!(
        l.iter()
            .map(|c| (c.type_, c.status, c.reason.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("Accepted", true, "Accepted"),
            ("Conflicted", false, "NoConflicts"),
            ("ResolvedRefs", true, "ResolvedRefs"),
            ("Programmed", true, "Programmed"),
        ]
    );
    assert_eq!(
        listener(&v, "http").supported_kinds,
        vec![
            (GATEWAY_GROUP.to_owned(), "HTTPRoute".to_owned()),
            (GATEWAY_GROUP.to_owned(), "GRPCRoute".to_owned())
        ]
    );
}

#[test]
fn certificate_problems_are_listener_refs_errors() {
    let v = validate(
        &gateway(json!([
            https("missing", 443, None, "nope"),
            https("other-ns", 8443, Some("certs"), "cert"),
            {"name": "no-refs", "port": 9443, "protocol": "HTTPS", "hostname": "x.example.com", "tls": {"mode": "Terminate"}},
        ])),
        ip(),
        &secrets(),
        &[],
    );
    assert_eq!(
        listener(&v, "missing").unresolved.as_ref().map(|u| u.0),
        Some("InvalidCertificateRef")
    );
    assert_eq!(
        listener(&v, "other-ns").unresolved.as_ref().map(|u| u.0),
        Some("RefNotPermitted")
    );
    assert_eq!(
        listener(&v, "no-refs").unresolved.as_ref().map(|u| u.0),
        Some("InvalidCertificateRef")
    );
    assert!(v.listeners.iter().all(|l| l.accepted() && !l.serves()));
    let programmed = listener(&v, "missing").conditions(v.ip());
    assert!(
        programmed
            .iter()
            .any(|c| c.type_ == "Programmed" && !c.status)
    );
}

#[test]
fn conflicts_and_unsupported_protocols() {
    let v = validate(
        &gateway(json!([
            {"name": "a", "port": 80, "protocol": "HTTP", "hostname": "a.example.com"},
            {"name": "a2", "port": 80, "protocol": "HTTP", "hostname": "A.example.com"},
            {"name": "b", "port": 80, "protocol": "HTTP", "hostname": "b.example.com"},
            {"name": "h", "port": 81, "protocol": "HTTP"},
            https("s", 81, None, "cert"),
            {"name": "tcp", "port": 9000, "protocol": "TCP"},
        ])),
        ip(),
        &secrets(),
        &[],
    );
    assert_eq!(listener(&v, "a").conflicted, Some("HostnameConflict"));
    assert_eq!(listener(&v, "a2").conflicted, Some("HostnameConflict"));
    assert_eq!(listener(&v, "b").conflicted, None);
    assert_eq!(listener(&v, "h").conflicted, Some("ProtocolConflict"));
    assert_eq!(listener(&v, "s").conflicted, Some("ProtocolConflict"));
    assert_eq!(
        listener(&v, "tcp").rejected.as_ref().map(|r| r.0),
        Some("UnsupportedProtocol")
    );
    assert!(
        listener(&v, "tcp").supported_kinds.is_empty(),
        "no route kind fits a protocol the proxy does not speak"
    );
    // Some listeners valid: the Gateway is accepted, saying which are not.
    let accepted = &v.conditions()[0];
    assert!(accepted.status);
    assert_eq!(accepted.reason, "ListenersNotValid");
}

#[test]
fn unsupported_route_kinds() {
    let v = validate(
        &gateway(json!([
            {"name": "mixed", "port": 80, "protocol": "HTTP",
             "allowedRoutes": {"kinds": [{"kind": "HTTPRoute"}, {"kind": "TCPRoute"}]}},
            {"name": "none", "port": 81, "protocol": "HTTP",
             "allowedRoutes": {"kinds": [{"kind": "TLSRoute"}]}},
            {"name": "grpc", "port": 82, "protocol": "HTTP",
             "allowedRoutes": {"kinds": [{"kind": "GRPCRoute"}]}},
        ])),
        ip(),
        &secrets(),
        &[],
    );
    assert_eq!(
        listener(&v, "mixed").unresolved.as_ref().map(|u| u.0),
        Some("InvalidRouteKinds")
    );
    assert!(listener(&v, "mixed").serves());
    assert!(listener(&v, "none").supported_kinds.is_empty());
    assert!(!listener(&v, "none").serves());
    assert_eq!(
        listener(&v, "grpc").supported_kinds,
        vec![(GATEWAY_GROUP.to_owned(), "GRPCRoute".to_owned())]
    );
    assert!(listener(&v, "grpc").serves());
}

#[test]
fn address_outcomes_reach_gateway_conditions() {
    let g = gateway(json!([{"name": "http", "port": 80, "protocol": "HTTP"}]));
    let reasons = |a: Assignment| {
        validate(&g, a, &secrets(), &[])
            .conditions()
            .into_iter()
            .map(|c| (c.status, c.reason))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        reasons(Assignment::Unsupported("x".into())),
        vec![
            (false, "UnsupportedAddress".into()),
            (false, "Invalid".into())
        ]
    );
    assert_eq!(
        reasons(Assignment::NotAssigned("x".into())),
        vec![
            (true, "Accepted".into()),
            (false, "AddressNotAssigned".into())
        ]
    );
    assert_eq!(
        reasons(Assignment::NotUsable("x".into())),
        vec![
            (true, "Accepted".into()),
            (false, "AddressNotUsable".into())
        ]
    );
}
