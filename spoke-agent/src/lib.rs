//! Fedway's spoke agent: runs beside one member cluster and makes it run
//! what the hub placed there.
//!
//! ```text
//!  hub: Works (own namespace) ──watch──> reconcile ──SSA──> member objects
//!                                          ▲   │              │
//!           member objects (label) ──watch─┘   └─ feedback ───┘ -> Work status
//!  heartbeat: Lease in the hub namespace + MemberCluster status
//!  sweep: objects whose Work is gone (deleted or released per policy)
//! ```
//!
//! `takeover`, `shared` (one object that several Works carry) and
//! `feedback` are pure; `reconcile`, `heartbeat` and `run` do the I/O.

pub mod feedback;
pub mod heartbeat;
pub mod kinds;
pub mod member;
pub mod metrics;
pub mod reconcile;
pub mod run;
pub mod shared;
pub mod takeover;
pub mod triggers;

/// Field manager of everything the agent writes.
pub const FIELD_MANAGER: &str = "fedway-agent";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("hub: {action} {what}: {source}")]
    Hub {
        action: &'static str,
        what: String,
        source: Box<kube::Error>,
    },
    #[error("member: {action} {what}: {source}")]
    Member {
        action: &'static str,
        what: String,
        source: Box<kube::Error>,
    },
    #[error("the member does not serve {kind}: {source}")]
    UnknownKind {
        kind: String,
        source: Box<kube::Error>,
    },
    #[error("{0} is namespaced but the manifest has no namespace")]
    MissingNamespace(String),
    #[error("manifest {index}: {message}")]
    BadManifest { index: usize, message: String },
    #[error("hub: {0} does not exist (yet)")]
    MissingInHub(String),
}

pub(crate) fn hub_error(
    action: &'static str,
    what: impl Into<String>,
) -> impl FnOnce(kube::Error) -> Error {
    let what = what.into();
    move |source| Error::Hub {
        action,
        what,
        source: Box::new(source),
    }
}

pub(crate) fn member_error(
    action: &'static str,
    what: impl Into<String>,
) -> impl FnOnce(kube::Error) -> Error {
    let what = what.into();
    move |source| Error::Member {
        action,
        what,
        source: Box::new(source),
    }
}
