//! Policy attachment (GEP-713): Fedway's policies name the hub Gateway they
//! apply to with a local target reference.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// A Gateway in the policy's own namespace, optionally one of its listeners.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.group == 'gateway.networking.k8s.io' && self.kind == 'Gateway'").message("targetRefs may only name a Gateway (group gateway.networking.k8s.io, kind Gateway)"))]
pub struct GatewayTargetRef {
    /// Always `gateway.networking.k8s.io`.
    pub group: String,
    /// Always `Gateway`.
    pub kind: String,
    /// The Gateway's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// A listener of that Gateway; the whole Gateway when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub section_name: Option<String>,
}

impl GatewayTargetRef {
    pub const GROUP: &'static str = "gateway.networking.k8s.io";
    pub const KIND: &'static str = "Gateway";

    /// A reference to the whole Gateway `name`.
    pub fn gateway(name: impl Into<String>) -> Self {
        Self {
            group: Self::GROUP.into(),
            kind: Self::KIND.into(),
            name: name.into(),
            section_name: None,
        }
    }
}
