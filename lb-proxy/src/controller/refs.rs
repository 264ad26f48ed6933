//! Cross-namespace references and what they point at: ReferenceGrants, and
//! the [`ResolveRefs`] the routing core asks whether a backend Service
//! exists and may be used.

use std::collections::{BTreeMap, BTreeSet};

use gateway_api::referencegrants::ReferenceGrant;
use k8s_openapi::api::core::v1::Service;

use crate::backends::{InvalidBackend, ResolveRefs, ServiceRef};

pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

/// The kind of one side of a reference: API group (`""` for core) and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupKind<'a> {
    pub group: &'a str,
    pub kind: &'a str,
}

pub const HTTP_ROUTE: GroupKind<'static> = GroupKind {
    group: GATEWAY_GROUP,
    kind: "HTTPRoute",
};
pub const GATEWAY: GroupKind<'static> = GroupKind {
    group: GATEWAY_GROUP,
    kind: "Gateway",
};
pub const SERVICE: GroupKind<'static> = GroupKind {
    group: "",
    kind: "Service",
};
pub const SECRET: GroupKind<'static> = GroupKind {
    group: "",
    kind: "Secret",
};

/// Whether an object of kind `from` in `from_namespace` may refer to
/// `to_namespace/to_name` of kind `to`. Same-namespace references need no
/// grant; others need a ReferenceGrant in the target's namespace naming
/// both sides (with no `to.name`, every object of that kind).
pub fn permitted(
    grants: &[ReferenceGrant],
    from: GroupKind<'_>,
    from_namespace: &str,
    to: GroupKind<'_>,
    to_namespace: &str,
    to_name: &str,
) -> bool {
    if from_namespace == to_namespace {
        return true;
    }
    grants
        .iter()
        .filter(|g| g.metadata.namespace.as_deref() == Some(to_namespace))
        .any(|g| {
            g.spec.from.iter().any(|f| {
                f.group == from.group && f.kind == from.kind && f.namespace == from_namespace
            }) && g.spec.to.iter().any(|t| {
                t.group == to.group
                    && t.kind == to.kind
                    && t.name
                        .as_deref()
                        .is_none_or(|n| n.is_empty() || n == to_name)
            })
        })
}

/// What the routing core may reference: Services (with their ports) and
/// the ReferenceGrants that let routes reach other namespaces.
#[derive(Debug, Clone, Default)]
pub struct Refs {
    services: BTreeMap<(String, String), BTreeSet<u16>>,
    grants: Vec<ReferenceGrant>,
}

impl Refs {
    pub fn new<'a>(
        services: impl IntoIterator<Item = &'a Service>,
        grants: Vec<ReferenceGrant>,
    ) -> Self {
        let services = services
            .into_iter()
            .filter(|s| s.metadata.deletion_timestamp.is_none())
            .map(|s| {
                let ports = s
                    .spec
                    .iter()
                    .flat_map(|spec| spec.ports.iter().flatten())
                    .filter_map(|p| u16::try_from(p.port).ok())
                    .collect();
                (
                    (
                        s.metadata.namespace.clone().unwrap_or_default(),
                        s.metadata.name.clone().unwrap_or_default(),
                    ),
                    ports,
                )
            })
            .collect();
        Self { services, grants }
    }

    pub fn grants(&self) -> &[ReferenceGrant] {
        &self.grants
    }
}

impl ResolveRefs for Refs {
    fn check_service(
        &self,
        route_namespace: &str,
        service: &ServiceRef,
    ) -> Result<(), InvalidBackend> {
        let name = format!("Service {}/{}", service.namespace, service.name);
        // The grant is checked first, so a route cannot probe for Services in
        // namespaces it has no access to.
        if !permitted(
            &self.grants,
            HTTP_ROUTE,
            route_namespace,
            SERVICE,
            &service.namespace,
            &service.name,
        ) {
            return Err(InvalidBackend::RefNotPermitted(format!(
                "{name}: no ReferenceGrant in {} allows HTTPRoutes from {route_namespace}",
                service.namespace
            )));
        }
        let key = (service.namespace.clone(), service.name.clone());
        match self.services.get(&key) {
            None => Err(InvalidBackend::NotFound(format!("{name} does not exist"))),
            Some(ports) if !ports.contains(&service.port) => Err(InvalidBackend::NotFound(
                format!("{name} has no port {}", service.port),
            )),
            Some(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
