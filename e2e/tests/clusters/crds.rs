//! Fedway's CRDs are served by a real API server, which accepts valid
//! objects (filling defaults) and rejects the obvious mistakes with a
//! message that names the field.

use fedway_e2e::{Cluster, ClusterOptions};
use serde_json::{Value, json};

use crate::{apply, init_logging};

fn dns_policy(spec_patch: Value) -> Value {
    let mut spec = json!({
        "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shop"}],
        "strategy": "Weighted",
        "weights": [{"clusterSelector": {"matchLabels": {"region": "eu"}}, "weight": 3}],
        "healthCheck": {"protocol": "HTTP", "path": "/healthz", "interval": "2s", "timeout": "500ms"},
    });
    merge(&mut spec, spec_patch);
    json!({
        "apiVersion": "fedway.dev/v1alpha1", "kind": "DNSPolicy",
        "metadata": {"name": "shop", "namespace": "default"},
        "spec": spec,
    })
}

fn placement_policy(spec: Value) -> Value {
    json!({
        "apiVersion": "fedway.dev/v1alpha1", "kind": "PlacementPolicy",
        "metadata": {"name": "shop", "namespace": "default"},
        "spec": spec,
    })
}

fn merge(into: &mut Value, patch: Value) {
    match (into, patch) {
        (Value::Object(into), Value::Object(patch)) => {
            for (key, value) in patch {
                merge(into.entry(key).or_insert(Value::Null), value);
            }
        }
        (into, patch) => *into = patch,
    }
}

/// The API server's message for an object it refused.
async fn rejection(cluster: &Cluster, object: Value) -> String {
    match apply(&cluster.client(), object).await {
        Ok(accepted) => panic!(
            "the API server accepted an invalid object: {:?}",
            accepted.data
        ),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn fedway_crds_are_served_defaulted_and_validated() {
    init_logging();
    let cluster = Cluster::start("crds", &ClusterOptions::default())
        .await
        .expect("starting a cluster");

    // Valid objects are accepted, with defaults filled in by the server.
    let policy = apply(&cluster.client(), dns_policy(json!({})))
        .await
        .expect("a valid DNSPolicy");
    assert_eq!(policy.data["spec"]["ttlSeconds"], 10);
    assert_eq!(policy.data["spec"]["failOpen"], true);
    assert_eq!(policy.data["spec"]["healthCheck"]["failureThreshold"], 3);
    assert_eq!(
        policy.data["spec"]["healthCheck"]["expectedStatuses"],
        json!([200])
    );
    let member = apply(
        &cluster.client(),
        json!({"apiVersion": "fedway.dev/v1alpha1", "kind": "MemberCluster",
               "metadata": {"name": "eu-1", "labels": {"topology.kubernetes.io/region": "eu-west"}}, "spec": {}}),
    )
    .await
    .expect("a valid MemberCluster");
    assert_eq!(
        member.data["spec"]["heartbeat"],
        json!({"interval": "10s", "missedBeforeNotReady": 4})
    );
    apply(
        &cluster.client(),
        json!({"apiVersion": "fedway.dev/v1alpha1", "kind": "DNSZone", "metadata": {"name": "global"},
               "spec": {"zone": "global.example.com",
                        "nameServers": [{"name": "ns1.global.example.com", "addresses": ["127.20.1.53"]}]}}),
    )
    .await
    .expect("a valid DNSZone");

    let cases: Vec<(&str, Value, &[&str])> = vec![
        (
            "negative weight",
            dns_policy(
                json!({"weights": [{"clusterSelector": {"matchLabels": {"region": "eu"}}, "weight": -1}]}),
            ),
            &["spec.weights[0].weight", "greater than or equal to 0"],
        ),
        (
            "empty required selector",
            dns_policy(json!({"weights": [{"clusterSelector": {}, "weight": 1}]})),
            &[
                "spec.weights[0].clusterSelector",
                "selector must set matchLabels or matchExpressions",
            ],
        ),
        (
            "bad duration",
            dns_policy(json!({"healthCheck": {"interval": "5 seconds"}})),
            &["spec.healthCheck.interval", "should match"],
        ),
        (
            "timeout above interval",
            dns_policy(json!({"healthCheck": {"interval": "1s", "timeout": "2s"}})),
            &[
                "spec.healthCheck",
                "timeout must not exceed healthCheck.interval",
            ],
        ),
        (
            "unknown strategy",
            dns_policy(json!({"strategy": "Random"})),
            &["spec.strategy", "Unsupported value: \"Random\""],
        ),
        (
            "target that is not a Gateway",
            placement_policy(
                json!({"targetRefs": [{"group": "", "kind": "Service", "name": "shop"}]}),
            ),
            &["spec.targetRefs[0]", "targetRefs may only name a Gateway"],
        ),
        (
            "no target",
            placement_policy(json!({"targetRefs": []})),
            &["spec.targetRefs", "should have at least 1 items"],
        ),
        (
            "class mapping without clusters",
            placement_policy(json!({
                "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shop"}],
                "classMapping": [{"gatewayClassName": "istio"}],
            })),
            &[
                "spec.classMapping[0]",
                "must set clusterNames or clusterSelector",
            ],
        ),
        (
            "bad zone name",
            json!({"apiVersion": "fedway.dev/v1alpha1", "kind": "DNSZone", "metadata": {"name": "bad"},
                   "spec": {"zone": "not a domain", "nameServers": [{"name": "ns1.example.com"}]}}),
            &["spec.zone", "should match"],
        ),
        (
            "glue that is not an IP",
            json!({"apiVersion": "fedway.dev/v1alpha1", "kind": "DNSZone", "metadata": {"name": "bad-glue"},
                   "spec": {"zone": "example.com", "nameServers": [{"name": "ns1.example.com", "addresses": ["ns1"]}]}}),
            &[
                "spec.nameServers[0].addresses",
                "glue addresses must be IP addresses",
            ],
        ),
        (
            "Work manifest without kind",
            json!({"apiVersion": "fedway.dev/v1alpha1", "kind": "Work", "metadata": {"name": "w", "namespace": "default"},
                   "spec": {"manifests": [{"apiVersion": "v1", "metadata": {"name": "x"}}]}}),
            &["spec.manifests[0].kind", "Required value"],
        ),
    ];
    for (mistake, object, expected) in cases {
        let message = rejection(&cluster, object).await;
        for part in expected {
            assert!(
                message.contains(part),
                "{mistake}: {message:?} should contain {part:?}"
            );
        }
    }
}

#[tokio::test]
async fn work_keeps_fields_fedway_does_not_know() {
    init_logging();
    let cluster = Cluster::start("lossless", &ClusterOptions::default())
        .await
        .expect("starting a cluster");
    let manifest = json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "shop", "namespace": "shop", "annotations": {"vendor.example/knob": "11"}},
        "spec": {"gatewayClassName": "x", "listeners": [], "someFutureField": {"nested": [1, 2, 3]}},
    });
    let work = apply(
        &cluster.client(),
        json!({"apiVersion": "fedway.dev/v1alpha1", "kind": "Work",
               "metadata": {"name": "shop", "namespace": "default"},
               "spec": {"manifests": [manifest.clone()]}}),
    )
    .await
    .expect("a Work");
    assert_eq!(work.data["spec"]["manifests"][0], manifest);
    assert_eq!(work.data["spec"]["takeover"], "IfNoDiff");
    assert_eq!(work.data["spec"]["deletionPolicy"], "Delete");
}
