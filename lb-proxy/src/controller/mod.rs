//! The controller: watches the cluster's Gateway API objects and the
//! Services, EndpointSlices and TLS Secrets they use, and on every change
//! recomputes, in one pure pass, the statuses of this controller's
//! GatewayClasses, Gateways and HTTPRoutes and the [`ProxyConfig`] the data
//! plane serves.
//!
//! ```text
//! watch (reflectors, 50 ms debounce) ──Snapshot──> compute (pure)
//!   gateway_status: listeners, conflicts, certificates ─┐   ├─ addresses (pool)
//!   attachment: parentRefs × listeners ─────────────────┤   ├─ refs (ReferenceGrants, Services)
//!   route_table::build, endpoints ──────────────────────┘   └─ certificates (Secrets)
//!        │ Outcome
//!        ├──ProxyConfig──> ConfigSink (the data plane)
//!        └──statuses────> status_writer (SSA, field manager fedway-proxy, only when changed)
//! ```
//!
//! (A `mod.rs` rather than `controller.rs` beside a folder: this module's
//! files are kept in one folder.)

pub mod addresses;
pub mod attachment;
pub mod class;
pub mod compute;
pub mod conditions;
pub mod endpoints;
pub mod events;
pub mod features;
pub mod gateway_status;
pub mod publish;
pub mod refs;
pub mod spillover;
pub mod status_writer;
pub mod watch;

use std::sync::Arc;

use kube::api::ObjectMeta;

pub use addresses::AddressPool;
pub use publish::{Publish, ServiceKind};
pub use watch::run;

use crate::{config::ProxyConfig, metrics::ProxyMetrics};

/// The default GatewayClass `controllerName` this proxy implements.
pub const DEFAULT_CONTROLLER_NAME: &str = "fedway.dev/lb-proxy";
/// The GatewayClass name Fedway's hub maps Gateways to when a member has
/// no native implementation.
pub const DEFAULT_CLASS_NAME: &str = "fedway-proxy";
/// Field manager of every status this controller writes.
pub const FIELD_MANAGER: &str = "fedway-proxy";

/// Where each computed [`ProxyConfig`] goes: the data plane in the binary,
/// a recorder in tests.
pub trait ConfigSink: Send + Sync + 'static {
    /// Takes the whole new configuration; called after every pass.
    fn apply(&self, config: ProxyConfig);
}

/// What the controller is configured with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// GatewayClasses with this `controllerName` are handled.
    pub controller_name: String,
    /// Where Gateway addresses come from and how listeners are bound.
    pub publish: Publish,
    /// Shared with the data plane; `Default` for unregistered ones.
    pub metrics: Arc<ProxyMetrics>,
}

/// A namespaced object's namespace and name.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(namespace: &str, name: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    pub fn of(meta: &ObjectMeta) -> Self {
        Self {
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
        }
    }

    pub fn into_pair(self) -> (String, String) {
        (self.namespace, self.name)
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// What can go wrong talking to the API server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("GatewayClass {name}: {source}")]
    Class {
        name: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("publishing Service {what}: {source}")]
    PublishService {
        what: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("writing the status of {what}: {source}")]
    WriteStatus {
        what: String,
        #[source]
        source: Box<kube::Error>,
    },
}
