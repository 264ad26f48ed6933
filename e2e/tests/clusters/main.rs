//! Tests of the harness itself on real control planes: each cluster is a
//! real etcd + kube-apiserver (+ kube-controller-manager, kube-scheduler,
//! kwok) on its own loopback address. All compiled into one test binary.

mod crds;
mod isolation;
mod pod_runner;
mod rbac;
mod teardown;
mod workloads;

use fedway_e2e::{Result, manifests};
use kube::{
    Api, Client,
    api::{DynamicObject, ListParams},
    core::{ApiResource, GroupVersionKind},
};
use serde_json::Value;

/// Logs harness progress when a test fails (RUST_LOG=debug for more).
pub fn init_logging() {
    fedway_e2e::init_test_logging();
}

/// Applies one object given as JSON.
pub async fn apply(client: &Client, object: Value) -> Result<DynamicObject> {
    manifests::apply(client, object, "test").await
}

/// A dynamic API for `group/version kind` in `namespace`.
pub fn dynamic_api(
    client: &Client,
    gvk: (&str, &str, &str),
    namespace: &str,
) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(gvk.0, gvk.1, gvk.2));
    Api::namespaced_with(client.clone(), namespace, &resource)
}

pub const GATEWAY: (&str, &str, &str) = ("gateway.networking.k8s.io", "v1", "Gateway");

/// Names of the Gateways in `namespace`.
pub async fn gateway_names(client: &Client, namespace: &str) -> Vec<String> {
    let list = dynamic_api(client, GATEWAY, namespace)
        .list(&ListParams::default())
        .await
        .expect("listing Gateways");
    let mut names: Vec<String> = list
        .items
        .into_iter()
        .filter_map(|g| g.metadata.name)
        .collect();
    names.sort();
    names
}

pub use fedway_e2e::wait::eventually;
