//! Work: everything one member should run for one hub Gateway, written by the
//! hub into the member's hub namespace and applied by that member's agent.
//! Manifests are kept as raw JSON objects, so nothing the user wrote is lost.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Condition types on a Work and on each of its manifests.
pub mod condition {
    /// Every manifest was applied as written.
    pub const APPLIED: &str = "Applied";
    /// An object exists in the member that Fedway may not take over.
    pub const CONFLICT: &str = "Conflict";
    /// The member's copy was changed outside Fedway and put back.
    pub const DRIFTED: &str = "Drifted";
    /// The reason of a manifest's `Applied=False` when the member refused
    /// the write or could not be reached; the agent tries again.
    pub const APPLY_FAILED: &str = "ApplyFailed";
}

#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "fedway.dev",
    doc = "Everything one member runs for one hub Gateway: raw manifests applied by the member agent with server-side apply, and what the member reports back.",
    version = "v1alpha1",
    kind = "Work",
    plural = "works",
    category = "fedway",
    namespaced,
    status = "WorkStatus",
    printcolumn = r#"{"name":"Applied","type":"string","jsonPath":".status.conditions[?(@.type==\"Applied\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Applied\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct WorkSpec {
    /// The objects to apply in the member, exactly as the hub wants them.
    #[schemars(length(max = 512))]
    pub manifests: Vec<Manifest>,
    /// What to do when an object already exists in the member and Fedway did
    /// not create it.
    #[serde(default)]
    pub takeover: TakeoverPolicy,
    /// What deleting this Work does to the objects it applied.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Secrets the member needs (the listeners' certificates), by
    /// reference: each is a Secret the hub wrote into this Work's namespace,
    /// which the agent copies into the member. Their keys never sit in the
    /// Work itself, which encryption at rest does not cover as it covers
    /// Secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub secrets: Vec<SecretCopy>,
    /// Routes attached to the Gateway that this member does not get, and
    /// why (its implementation lacks features they use and the
    /// PlacementPolicy says Skip). The agent does nothing with them; the
    /// hub's DNS takes the member out for their hostnames.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 512))]
    pub withheld: Vec<Withheld>,
}

/// A hub object a Work does not carry, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Withheld {
    pub identity: ObjectIdentity,
    #[schemars(length(max = 1024))]
    pub reason: String,
}

impl WorkSpec {
    /// The GatewayClass of the Gateway this Work carries: the class the
    /// member's copy uses.
    pub fn gateway_class(&self) -> Option<&str> {
        self.manifests
            .iter()
            .find(|m| m.0.get("kind").and_then(|k| k.as_str()) == Some("Gateway"))?
            .0
            .get("spec")?
            .get("gatewayClassName")?
            .as_str()
    }
}

/// A Secret of the Work's namespace and where its copy goes in the member.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct SecretCopy {
    /// The Secret in the Work's namespace (the member's hub namespace).
    #[schemars(length(min = 1, max = 253))]
    pub from: String,
    /// The copy's namespace in the member.
    #[schemars(length(min = 1, max = 63))]
    pub namespace: String,
    /// The copy's name in the member.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// One Kubernetes object, stored losslessly.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
#[schemars(schema_with = "crate::schema::embedded_object")]
pub struct Manifest(pub serde_json::Map<String, serde_json::Value>);

/// Takeover of objects that exist in the member but are not Fedway's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TakeoverPolicy {
    /// Never take over an existing object; report a Conflict.
    Never,
    /// Take over only when the existing object already matches (apply would
    /// change nothing); otherwise report a Conflict naming the differences.
    #[default]
    IfNoDiff,
    /// Take over and overwrite.
    Always,
}

/// What happens to applied objects when their Work goes away.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete the objects Fedway created.
    #[default]
    Delete,
    /// Leave them running in the member, unmanaged.
    Orphan,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkStatus {
    /// The Work generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Applied` for the Work as a whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<Condition>,
    /// Per manifest: what happened and what the member reports about it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 512))]
    pub manifests: Vec<ManifestStatus>,
}

/// Status of one manifest in the member.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManifestStatus {
    pub identity: ObjectIdentity,
    /// `Applied`, `Conflict`, `Drifted`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<Condition>,
    /// What the member's Gateway API implementation says about the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<Feedback>,
}

