//! Schema fragments that schemars cannot derive, shared by the CRD types.

use schemars::{Schema, SchemaGenerator, json_schema};

/// Conditions in the standard Kubernetes shape, merged by `type`, so that two
/// writers (for instance hub and agent) can own different conditions under
/// server-side apply.
pub(crate) fn conditions(generator: &mut SchemaGenerator) -> Schema {
    let mut schema =
        generator.subschema_for::<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>>();
    schema.insert("x-kubernetes-list-type".into(), "map".into());
    schema.insert(
        "x-kubernetes-list-map-keys".into(),
        serde_json::json!(["type"]),
    );
    schema.insert("maxItems".into(), 16.into());
    schema
}

/// A label selector that must select something: an empty selector would
/// match every cluster, which is never what a required selector means.
pub(crate) fn required_selector(generator: &mut SchemaGenerator) -> Schema {
    let mut schema =
        generator.subschema_for::<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>();
    schema.insert(
        "x-kubernetes-validations".into(),
        serde_json::json!([{
            "rule": "(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)",
            "message": "selector must set matchLabels or matchExpressions; an empty selector would select every cluster",
        }]),
    );
    schema
}

/// An opaque object kept byte-for-byte as the user wrote it (apiVersion and
/// kind checked by the API server), so fields Fedway's types do not know
/// survive the trip from hub to member.
pub(crate) fn embedded_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "x-kubernetes-embedded-resource": true,
    })
}
