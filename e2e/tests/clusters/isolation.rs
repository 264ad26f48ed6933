//! Three clusters are three separate API servers on three addresses.

use fedway_e2e::{ClusterOptions, Clusters};
use serde_json::json;

use crate::{apply, gateway_names, init_logging};

fn gateway(name: &str, hostname: &str) -> serde_json::Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": { "name": name, "namespace": "default" },
        "spec": {
            "gatewayClassName": "example",
            "listeners": [{ "name": "http", "protocol": "HTTP", "port": 80, "hostname": hostname }],
        },
    })
}

#[tokio::test]
async fn hub_and_two_members_are_isolated() {
    init_logging();
    let clusters = Clusters::start(&["hub", "member-a", "member-b"], &ClusterOptions::default())
        .await
        .expect("starting hub and two members");

    let addresses: std::collections::BTreeSet<_> =
        clusters.iter().map(|c| c.control_plane_ip()).collect();
    assert_eq!(
        addresses.len(),
        3,
        "each cluster listens on its own address"
    );
    for cluster in clusters.iter() {
        assert!(
            cluster.control_plane_ip().is_loopback(),
            "{} is on loopback",
            cluster.name()
        );
    }

    for cluster in clusters.iter() {
        let name = format!("shop-{}", cluster.name());
        let applied = apply(
            &cluster.client(),
            gateway(&name, &format!("{}.example.com", cluster.name())),
        )
        .await
        .expect("Gateway API CRDs are served in every cluster");
        assert_eq!(applied.metadata.name.as_deref(), Some(name.as_str()));
    }

    for cluster in clusters.iter() {
        assert_eq!(
            gateway_names(&cluster.client(), "default").await,
            vec![format!("shop-{}", cluster.name())],
            "{} sees only its own Gateway",
            cluster.name()
        );
    }

    // The same name in two clusters is two objects.
    let hub = clusters.get("hub").client();
    let a = clusters.get("member-a").client();
    apply(&hub, gateway("same", "hub.example.com"))
        .await
        .expect("hub Gateway");
    apply(&a, gateway("same", "a.example.com"))
        .await
        .expect("member-a Gateway");
    let api = |c| crate::dynamic_api(c, crate::GATEWAY, "default");
    let hub_same = api(&hub).get("same").await.expect("hub copy");
    let a_same = api(&a).get("same").await.expect("member-a copy");
    assert_ne!(hub_same.metadata.uid, a_same.metadata.uid);
    assert_eq!(
        hub_same.data["spec"]["listeners"][0]["hostname"],
        "hub.example.com"
    );
    assert_eq!(
        a_same.data["spec"]["listeners"][0]["hostname"],
        "a.example.com"
    );
}
