//! PlacementPolicy: which members run a hub Gateway, with which class there.
//! Without a policy a Gateway goes to every Ready member.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    target_ref::GatewayTargetRef,
    work::{DeletionPolicy, TakeoverPolicy},
};

#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "fedway.dev",
    doc = "Which member clusters run a hub Gateway, and with which GatewayClass there.",
    version = "v1alpha1",
    kind = "PlacementPolicy",
    plural = "placementpolicies",
    shortname = "pp",
    category = "fedway",
    namespaced,
    status = "PlacementPolicyStatus",
    printcolumn = r#"{"name":"Gateway","type":"string","jsonPath":".spec.targetRefs[*].name"}"#,
    printcolumn = r#"{"name":"Clusters","type":"string","jsonPath":".status.decisions[*].clusterName"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct PlacementPolicySpec {
    /// The Gateways this policy places.
    #[schemars(length(min = 1, max = 16))]
    pub target_refs: Vec<GatewayTargetRef>,
    /// Members whose labels match. With `clusterNames` too, a member is
    /// chosen when it matches either. Neither: every Ready member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_selector: Option<LabelSelector>,
    /// Members chosen by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1024))]
    pub cluster_names: Vec<String>,
    /// The GatewayClass to use in chosen members; the first entry that
    /// matches a member wins. Unmatched members use their detected native
    /// class, else `fedway-proxy`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub class_mapping: Vec<ClassMapping>,
    #[serde(default)]
    pub takeover: TakeoverPolicy,
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// Where the listeners' certificates in the chosen members come from.
    #[serde(default)]
    pub certificates: CertificateSource,
    /// What happens in a member whose implementation says it lacks a
    /// Gateway API feature a route uses (its GatewayClass's
    /// `supportedFeatures`).
    #[serde(default)]
    pub unsupported_features: UnsupportedFeatures,
}

/// What a member gets of a route that uses a feature its implementation
/// lacks. Either way the hub route's parent status names the member and
/// the features (`fedway.dev/FeaturesSupported`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum UnsupportedFeatures {
    /// The route anyway: the implementation may ignore or refuse the part
    /// it lacks.
    #[default]
    Place,
    /// Not the route: the member runs the Gateway without it.
    Skip,
    /// The Gateway on `fedway-proxy` there instead of the member's class.
    Fallback,
}

/// Who provides the Secrets a Gateway's listeners reference in a member.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum CertificateSource {
    /// The hub's Secrets, copied into every chosen member and kept in step
    /// (a renewal in the hub reaches the members).
    #[default]
    Hub,
    /// The members' own (e.g. a cert-manager in each member): Fedway never
    /// writes them there.
    Member,
}

/// Members (by name or by labels) and the GatewayClass they should use.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.clusterNames) && size(self.clusterNames) > 0) || has(self.clusterSelector)").message("classMapping entry must set clusterNames or clusterSelector"))]
pub struct ClassMapping {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1024))]
    pub cluster_names: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::required_selector")]
    pub cluster_selector: Option<LabelSelector>,
    #[schemars(length(min = 1, max = 253))]
    pub gateway_class_name: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlacementPolicyStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Vec<Condition>,
    /// Where the targeted Gateways go, and with which class.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1024))]
    pub decisions: Vec<PlacementDecision>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlacementDecision {
    pub cluster_name: String,
    pub gateway_class_name: String,
}
