use std::collections::BTreeMap;

use k8s_openapi::api::{
    core::v1::{ServicePort, ServiceSpec},
    discovery::v1::{Endpoint, EndpointConditions, EndpointPort},
};
use kube::api::ObjectMeta;

use super::*;

fn service(ports: &[(Option<&str>, i32)]) -> Service {
    Service {
        metadata: ObjectMeta {
            namespace: Some("app".into()),
            name: Some("web".into()),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            ports: Some(
                ports
                    .iter()
                    .map(|(name, port)| ServicePort {
                        name: name.map(str::to_owned),
                        port: *port,
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        status: None,
    }
}

fn slice(
    service: &str,
    address_type: &str,
    ports: &[(Option<&str>, i32)],
    endpoints: &[(&str, Option<bool>)],
) -> EndpointSlice {
    EndpointSlice {
        metadata: ObjectMeta {
            namespace: Some("app".into()),
            name: Some(format!("{service}-x")),
            labels: Some(BTreeMap::from([(
                SERVICE_NAME_LABEL.to_owned(),
                service.to_owned(),
            )])),
            ..Default::default()
        },
        address_type: address_type.into(),
        ports: Some(
            ports
                .iter()
                .map(|(name, port)| EndpointPort {
                    name: name.map(str::to_owned),
                    port: Some(*port),
                    ..Default::default()
                })
                .collect(),
        ),
        endpoints: endpoints
            .iter()
            .map(|(ip, ready)| Endpoint {
                addresses: vec![(*ip).to_owned()],
                conditions: Some(EndpointConditions {
                    ready: *ready,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect(),
    }
}

fn key(port: u16) -> ServiceRef {
    ServiceRef {
        namespace: "app".into(),
        name: "web".into(),
        port,
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("valid")
}

#[test]
fn ports_map_by_name_to_target_ports_and_only_ready_endpoints_count() {
    let svc = service(&[(Some("http"), 80), (Some("admin"), 9000)]);
    let a = slice(
        "web",
        "IPv4",
        &[(Some("http"), 8080), (Some("admin"), 9090)],
        &[
            ("10.1.0.2", Some(true)),
            ("10.1.0.3", Some(false)),
            ("10.1.0.4", None),
        ],
    );
    let b = slice(
        "web",
        "IPv4",
        &[(Some("http"), 8080)],
        &[("10.1.0.1", Some(true))],
    );
    let other = slice(
        "other",
        "IPv4",
        &[(Some("http"), 1)],
        &[("10.9.9.9", Some(true))],
    );
    let out = endpoints(&[&svc], &[&a, &b, &other]);
    assert_eq!(
        out[&key(80)],
        vec![
            addr("10.1.0.1:8080"),
            addr("10.1.0.2:8080"),
            addr("10.1.0.4:8080")
        ]
    );
    assert_eq!(
        out[&key(9000)],
        vec![addr("10.1.0.2:9090"), addr("10.1.0.4:9090")]
    );
    assert_eq!(out.len(), 2);
}

#[test]
fn unnamed_port_and_no_slices() {
    let svc = service(&[(None, 80)]);
    let s = slice("web", "IPv6", &[(None, 8080)], &[("fd00::1", None)]);
    assert_eq!(
        endpoints(&[&svc], &[&s])[&key(80)],
        vec![addr("[fd00::1]:8080")]
    );
    assert_eq!(endpoints(&[&svc], &[])[&key(80)], vec![]);
    let fqdn = slice("web", "FQDN", &[(None, 8080)], &[("example.com", None)]);
    assert_eq!(endpoints(&[&svc], &[&fqdn])[&key(80)], vec![]);
}

#[test]
fn app_protocols_of_service_ports() {
    let mut svc = service(&[
        (Some("h1"), 80),
        (Some("h2c"), 81),
        (Some("ws"), 82),
        (Some("other"), 83),
    ]);
    let ports = svc
        .spec
        .as_mut()
        .and_then(|s| s.ports.as_mut())
        .expect("ports");
    ports[1].app_protocol = Some("kubernetes.io/h2c".into());
    ports[2].app_protocol = Some("kubernetes.io/ws".into());
    ports[3].app_protocol = Some("example.com/custom".into());
    let out = protocols(&[&svc]);
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[&key(81)], AppProtocol::H2c);
    assert_eq!(out[&key(82)], AppProtocol::WebSocket);
}
