//! Policies (GEP-713) go along with what they target: BackendTLSPolicy
//! (Standard) with its CA ConfigMap, and a kind the hub operator allows —
//! Envoy Gateway's BackendTrafficPolicy, its CRD from Envoy Gateway's own
//! module — with their `status.ancestors` aggregated back in the hub; and
//! the CA ConfigMap of the Gateway's frontend (client certificate)
//! validation.

use fedway_crds::group_kind::GroupKind;
use fedway_e2e::{manifests, toolchain};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{
    Api,
    api::{DeleteParams, DynamicObject},
};
use serde_json::{Value, json};

use crate::{Federation, apply, eventually, implementation_reports, namespace, resource};

fn backend_tls_policies() -> kube::core::ApiResource {
    resource("BackendTLSPolicy", "v1", "backendtlspolicies")
}

fn traffic_policies() -> kube::core::ApiResource {
    kube::core::ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk(
            "gateway.envoyproxy.io",
            "v1alpha1",
            "BackendTrafficPolicy",
        ),
        "backendtrafficpolicies",
    )
}

fn condition_in<'a>(entry: &'a Value, type_: &str) -> Option<&'a Value> {
    entry["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// The hub's ancestor entry of a hub policy, once it has condition `type_`
/// with `reason`.
async fn hub_ancestor(
    fed: &Federation,
    api: &Api<DynamicObject>,
    name: &str,
    type_: &str,
    reason: &str,
) -> Value {
    eventually(
        &format!("hub {name}: {type_} {reason} in its fedway.dev/hub ancestor entry, every member reported"),
        30,
        || async {
            let policy = api.get(name).await.map_err(|e| fed.hub.kube_error(e))?;
            Ok(policy.data["status"]["ancestors"]
                .as_array()
                .and_then(|a| a.iter().find(|a| a["controllerName"] == "fedway.dev/hub"))
                .filter(|a| condition_in(a, type_).is_some_and(|c| c["reason"] == reason))
                // Once every member has reported: until then the entry
                // says which have not, and changes as they do.
                .filter(|a| !a["conditions"].to_string().contains("not reported yet"))
                .cloned())
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn policies_go_with_their_targets_and_their_status_comes_back() {
    let mut fed = Federation::start(&[("member-a", &[]), ("member-b", &[])]).await;
    // Envoy Gateway's BackendTrafficPolicy CRD everywhere, and the hub and
    // agents told to federate it (kinds are found at start-up).
    let crd = toolchain::envoy_gateway_crd("backendtrafficpolicies").expect("Envoy Gateway CRD");
    let crds = manifests::read_crds(&[crd]).expect("reading the CRD");
    for cluster in std::iter::once(&fed.hub).chain(fed.members.iter().map(|m| &m.cluster)) {
        manifests::install_crds(&cluster.client(), &crds)
            .await
            .expect("installing BackendTrafficPolicy");
    }
    fed.policy_kinds = vec![
        "BackendTrafficPolicy.gateway.envoyproxy.io"
            .parse::<GroupKind>()
            .expect("kind"),
    ];
    fed.start_hub_controller();
    for i in 0..fed.members.len() {
        fed.start_agent(i).await;
    }

    let hub = fed.hub.client();
    namespace(&hub, "web").await;
    apply(
        &hub,
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
               "metadata": {"name": "shop", "namespace": "web"},
               "spec": {"gatewayClassName": "fedway", "listeners": [
                   {"name": "http", "port": 80, "protocol": "HTTP"}],
                   // Client certificates are checked against this CA.
                   "tls": {"frontend": {"default": {"validation": {"caCertificateRefs": [
                       {"group": "", "kind": "ConfigMap", "name": "client-ca"}]}}}}}}),
    )
    .await;
    apply(
        &hub,
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
               "metadata": {"name": "cart", "namespace": "web"},
               "spec": {"parentRefs": [{"name": "shop"}],
                        "rules": [{"backendRefs": [{"name": "cart", "port": 443}]}]}}),
    )
    .await;
    for name in ["cart-ca", "client-ca"] {
        apply(
            &hub,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": name, "namespace": "web"},
                   "data": {"ca.crt": "first CA"}}),
        )
        .await;
    }
    apply(
        &hub,
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
               "metadata": {"name": "cart-tls", "namespace": "web"},
               "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": "cart"}],
                        "validation": {"hostname": "cart.internal",
                                       "caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "cart-ca"}]}}}),
    )
    .await;
    for (name, target) in [
        (
            "cart-retries",
            json!({"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "cart"}),
        ),
        (
            "elsewhere",
            json!({"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "other"}),
        ),
    ] {
        apply(
            &hub,
            json!({"apiVersion": "gateway.envoyproxy.io/v1alpha1", "kind": "BackendTrafficPolicy",
                   "metadata": {"name": name, "namespace": "web"},
                   "spec": {"targetRefs": [target], "retry": {"numRetries": 3}}}),
        )
        .await;
    }

    // Each member gets both policies that concern what it runs, and the CA
    // ConfigMap; not the policy of a Gateway that is not federated.
    let members: Vec<(&str, kube::Client)> = fed
        .members
        .iter()
        .map(|m| (m.name.as_str(), m.cluster.client()))
        .collect();
    for (member, client) in &members {
        let tls =
            Api::<DynamicObject>::namespaced_with(client.clone(), "web", &backend_tls_policies());
        let traffic =
            Api::<DynamicObject>::namespaced_with(client.clone(), "web", &traffic_policies());
        let config_maps = Api::<ConfigMap>::namespaced(client.clone(), "web");
        let copy = eventually(
            &format!("BackendTLSPolicy web/cart-tls in {member}"),
            30,
            || async { Ok(tls.get_opt("cart-tls").await.ok().flatten()) },
        )
        .await;
        assert_eq!(copy.data["spec"]["validation"]["hostname"], "cart.internal");
        let retries = eventually(
            &format!("BackendTrafficPolicy web/cart-retries in {member}"),
            30,
            || async { Ok(traffic.get_opt("cart-retries").await.ok().flatten()) },
        )
        .await;
        assert_eq!(retries.data["spec"]["retry"]["numRetries"], 3);
        // The BackendTLSPolicy's CA, and the Gateway's client CA.
        for name in ["cart-ca", "client-ca"] {
            let ca = eventually(&format!("ConfigMap web/{name} in {member}"), 30, || async {
                Ok(config_maps.get_opt(name).await.ok().flatten())
            })
            .await;
            assert_eq!(
                ca.data
                    .unwrap_or_default()
                    .get("ca.crt")
                    .map(String::as_str),
                Some("first CA")
            );
        }
        assert!(
            traffic
                .get_opt("elsewhere")
                .await
                .expect("reading")
                .is_none(),
            "{member} got a policy of a Gateway Fedway does not run"
        );
    }

    // The members' implementations (played here) report on the policies:
    // member-b cannot use the CA.
    for (member, client) in &members {
        let tls =
            Api::<DynamicObject>::namespaced_with(client.clone(), "web", &backend_tls_policies());
        let traffic =
            Api::<DynamicObject>::namespaced_with(client.clone(), "web", &traffic_policies());
        let resolved = if *member == "member-b" {
            json!({"type": "ResolvedRefs", "status": "False", "reason": "InvalidCACertificateRef",
                   "message": "ConfigMap web/cart-ca holds no PEM certificate", "lastTransitionTime": "2026-01-01T00:00:00Z"})
        } else {
            json!({"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs", "message": "",
                   "lastTransitionTime": "2026-01-01T00:00:00Z"})
        };
        let accepted = json!({"type": "Accepted", "status": "True", "reason": "Accepted", "message": "",
                              "lastTransitionTime": "2026-01-01T00:00:00Z"});
        let ancestor = |conditions: Value, controller: &str| {
            json!({"ancestors": [{
                "ancestorRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "web", "name": "shop"},
                "controllerName": controller, "conditions": conditions}]})
        };
        implementation_reports(
            &tls,
            "cart-tls",
            ancestor(json!([accepted, resolved]), "example.com/gateway"),
        )
        .await;
        implementation_reports(
            &traffic,
            "cart-retries",
            ancestor(
                json!([accepted]),
                "gateway.envoyproxy.io/gatewayclass-controller",
            ),
        )
        .await;
    }

    // The hub policies' ancestor entries for the hub Gateway say so, per
    // member.
    let hub_tls =
        Api::<DynamicObject>::namespaced_with(hub.clone(), "web", &backend_tls_policies());
    let hub_traffic =
        Api::<DynamicObject>::namespaced_with(hub.clone(), "web", &traffic_policies());
    let entry = hub_ancestor(
        &fed,
        &hub_tls,
        "cart-tls",
        "ResolvedRefs",
        "InvalidCACertificateRef",
    )
    .await;
    assert_eq!(
        entry["ancestorRef"],
        json!({"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "web", "name": "shop"})
    );
    let resolved = condition_in(&entry, "ResolvedRefs").expect("ResolvedRefs");
    assert_eq!(resolved["status"], "False", "{resolved}");
    let message = resolved["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("member-b (InvalidCACertificateRef")
            && message.contains("ResolvedRefs in member-a"),
        "{message}"
    );
    assert_eq!(
        condition_in(&entry, "Accepted").map(|c| &c["status"]),
        Some(&json!("True")),
        "{entry}"
    );
    let entry = hub_ancestor(&fed, &hub_traffic, "cart-retries", "Accepted", "Accepted").await;
    assert!(
        condition_in(&entry, "Accepted")
            .and_then(|c| c["message"].as_str())
            .is_some_and(|m| m.contains("member-a") && m.contains("member-b")),
        "{entry}"
    );
    let elsewhere = hub_traffic.get("elsewhere").await.expect("reading");
    assert!(
        elsewhere.data["status"]["ancestors"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "the hub wrote status on a policy it does not federate: {}",
        elsewhere.data["status"]
    );

    // A new CA reaches every member; a policy deleted in the hub leaves them.
    apply(
        &hub,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "cart-ca", "namespace": "web"},
               "data": {"ca.crt": "second CA"}}),
    )
    .await;
    hub_traffic
        .delete("cart-retries", &DeleteParams::default())
        .await
        .expect("deleting cart-retries");
    for (member, client) in &members {
        let config_maps = Api::<ConfigMap>::namespaced(client.clone(), "web");
        let traffic =
            Api::<DynamicObject>::namespaced_with(client.clone(), "web", &traffic_policies());
        eventually(&format!("the second CA in {member}"), 30, || async {
            let ca = config_maps.get("cart-ca").await.ok();
            Ok(ca
                .and_then(|c| c.data)
                .filter(|d| d.get("ca.crt").map(String::as_str) == Some("second CA")))
        })
        .await;
        eventually(&format!("cart-retries gone from {member}"), 30, || async {
            Ok(traffic
                .get_opt("cart-retries")
                .await
                .ok()
                .filter(Option::is_none))
        })
        .await;
    }
}
