//! Cross-namespace references and what they point at: ReferenceGrants, and
//! the [`ResolveRefs`] the routing core asks whether a backend Service
//! exists and may be used.

use std::collections::{BTreeMap, BTreeSet};

use gateway_api::referencegrants::ReferenceGrant;
use k8s_openapi::api::core::v1::Service;

use crate::backends::{InvalidBackend, ResolveRefs, ServiceRef};

use fedway_crds::reference_grant::Grant;
pub use fedway_crds::reference_grant::{
    GATEWAY, GATEWAY_GROUP, GroupKind, HTTP_ROUTE, SECRET, SERVICE, permitted,
};

/// Typed ReferenceGrants as [`permitted`] (the rule the hub applies too)
/// reads them.
pub fn grant_views(grants: &[ReferenceGrant]) -> impl Iterator<Item = Grant<'_>> {
    grants.iter().map(|g| Grant {
        namespace: g.metadata.namespace.as_deref().unwrap_or_default(),
        from: g
            .spec
            .from
            .iter()
            .map(|f| {
                (
                    GroupKind {
                        group: &f.group,
                        kind: &f.kind,
                    },
                    f.namespace.as_str(),
                )
            })
            .collect(),
        to: g
            .spec
            .to
            .iter()
            .map(|t| {
                (
                    GroupKind {
                        group: &t.group,
                        kind: &t.kind,
                    },
                    t.name.as_deref(),
                )
            })
            .collect(),
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
            grant_views(&self.grants),
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
