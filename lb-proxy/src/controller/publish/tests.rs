use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{LoadBalancerIngress, LoadBalancerStatus, Service, ServiceStatus};

use super::*;

fn key(name: &str) -> ObjectKey {
    ObjectKey::new("web", name)
}

#[test]
fn service_names_are_dns_labels() {
    let name = service_name(&key("shop"));
    assert!(
        name.starts_with("web-shop-") && name.ends_with("-fedway-proxy"),
        "{name}"
    );
    assert_eq!(name, service_name(&key("shop")), "stable");
    let long = ObjectKey::new("team-a", &"a".repeat(60));
    let name = service_name(&long);
    assert!(name.len() <= 63, "{name}");
    assert!(name.ends_with("-fedway-proxy"));
    // Two long names sharing their first 40 characters stay apart.
    let other = ObjectKey::new("team-a", &format!("{}b", "a".repeat(59)));
    assert_ne!(service_name(&other), name);
    // Namespace and name are both in it: web/a-b and web-a/b differ.
    assert_ne!(
        service_name(&ObjectKey::new("web", "a-b")),
        service_name(&ObjectKey::new("web-a", "b"))
    );
    // The cut never leaves "--".
    let dashed = ObjectKey::new("web", &format!("{}-{}", "a".repeat(36), "b".repeat(30)));
    assert!(!service_name(&dashed).contains("--"));
}

#[test]
fn pod_ports_are_stable_distinct_and_in_range() {
    let wanted = vec![(key("a"), vec![80, 443]), (key("b"), vec![80])];
    let first = pod_ports(&wanted, &BTreeMap::new());
    assert_eq!(first.len(), 3);
    let ports: std::collections::BTreeSet<u16> = first.values().copied().collect();
    assert_eq!(ports.len(), 3, "distinct: {first:?}");
    assert!(
        ports
            .iter()
            .all(|p| (FIRST_POD_PORT..FIRST_POD_PORT + POD_PORTS).contains(p))
    );
    // The same input, the same answer (every replica agrees).
    assert_eq!(pod_ports(&wanted, &BTreeMap::new()), first);
    // A Gateway added later moves no one.
    let more = vec![
        (key("a"), vec![80, 443]),
        (key("b"), vec![80]),
        (key("c"), vec![80, 8080]),
    ];
    let second = pod_ports(&more, &first);
    for (pair, port) in &first {
        assert_eq!(second.get(pair), Some(port));
    }
}

#[test]
fn pod_ports_keep_current_targets_and_the_older_gateway_wins() {
    type Current = BTreeMap<(ObjectKey, u16), u16>;
    // (current, a's port, b's port)
    let cases: Vec<(Current, Option<u16>, Option<u16>)> = vec![
        // a's Service already sends 80 to 21000: kept.
        (BTreeMap::from([((key("a"), 80), 21000)]), Some(21000), None),
        // Both claim 21000: a (first, older) keeps it, b moves.
        (
            BTreeMap::from([((key("a"), 80), 21000), ((key("b"), 80), 21000)]),
            Some(21000),
            None,
        ),
        // Out of range (edited by hand): replaced.
        (BTreeMap::from([((key("a"), 80), 8080)]), None, None),
    ];
    let wanted = vec![(key("a"), vec![80]), (key("b"), vec![80])];
    for (current, a, b) in cases {
        let ports = pod_ports(&wanted, &current);
        if let Some(a) = a {
            assert_eq!(ports[&(key("a"), 80)], a, "{current:?}");
        } else {
            assert_ne!(ports[&(key("a"), 80)], 8080);
        }
        if let Some(b) = b {
            assert_eq!(ports[&(key("b"), 80)], b);
        }
        assert_ne!(
            ports[&(key("a"), 80)],
            ports[&(key("b"), 80)],
            "{current:?}"
        );
    }
}

fn request<'a>(
    gateway: &'a ObjectKey,
    kind: &'a ServiceKind,
    selector: &'a BTreeMap<String, String>,
    external_ip: Option<IpAddr>,
) -> ServiceRequest<'a> {
    ServiceRequest {
        gateway,
        namespace: "fedway-system",
        ports: vec![(80, 20001), (443, 20002)],
        kind,
        selector,
        external_ip,
    }
}

#[test]
fn desired_services_by_kind() {
    let gateway = key("shop");
    let selector = BTreeMap::from([("app".to_owned(), "fedway-proxy".to_owned())]);
    let pool: AddressPool = "10.0.0.1".parse().expect("a pool");
    let external = ServiceKind::ExternalIps(pool);
    let ip: IpAddr = "10.0.0.1".parse().expect("an IP");
    let service = desired_service(&request(&gateway, &external, &selector, Some(ip)));
    let spec = service.spec.clone().expect("a spec");
    assert_eq!(service.metadata.name, Some(service_name(&gateway)));
    // Beside the replicas it selects, labelled with the Gateway it serves.
    assert_eq!(service.metadata.namespace.as_deref(), Some("fedway-system"));
    assert_eq!(published_gateway(&service), Some(gateway.clone()));
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    assert_eq!(spec.external_ips, Some(vec!["10.0.0.1".to_owned()]));
    assert_eq!(spec.external_traffic_policy, None);
    let ports: Vec<(i32, Option<IntOrString>)> = spec
        .ports
        .iter()
        .flatten()
        .map(|p| (p.port, p.target_port.clone()))
        .collect();
    assert_eq!(
        ports,
        vec![
            (80, Some(IntOrString::Int(20001))),
            (443, Some(IntOrString::Int(20002)))
        ]
    );
    assert_eq!(
        current_target_ports(&service),
        vec![(80, 20001), (443, 20002)]
    );
    assert!(service_matches(&service, &service));

    let lb = desired_service(&request(
        &gateway,
        &ServiceKind::LoadBalancer,
        &selector,
        None,
    ));
    let lb_spec = lb.spec.clone().expect("a spec");
    assert_eq!(lb_spec.type_.as_deref(), Some("LoadBalancer"));
    assert_eq!(lb_spec.external_ips, None);
    assert_eq!(lb_spec.external_traffic_policy.as_deref(), Some("Local"));
    assert!(!service_matches(&service, &lb), "type differs");
    let mut other_ip = service.clone();
    other_ip.spec.as_mut().expect("a spec").external_ips = Some(vec!["10.0.0.2".to_owned()]);
    assert!(!service_matches(&other_ip, &service), "external IP differs");
}

#[test]
fn load_balancer_ip_is_the_first_ip_ingress() {
    let with = |ingress: Vec<LoadBalancerIngress>| Service {
        status: Some(ServiceStatus {
            load_balancer: Some(LoadBalancerStatus {
                ingress: Some(ingress),
            }),
            ..ServiceStatus::default()
        }),
        ..Service::default()
    };
    let hostname = LoadBalancerIngress {
        hostname: Some("lb.example.com".into()),
        ..LoadBalancerIngress::default()
    };
    let ip = |s: &str| LoadBalancerIngress {
        ip: Some(s.into()),
        ..LoadBalancerIngress::default()
    };
    assert_eq!(load_balancer_ip(&Service::default()), None);
    assert_eq!(load_balancer_ip(&with(vec![hostname.clone()])), None);
    assert_eq!(
        load_balancer_ip(&with(vec![hostname, ip("192.0.2.7"), ip("192.0.2.8")])),
        Some("192.0.2.7".parse().expect("an IP"))
    );
    assert_eq!(load_balancer_ip(&with(vec![ip("not-an-ip")])), None);
}
