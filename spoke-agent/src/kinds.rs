//! Resolving the kinds in Works to the member's API resources, once per
//! kind, and listing the kinds Fedway manages that the member serves.

use std::collections::HashMap;

use fedway_crds::group_kind::GroupKind;
use kube::{
    Client,
    core::{ApiResource, GroupVersionKind},
    discovery::{ApiCapabilities, Scope},
};
use tokio::sync::RwLock;

use crate::Error;

/// Kinds Fedway places into members: watched for drift and swept when
/// their Work is gone (Secrets: the listeners' certificates; ConfigMaps:
/// BackendTLSPolicies' CA certificates). The policy kinds a hub federates
/// besides BackendTLSPolicy are added with `--managed-kind`.
pub const MANAGED_KINDS: [(&str, &str); 13] = [
    ("", "Secret"),
    ("", "ConfigMap"),
    ("gateway.networking.k8s.io", "Gateway"),
    ("gateway.networking.k8s.io", "HTTPRoute"),
    ("gateway.networking.k8s.io", "GRPCRoute"),
    ("gateway.networking.k8s.io", "TLSRoute"),
    ("gateway.networking.k8s.io", "TCPRoute"),
    ("gateway.networking.k8s.io", "UDPRoute"),
    ("gateway.networking.k8s.io", "ReferenceGrant"),
    ("gateway.networking.k8s.io", "ListenerSet"),
    ("gateway.networking.k8s.io", "BackendTLSPolicy"),
    ("fedway.dev", "DNSRecord"),
    ("fedway.dev", "DNSZone"),
];

/// A cache of the member's discovery answers.
pub struct Kinds {
    client: Client,
    /// Kinds managed besides [`MANAGED_KINDS`].
    extra: Vec<GroupKind>,
    resolved: RwLock<HashMap<GroupVersionKind, (ApiResource, bool)>>,
}

impl Kinds {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            extra: Vec::new(),
            resolved: RwLock::new(HashMap::new()),
        }
    }

    /// Also manages `extra` (the policy kinds the hub federates).
    pub fn with_extra(mut self, extra: Vec<GroupKind>) -> Self {
        self.extra = extra;
        self
    }

    /// The API resource of `gvk` and whether it is namespaced.
    pub async fn resolve(&self, gvk: &GroupVersionKind) -> Result<(ApiResource, bool), Error> {
        if let Some(found) = self.resolved.read().await.get(gvk) {
            return Ok(found.clone());
        }
        let (resource, capabilities): (ApiResource, ApiCapabilities) =
            kube::discovery::pinned_kind(&self.client, gvk)
                .await
                .map_err(|source| Error::UnknownKind {
                    kind: format!("{}/{} {}", gvk.group, gvk.version, gvk.kind),
                    source: Box::new(source),
                })?;
        let found = (resource, capabilities.scope == Scope::Namespaced);
        self.resolved
            .write()
            .await
            .insert(gvk.clone(), found.clone());
        Ok(found)
    }

    /// The managed kinds the member serves, at their preferred versions.
    pub async fn managed(&self) -> Result<Vec<ApiResource>, Error> {
        let managed: Vec<(&str, &str)> = MANAGED_KINDS
            .into_iter()
            .chain(
                self.extra
                    .iter()
                    .map(|k| (k.group.as_str(), k.kind.as_str())),
            )
            .collect();
        let mut groups: Vec<&str> = managed.iter().map(|(g, _)| *g).collect();
        groups.sort_unstable();
        groups.dedup();
        let discovery = kube::Discovery::new(self.client.clone())
            .filter(&groups)
            .run()
            .await
            .map_err(|source| Error::Member {
                action: "discovering",
                what: "Gateway API and Fedway kinds".into(),
                source: Box::new(source),
            })?;
        Ok(discovery
            .groups()
            .flat_map(|group| group.recommended_resources())
            .filter(|(resource, _)| {
                managed.contains(&(resource.group.as_str(), resource.kind.as_str()))
            })
            .map(|(resource, _)| resource)
            .collect())
    }
}
