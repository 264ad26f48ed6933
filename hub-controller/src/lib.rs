//! Fedway's hub controller.
//!
//! ```text
//!  gateway_check ─┐ (pure) is a hub Gateway placeable?
//!  placement ─────┤ (pure, in fedway-crds) which members, which class
//!  work_builder ──┤ (pure) the manifests of one member's Work
//!  policy_attachment (pure) the policies and CA ConfigMaps that go along
//!  listener_certificates (pure) the Secrets listeners reference, their copies
//!  status ────────┘ (pure) member reports -> hub Gateway/route status
//!  dns_records ───  (pure) Gateways + DNSPolicies + members -> DNSRecords
//!  dns ───────────  global DNS: writes DNSRecords, policy status, and the
//!                   `fedway-dns` Work of every member (I/O)
//!  gateways ──────  the Gateway controller: place, write Works, report (I/O)
//!  certificate_copies  those Secrets copied into members' hub namespaces (I/O)
//!  member_health ─  MemberCluster Ready from agent leases (I/O)
//!  leader ────────  one active replica (Lease)
//!  join ──────────  mints a member's identity, namespace and RBAC (I/O)
//!  route_features  (pure) features a route uses, which members lack them
//!  route_kinds ───  the route and policy kinds federated: those the hub serves
//!  run ───────────  wiring
//! ```

pub mod agent_kubeconfig;
pub mod certificate_copies;
pub mod dns;
pub mod dns_query;
pub mod dns_records;
pub mod dns_works;
pub mod gateway_check;
pub mod gateways;
pub mod index;
pub mod join;
pub mod leader;
pub mod listener_certificates;
pub mod listener_status;
pub mod member_health;
pub mod metrics;
pub mod overview;
pub mod policy_attachment;
pub mod route_features;
pub mod route_kinds;
pub mod run;
pub mod status;
#[cfg(test)]
mod status_implementations;
pub mod work_builder;

/// Field manager of everything the hub controller writes.
pub const FIELD_MANAGER: &str = "fedway-hub";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} {what}: {source}")]
    Api {
        action: &'static str,
        what: String,
        source: Box<kube::Error>,
    },
    #[error("finalizer: {0}")]
    Finalizer(Box<kube::runtime::finalizer::Error<Error>>),
    #[error("lost leadership: {0}")]
    LostLeadership(String),
}

/// Server-side applies `status` to a namespaced object's status subresource
/// as the hub's field manager: the one way the hub writes Fedway statuses.
pub(crate) async fn apply_status<K>(
    client: &kube::Client,
    object: &K,
    status: serde_json::Value,
) -> Result<(), Error>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    use kube::ResourceExt;
    let namespace = object.namespace().unwrap_or_default();
    let name = object.name_any();
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    kube::Api::<K>::namespaced(client.clone(), &namespace)
        .patch_status(
            &name,
            &kube::api::PatchParams::apply(FIELD_MANAGER).force(),
            &kube::api::Patch::Apply(&patch),
        )
        .await
        .map_err(api_error(
            "writing status of",
            format!("{} {namespace}/{name}", K::kind(&())),
        ))?;
    Ok(())
}

pub(crate) fn api_error(
    action: &'static str,
    what: impl Into<String>,
) -> impl FnOnce(kube::Error) -> Error {
    let what = what.into();
    move |source| Error::Api {
        action,
        what,
        source: Box::new(source),
    }
}
