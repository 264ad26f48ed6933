use gateway_api::referencegrants::{ReferenceGrantFrom, ReferenceGrantSpec, ReferenceGrantTo};
use k8s_openapi::api::core::v1::{ServicePort, ServiceSpec};
use kube::api::ObjectMeta;

use super::*;

pub(crate) fn service(namespace: &str, name: &str, ports: &[i32]) -> Service {
    Service {
        metadata: ObjectMeta {
            namespace: Some(namespace.into()),
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            ports: Some(
                ports
                    .iter()
                    .map(|p| ServicePort {
                        port: *p,
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        status: None,
    }
}

pub(crate) fn grant(
    namespace: &str,
    from_ns: &str,
    to_kind: &str,
    to_name: Option<&str>,
) -> ReferenceGrant {
    ReferenceGrant {
        metadata: ObjectMeta {
            namespace: Some(namespace.into()),
            name: Some("grant".into()),
            ..Default::default()
        },
        spec: ReferenceGrantSpec {
            from: vec![ReferenceGrantFrom {
                group: GATEWAY_GROUP.into(),
                kind: "HTTPRoute".into(),
                namespace: from_ns.into(),
            }],
            to: vec![ReferenceGrantTo {
                group: String::new(),
                kind: to_kind.into(),
                name: to_name.map(str::to_owned),
            }],
        },
    }
}

fn svc(namespace: &str, name: &str, port: u16) -> ServiceRef {
    ServiceRef {
        namespace: namespace.into(),
        name: name.into(),
        port,
    }
}

#[test]
fn same_namespace_service() {
    let refs = Refs::new(&[service("app", "web", &[80])], vec![]);
    assert_eq!(refs.check_service("app", &svc("app", "web", 80)), Ok(()));
    assert!(matches!(
        refs.check_service("app", &svc("app", "web", 81)),
        Err(InvalidBackend::NotFound(_))
    ));
    assert!(matches!(
        refs.check_service("app", &svc("app", "nope", 80)),
        Err(InvalidBackend::NotFound(_))
    ));
}

#[test]
fn cross_namespace_needs_a_grant_naming_both_sides() {
    let services = [service("backend", "web", &[80])];
    let none = Refs::new(&services, vec![]);
    assert!(matches!(
        none.check_service("app", &svc("backend", "web", 80)),
        Err(InvalidBackend::RefNotPermitted(_))
    ));
    let all = Refs::new(&services, vec![grant("backend", "app", "Service", None)]);
    assert_eq!(all.check_service("app", &svc("backend", "web", 80)), Ok(()));
    assert!(matches!(
        all.check_service("other", &svc("backend", "web", 80)),
        Err(InvalidBackend::RefNotPermitted(_))
    ));
    let named = Refs::new(
        &services,
        vec![grant("backend", "app", "Service", Some("other"))],
    );
    assert!(matches!(
        named.check_service("app", &svc("backend", "web", 80)),
        Err(InvalidBackend::RefNotPermitted(_))
    ));
    // A grant in the wrong namespace, or for the wrong kind, grants nothing.
    let misplaced = Refs::new(&services, vec![grant("app", "app", "Service", None)]);
    assert!(
        misplaced
            .check_service("app", &svc("backend", "web", 80))
            .is_err()
    );
    let secrets = Refs::new(&services, vec![grant("backend", "app", "Secret", None)]);
    assert!(
        secrets
            .check_service("app", &svc("backend", "web", 80))
            .is_err()
    );
}

#[test]
fn missing_service_behind_a_missing_grant_is_not_revealed() {
    let refs = Refs::new(&[], vec![]);
    assert!(matches!(
        refs.check_service("app", &svc("backend", "nope", 80)),
        Err(InvalidBackend::RefNotPermitted(_))
    ));
}
