//! Route attachment: which listeners of which Gateway each parentRef of an
//! HTTPRoute or GRPCRoute lands on (sectionName, port, allowedRoutes namespaces and
//! kinds, hostname intersection), with the spec's reasons when none. Pure.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use gateway_api::{
    gateways::{
        GatewayListenersAllowedRoutesNamespacesFrom as From,
        GatewayListenersAllowedRoutesNamespacesSelector as Selector,
    },
    httproutes::{HttpRoute, HttpRouteParentRefs},
};

use super::{
    gateway_status::{GatewayVerdict, ListenerVerdict},
    refs::GATEWAY_GROUP,
};
use crate::{grpc::RouteKind, hostname::HostPattern};

/// Namespace labels by namespace name (for `From: Selector`).
pub type NamespaceLabels = BTreeMap<String, BTreeMap<String, String>>;

/// Where one parentRef attached, or why it did not (`Accepted=False`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attachment {
    /// Names of the listeners the route is attached to.
    Attached(Vec<String>),
    Rejected {
        reason: &'static str,
        message: String,
    },
}

/// The Gateway (namespace, name) a parentRef names, or `None` when it names
/// another kind of parent.
pub fn parent_gateway(
    route_namespace: &str,
    parent: &HttpRouteParentRefs,
) -> Option<(String, String)> {
    let group = parent.group.as_deref().unwrap_or(GATEWAY_GROUP);
    let kind = parent.kind.as_deref().unwrap_or("Gateway");
    (group == GATEWAY_GROUP && kind == "Gateway").then(|| {
        (
            parent
                .namespace
                .clone()
                .unwrap_or_else(|| route_namespace.to_owned()),
            parent.name.clone(),
        )
    })
}

/// Attaches `route` (a route of `kind`, GRPCRoutes translated to the
/// HTTPRoute shape) through `parent` to `gateway`.
pub fn attach(
    kind: RouteKind,
    route: &HttpRoute,
    parent: &HttpRouteParentRefs,
    gateway: &GatewayVerdict,
    namespaces: &NamespaceLabels,
) -> Attachment {
    let route_namespace = route.metadata.namespace.as_deref().unwrap_or_default();
    let named: Vec<&ListenerVerdict> = gateway
        .listeners
        .iter()
        .filter(|l| parent.section_name.as_deref().is_none_or(|s| s == l.name))
        .filter(|l| parent.port.is_none_or(|p| i32::from(l.port) == p))
        .collect();
    if named.is_empty() {
        return Attachment::Rejected {
            reason: "NoMatchingParent",
            message: "no listener matches the parentRef's sectionName and port".to_owned(),
        };
    }
    let allowed: Vec<&ListenerVerdict> = named
        .into_iter()
        .filter(|l| l.accepted())
        .filter(|l| {
            l.supported_kinds
                .iter()
                .any(|(g, k)| g == GATEWAY_GROUP && k == kind.name())
        })
        .filter(|l| namespace_allowed(l, &gateway.key.namespace, route_namespace, namespaces))
        .collect();
    if allowed.is_empty() {
        return Attachment::Rejected {
            reason: "NotAllowedByListeners",
            message: format!("no listener allows {kind}s from namespace {route_namespace}"),
        };
    }
    let hostnames = route.spec.hostnames.as_deref().unwrap_or_default();
    let attached: Vec<String> = allowed
        .into_iter()
        .filter(|l| {
            let listener = HostPattern::parse(l.hostname.as_deref());
            hostnames.is_empty()
                || hostnames
                    .iter()
                    .any(|h| listener.intersect(&HostPattern::parse(Some(h))).is_some())
        })
        .map(|l| l.name.clone())
        .collect();
    if attached.is_empty() {
        return Attachment::Rejected {
            reason: "NoMatchingListenerHostname",
            message: "no listener hostname intersects the route's hostnames".to_owned(),
        };
    }
    Attachment::Attached(attached)
}

fn namespace_allowed(
    l: &ListenerVerdict,
    gateway_namespace: &str,
    route_namespace: &str,
    namespaces: &NamespaceLabels,
) -> bool {
    let allowed = l
        .spec
        .allowed_routes
        .as_ref()
        .and_then(|a| a.namespaces.as_ref());
    match allowed.and_then(|n| n.from.as_ref()).unwrap_or(&From::Same) {
        From::Same => route_namespace == gateway_namespace,
        From::All => true,
        From::Selector => allowed
            .and_then(|n| n.selector.as_ref())
            .zip(namespaces.get(route_namespace))
            .is_some_and(|(selector, labels)| selector_matches(selector, labels)),
    }
}

/// A label selector over namespace labels, with Kubernetes' semantics
/// ([`fedway_crds::selector`]); an unknown operator matches nothing, so a
/// malformed selector admits no route.
fn selector_matches(selector: &Selector, labels: &BTreeMap<String, String>) -> bool {
    let selector = LabelSelector {
        match_labels: selector.match_labels.clone(),
        match_expressions: selector.match_expressions.as_ref().map(|expressions| {
            expressions
                .iter()
                .map(|e| LabelSelectorRequirement {
                    key: e.key.clone(),
                    operator: e.operator.clone(),
                    values: e.values.clone(),
                })
                .collect()
        }),
    };
    fedway_crds::selector::matches(&selector, labels)
}

#[cfg(test)]
mod tests;
