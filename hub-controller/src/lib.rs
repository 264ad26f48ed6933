//! Fedway's hub controller.
//!
//! ```text
//!  gateway_check ─┐ (pure) is a hub Gateway placeable?
//!  placement ─────┤ (pure, in fedway-crds) which members, which class
//!  work_builder ──┤ (pure) the manifests of one member's Work
//!  status ────────┘ (pure) member reports -> hub Gateway/route status
//!  dns_records ───  (pure) Gateways + DNSPolicies + members -> DNSRecords
//!  dns ───────────  global DNS: writes DNSRecords, policy status, and the
//!                   `fedway-dns` Work of every member (I/O)
//!  gateways ──────  the Gateway controller: place, write Works, report (I/O)
//!  member_health ─  MemberCluster Ready from agent leases (I/O)
//!  leader ────────  one active replica (Lease)
//!  join ──────────  mints a member's identity, namespace and RBAC (I/O)
//!  run ───────────  wiring
//! ```

pub mod agent_kubeconfig;
pub mod dns;
pub mod dns_records;
pub mod gateway_check;
pub mod gateways;
pub mod join;
pub mod leader;
pub mod member_health;
pub mod run;
pub mod status;
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
