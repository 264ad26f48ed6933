//! Fedway's core promise on real control planes: a Gateway and its routes
//! written once in the hub run in every chosen member, and the hub tells
//! the truth about where. The hub controller and the agents run in this
//! process (as they would in their binaries), against a real hub and real
//! members, each agent with the credential `fedway-hub join` minted.

mod certificates;
mod define_once;
mod dns_records;
mod global_dns;
mod journey;
mod leader;
mod listener_sets;
mod policies;
mod resilience;
mod safety;
mod traefik;

use fedway_e2e::manifests;
use kube::{
    Api, Client,
    api::{DynamicObject, Patch, PatchParams},
    core::{ApiResource, GroupVersionKind},
};
use serde_json::{Value, json};

pub use fedway_e2e::federation::{AGENT_USER, Federation};

pub async fn apply(client: &Client, object: Value) -> DynamicObject {
    manifests::apply(client, object, "test")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Creates namespace `name`.
pub async fn namespace(client: &Client, name: &str) {
    apply(
        client,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
    )
    .await;
}

pub fn resource(kind: &str, version: &str, plural: &str) -> ApiResource {
    let group = if kind == "MemberCluster" {
        "fedway.dev"
    } else {
        "gateway.networking.k8s.io"
    };
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

pub fn gateways(client: &Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        namespace,
        &resource("Gateway", "v1", "gateways"),
    )
}

pub fn http_routes(client: &Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        namespace,
        &resource("HTTPRoute", "v1", "httproutes"),
    )
}

/// Writes status as the member's Gateway API implementation would (there
/// is none in these members: this is the part a real one plays).
pub async fn implementation_reports(api: &Api<DynamicObject>, name: &str, status: Value) {
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(&json!({"status": status})),
    )
    .await
    .unwrap_or_else(|e| panic!("writing implementation status of {name}: {e}"));
}

pub use fedway_e2e::wait::eventually;

/// The condition `type_` of an object's `status.conditions`.
pub fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}