impl ManifestStatus {
    /// Whether the last apply failed for a reason that passes (not a
    /// refused takeover): the agent will try again.
    pub fn apply_failed(&self) -> bool {
        self.conditions
            .iter()
            .any(|c| c.type_ == condition::APPLIED && c.reason == condition::APPLY_FAILED)
    }
}

/// Names one object in the member.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, KubeSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct ObjectIdentity {
    #[serde(default)]
    pub group: String,
    pub version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectIdentity {
    /// The identity of a JSON object: apiVersion, kind and a name are
    /// required.
    pub fn of(object: &serde_json::Map<String, serde_json::Value>) -> Option<ObjectIdentity> {
        let api_version = object.get("apiVersion")?.as_str()?;
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let metadata = object.get("metadata")?;
        Some(ObjectIdentity {
            group: group.into(),
            version: version.into(),
            kind: object.get("kind")?.as_str()?.into(),
            namespace: metadata["namespace"].as_str().map(str::to_owned),
            name: metadata["name"].as_str().filter(|n| !n.is_empty())?.into(),
        })
    }
}

/// Bounded feedback: just what the hub needs to aggregate status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Feedback {
    /// Gateway addresses (at most 16, as in Gateway status).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub addresses: Vec<String>,
    /// Gateway or route conditions that matter to the hub, by type:
    /// `Accepted`, `Programmed`, `ResolvedRefs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub conditions: Vec<FeedbackCondition>,
    /// Gateway listeners: name, attached routes, conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub listeners: Vec<ListenerFeedback>,
    /// Route parents: the route's status for each Gateway it attaches to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub parents: Vec<ParentFeedback>,
}

/// A condition reduced to what aggregation needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedbackCondition {
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 1024))]
    pub message: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListenerFeedback {
    pub name: String,
    pub attached_routes: i32,
    /// The listener's `Accepted`, `ResolvedRefs` and `Programmed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 3))]
    pub conditions: Vec<FeedbackCondition>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParentFeedback {
    /// The parent's name in the member (a Gateway's, unless `kind` says).
    pub gateway: String,
    /// The parent's kind when it is not a Gateway: `ListenerSet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub kind: Option<String>,
    /// The parent Gateway's namespace, when the implementation's parentRef
    /// names one (else the route's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section_name: Option<String>,
    /// The parentRef's port, when it names one: two parentRefs to one
    /// Gateway differing only by port are two entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub conditions: Vec<FeedbackCondition>,
}

impl ParentFeedback {
    /// Whether this entry is for the parentRef (a `kind` — Gateway or
    /// ListenerSet — `namespace/name`, `section_name`, `port`) of a route
    /// in `route_namespace`.
    pub fn is_for(
        &self,
        route_namespace: &str,
        kind: &str,
        parent: (&str, &str),
        section_name: Option<&str>,
        port: Option<i32>,
    ) -> bool {
        self.kind.as_deref().unwrap_or("Gateway") == kind
            && self.is_for_parent(route_namespace, parent)
            && self.section_name.as_deref() == section_name
            && self.port == port
    }

    /// Whether this entry is for the `kind` (Gateway or ListenerSet)
    /// `namespace/name`, whatever the section and port.
    pub fn is_for_any(&self, route_namespace: &str, kind: &str, parent: (&str, &str)) -> bool {
        self.kind.as_deref().unwrap_or("Gateway") == kind
            && self.is_for_parent(route_namespace, parent)
    }

    fn is_for_parent(&self, route_namespace: &str, (namespace, name): (&str, &str)) -> bool {
        self.gateway == name && self.namespace.as_deref().unwrap_or(route_namespace) == namespace
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn identities_need_api_version_kind_and_name() {
        let object = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert_eq!(
            ObjectIdentity::of(&object(json!({"apiVersion": "v1", "kind": "Secret",
                                        "metadata": {"name": "s", "namespace": "web"}}))),
            Some(ObjectIdentity {
                group: String::new(),
                version: "v1".into(),
                kind: "Secret".into(),
                namespace: Some("web".into()),
                name: "s".into(),
            })
        );
        for bad in [
            json!({"kind": "Secret", "metadata": {"name": "s"}}),
            json!({"apiVersion": "v1", "metadata": {"name": "s"}}),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": ""}}),
            json!({"apiVersion": "v1", "kind": "Secret"}),
        ] {
            assert_eq!(ObjectIdentity::of(&object(bad.clone())), None, "{bad}");
        }
    }
}
