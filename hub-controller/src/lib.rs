//! Fedway's hub controller.
//!
//! ```text
//!  gateway_check ─┐ (pure) is a hub Gateway placeable?
//!  placement ─────┤ (pure, in fedway-crds) which members, which class
//!  work_builder ──┤ (pure) the manifests of one member's Work
//!  status ────────┘ (pure) member reports -> hub Gateway/route status
//!  join ──────────  mints a member's identity, namespace and RBAC (I/O)
//! ```

pub mod agent_kubeconfig;
pub mod gateway_check;
pub mod join;
pub mod status;
pub mod work_builder;
