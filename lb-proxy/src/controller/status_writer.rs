//! Status writes, all in one place: each computed status is compared with
//! the object's current one and applied (SSA, field manager
//! `fedway-proxy`, status subresource) only when it differs, so a restart
//! or a pass that changes nothing writes nothing.
//!
//! The `desired_*` functions are pure: they return the status to apply, or
//! `None` when the current one already says it.

use gateway_api::{
    gatewayclasses::{GatewayClass, GatewayClassStatus, GatewayClassStatusSupportedFeatures},
    gateways::{
        Gateway, GatewayStatus, GatewayStatusAddresses, GatewayStatusListeners,
        GatewayStatusListenersSupportedKinds,
    },
    httproutes::{
        HttpRoute, HttpRouteStatus, HttpRouteStatusParents, HttpRouteStatusParentsParentRef,
    },
};
use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Condition, jiff::Timestamp};
use kube::{
    Api, Resource,
    api::{Patch, PatchParams},
};
use serde::Serialize;
use serde_json::json;

use super::{
    Error, FIELD_MANAGER,
    compute::{ClassOutcome, GatewayOutcome, RouteOutcome},
    conditions::finish,
    features::SUPPORTED_FEATURES,
};

/// Conditions compare as sets: the API server keeps a list's order, but
/// nothing in the spec promises it.
fn same_conditions(a: &[Condition], b: &[Condition]) -> bool {
    let sorted = |c: &[Condition]| {
        let mut v = c.to_vec();
        v.sort_by(|x, y| x.type_.cmp(&y.type_));
        v
    };
    a.len() == b.len() && sorted(a) == sorted(b)
}

pub fn desired_class(
    outcome: &ClassOutcome,
    current: &GatewayClass,
    now: &Timestamp,
) -> Option<GatewayClassStatus> {
    let old = current.status.as_ref();
    let old_conditions = old
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let conditions = finish(&outcome.conditions, outcome.generation, old_conditions, now);
    let features: Vec<_> = SUPPORTED_FEATURES
        .iter()
        .map(|f| GatewayClassStatusSupportedFeatures {
            name: (*f).to_owned(),
        })
        .collect();
    let unchanged = same_conditions(&conditions, old_conditions)
        && old.and_then(|s| s.supported_features.as_ref()) == Some(&features);
    (!unchanged).then_some(GatewayClassStatus {
        conditions: Some(conditions),
        supported_features: Some(features),
    })
}

pub fn desired_gateway(
    outcome: &GatewayOutcome,
    current: &Gateway,
    now: &Timestamp,
) -> Option<GatewayStatus> {
    let old = current.status.as_ref();
    let old_conditions = old
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let old_listeners = old.and_then(|s| s.listeners.as_deref()).unwrap_or_default();
    let conditions = finish(&outcome.conditions, outcome.generation, old_conditions, now);
    let listeners: Vec<GatewayStatusListeners> = outcome
        .listeners
        .iter()
        .map(|l| {
            let before = old_listeners
                .iter()
                .find(|o| o.name == l.name)
                .map(|o| o.conditions.as_slice())
                .unwrap_or_default();
            GatewayStatusListeners {
                name: l.name.clone(),
                attached_routes: l.attached_routes,
                supported_kinds: Some(
                    l.supported_kinds
                        .iter()
                        .map(|(group, kind)| GatewayStatusListenersSupportedKinds {
                            group: Some(group.clone()),
                            kind: kind.clone(),
                        })
                        .collect(),
                ),
                conditions: finish(&l.conditions, outcome.generation, before, now),
            }
        })
        .collect();
    let addresses: Vec<GatewayStatusAddresses> = outcome
        .addresses
        .iter()
        .map(|a| GatewayStatusAddresses {
            r#type: Some("IPAddress".to_owned()),
            value: a.clone(),
        })
        .collect();
    let old_addresses = old.and_then(|s| s.addresses.as_deref()).unwrap_or_default();
    let unchanged = same_conditions(&conditions, old_conditions)
        && addresses == old_addresses
        && listeners.len() == old_listeners.len()
        && listeners.iter().zip(old_listeners).all(|(a, b)| {
            a.name == b.name
                && a.attached_routes == b.attached_routes
                && a.supported_kinds == b.supported_kinds
                && same_conditions(&a.conditions, &b.conditions)
        });
    (!unchanged).then_some(GatewayStatus {
        // An empty list is written as such, so an address taken away is
        // removed from the status too.
        addresses: Some(addresses),
        attached_listener_sets: None,
        conditions: Some(conditions),
        listeners: Some(listeners),
    })
}

/// The route's `status.parents`: entries of other controllers kept as they
/// are, ours replaced. The list is atomic under SSA, so it is written whole.
pub fn desired_route(
    outcome: &RouteOutcome,
    current: &HttpRoute,
    controller_name: &str,
    now: &Timestamp,
) -> Option<HttpRouteStatus> {
    let old = current
        .status
        .as_ref()
        .map(|s| s.parents.as_slice())
        .unwrap_or_default();
    let ours: Vec<HttpRouteStatusParents> = outcome
        .parents
        .iter()
        .map(|p| {
            let parent_ref = HttpRouteStatusParentsParentRef {
                group: p.parent_ref.group.clone(),
                kind: p.parent_ref.kind.clone(),
                name: p.parent_ref.name.clone(),
                namespace: p.parent_ref.namespace.clone(),
                port: p.parent_ref.port,
                section_name: p.parent_ref.section_name.clone(),
            };
            let before = old
                .iter()
                .find(|o| o.controller_name == controller_name && o.parent_ref == parent_ref)
                .map(|o| o.conditions.as_slice())
                .unwrap_or_default();
            HttpRouteStatusParents {
                conditions: finish(&p.conditions, outcome.generation, before, now),
                controller_name: controller_name.to_owned(),
                parent_ref,
            }
        })
        .collect();
    let old_ours: Vec<&HttpRouteStatusParents> = old
        .iter()
        .filter(|o| o.controller_name == controller_name)
        .collect();
    let unchanged = ours.len() == old_ours.len()
        && ours.iter().zip(&old_ours).all(|(a, b)| {
            a.parent_ref == b.parent_ref && same_conditions(&a.conditions, &b.conditions)
        });
    if unchanged {
        return None;
    }
    let mut parents: Vec<HttpRouteStatusParents> = old
        .iter()
        .filter(|o| o.controller_name != controller_name)
        .cloned()
        .collect();
    parents.extend(ours);
    // The CRD's bound; ours are last, so other controllers' entries survive.
    parents.truncate(32);
    Some(HttpRouteStatus { parents })
}

/// Applies `status` to `object`'s status subresource through `api` (of
/// the object's namespace, or cluster-wide for a cluster-scoped kind).
pub async fn apply<K>(api: Api<K>, object: &K, status: &impl Serialize) -> Result<(), Error>
where
    K: Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let name = object.meta().name.clone().unwrap_or_default();
    let namespace = object.meta().namespace.clone();
    let what = format!(
        "{} {}{name}",
        K::kind(&()),
        namespace
            .as_deref()
            .map(|n| format!("{n}/"))
            .unwrap_or_default()
    );
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(|source| Error::WriteStatus {
        what: what.clone(),
        source: Box::new(source),
    })?;
    tracing::info!(object = what, "status written");
    Ok(())
}

#[cfg(test)]
mod tests;
