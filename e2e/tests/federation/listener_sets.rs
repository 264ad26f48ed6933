//! ListenerSets: a team's listeners attach to the federated Gateway in
//! every member that runs it, with their certificates and routes, and
//! their status — and their routes' — comes back to the hub; their
//! hostnames are published in DNS where their listeners work.

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, api::DynamicObject};
use serde_json::{Value, json};

use crate::{
    Federation, apply, certificates::secret, condition, eventually, http_routes,
    implementation_reports, namespace, resource,
};

fn listener_sets() -> kube::core::ApiResource {
    resource("ListenerSet", "v1", "listenersets")
}

fn reported(type_: &str, ok: bool, reason: &str, message: &str) -> Value {
    json!({"type": type_, "status": if ok { "True" } else { "False" }, "reason": reason,
           "message": message, "lastTransitionTime": "2026-01-01T00:00:00Z"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_listener_set_attaches_to_the_gateway_in_every_member_with_its_certificate_and_routes() {
    let fed = Federation::start(&[("member-a", &[]), ("member-b", &[])]).await;
    let hub = fed.hub.client();
    namespace(&hub, "web").await;
    namespace(&hub, "team").await;
    apply(
        &hub,
        json!({"apiVersion": "fedway.dev/v1alpha1", "kind": "DNSZone",
               "metadata": {"name": "example"},
               "spec": {"zone": "example.com",
                        "nameServers": [{"name": "ns1.example.com", "addresses": ["192.0.2.53"]}]}}),
    )
    .await;
    apply(
        &hub,
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
               "metadata": {"name": "shop", "namespace": "web"},
               "spec": {"gatewayClassName": "fedway",
                        "allowedListeners": {"namespaces": {"from": "All"}},
                        "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}}),
    )
    .await;
    apply(&hub, secret("team", "team-tls", "team.example.com")).await;
    apply(
        &hub,
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "ListenerSet",
               "metadata": {"name": "team", "namespace": "team"},
               "spec": {"parentRef": {"name": "shop", "namespace": "web"},
                        "listeners": [{"name": "https", "port": 443, "protocol": "HTTPS",
                                       "hostname": "team.example.com",
                                       "tls": {"certificateRefs": [{"name": "team-tls"}]}}]}}),
    )
    .await;
    apply(
        &hub,
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
               "metadata": {"name": "app", "namespace": "team"},
               "spec": {"parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "ListenerSet",
                                        "name": "team", "sectionName": "https"}],
                        "rules": [{"backendRefs": [{"name": "app", "port": 80}]}]}}),
    )
    .await;

    // Every member gets the set, its route and the certificate (a Secret
    // of the member, never inside the Work).
    for member in &fed.members {
        let client = member.cluster.client();
        let sets = Api::<DynamicObject>::namespaced_with(client.clone(), "team", &listener_sets());
        let set = eventually(
            &format!("ListenerSet team/team in {}", member.name),
            30,
            || async { Ok(sets.get_opt("team").await.ok().flatten()) },
        )
        .await;
        assert_eq!(set.data["spec"]["parentRef"]["name"], "shop");
        let route = eventually(
            &format!("HTTPRoute team/app in {}", member.name),
            30,
            || async {
                Ok(http_routes(&client, "team")
                    .get_opt("app")
                    .await
                    .ok()
                    .flatten())
            },
        )
        .await;
        assert_eq!(route.data["spec"]["parentRefs"][0]["kind"], "ListenerSet");
        let secrets = Api::<Secret>::namespaced(client.clone(), "team");
        eventually(
            &format!("Secret team/team-tls in {}", member.name),
            30,
            || async { Ok(secrets.get_opt("team-tls").await.ok().flatten()) },
        )
        .await;
    }
    let works = Api::<fedway_crds::Work>::all(hub.clone())
        .list(&Default::default())
        .await
        .expect("Works");
    assert!(
        works.items.iter().all(|w| !serde_json::to_string(&w.spec)
            .unwrap_or_default()
            .contains("tls.key")),
        "a key in a Work"
    );

    // Members' implementations (played): both program the Gateway;
    // member-a accepts and programs the set and the route; member-b's
    // Gateway does not take the set.
    for member in &fed.members {
        let client = member.cluster.client();
        implementation_reports(&crate::gateways(&client, "web"), "shop", json!({
            "addresses": [{"type": "IPAddress", "value": member.cluster.address(10).to_string()}],
            "conditions": [reported("Accepted", true, "Accepted", ""),
                           reported("Programmed", true, "Programmed", "")],
        }))
        .await;
        let sets = Api::<DynamicObject>::namespaced_with(client.clone(), "team", &listener_sets());
        let ok = member.name == "member-a";
        let (accepted, programmed) = if ok {
            (
                reported("Accepted", true, "Accepted", ""),
                reported("Programmed", true, "Programmed", ""),
            )
        } else {
            (
                reported(
                    "Accepted",
                    false,
                    "NotAllowed",
                    "Gateway web/shop does not allow it",
                ),
                reported("Programmed", false, "NotAllowed", ""),
            )
        };
        implementation_reports(&sets, "team", json!({
            "conditions": [accepted, programmed],
            "listeners": [{"name": "https", "attachedRoutes": if ok { 1 } else { 0 },
                           "supportedKinds": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}],
                           "conditions": [reported("Accepted", ok, if ok { "Accepted" } else { "NotAllowed" }, ""),
                                          reported("ResolvedRefs", true, "ResolvedRefs", ""),
                                          reported("Programmed", ok, if ok { "Programmed" } else { "Pending" }, "")]}],
        }))
        .await;
        implementation_reports(&http_routes(&client, "team"), "app", json!({"parents": [{
            "parentRef": {"group": "gateway.networking.k8s.io", "kind": "ListenerSet", "name": "team",
                          "sectionName": "https"},
            "controllerName": "example.com/gateway",
            "conditions": [reported("Accepted", ok, if ok { "Accepted" } else { "NotAllowedByListeners" }, ""),
                           reported("ResolvedRefs", true, "ResolvedRefs", "")],
        }]}))
        .await;
    }

    // The hub's ListenerSet and route say so, naming member-b.
    let hub_sets = Api::<DynamicObject>::namespaced_with(hub.clone(), "team", &listener_sets());
    let set = eventually(
        "the hub ListenerSet's status from both members",
        30,
        || async {
            let set = hub_sets
                .get("team")
                .await
                .map_err(|e| fed.hub.kube_error(e))?;
            Ok(condition(&set.data, "Accepted")
                .filter(|c| c["reason"] == "NotAllowed")
                .map(|_| set.data.clone()))
        },
    )
    .await;
    let accepted = condition(&set, "Accepted").expect("Accepted");
    assert_eq!(accepted["status"], "False");
    let message = accepted["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("member-b (NotAllowed") && message.contains("Accepted in member-a"),
        "{message}"
    );
    let listener = &set["status"]["listeners"][0];
    assert_eq!(listener["name"], "https", "{set}");
    let programmed = listener["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Programmed"))
        .expect("listener Programmed");
    assert_eq!(programmed["status"], "False", "{programmed}");
    assert!(
        programmed["message"]
            .as_str()
            .is_some_and(|m| m.contains("member-b")),
        "{programmed}"
    );

    let parent = eventually("the hub route's ListenerSet parent entry", 30, || async {
        let route = http_routes(&hub, "team")
            .get("app")
            .await
            .map_err(|e| fed.hub.kube_error(e))?;
        Ok(route.data["status"]["parents"].as_array().and_then(|ps| {
            ps.iter()
                .find(|p| p["controllerName"] == "fedway.dev/hub")
                .filter(|p| {
                    p["conditions"].as_array().is_some_and(|c| {
                        c.iter().any(|c| {
                            c["type"] == "Accepted" && c["reason"] == "NotAllowedByListeners"
                        })
                    })
                })
                .cloned()
        }))
    })
    .await;
    assert_eq!(
        parent["parentRef"],
        json!({"group": "gateway.networking.k8s.io", "kind": "ListenerSet", "namespace": "team",
               "name": "team", "sectionName": "https"})
    );

    // The set's hostname is in DNS: member-a serves it, member-b (whose
    // listener is not programmed) is marked down for it.
    let records = Api::<fedway_crds::DNSRecord>::all(hub.clone());
    let record = eventually("the DNSRecord of team.example.com", 30, || async {
        let record = records
            .get_opt("team.example.com")
            .await
            .map_err(|e| fed.hub.kube_error(e))?;
        Ok(record.filter(|r| r.spec.endpoints.len() == 2))
    })
    .await;
    let health: Vec<(&str, bool)> = record
        .spec
        .endpoints
        .iter()
        .map(|e| (e.cluster_name.as_str(), e.hub_healthy))
        .collect();
    assert_eq!(health, [("member-a", true), ("member-b", false)]);
    let attached =
        |gateway: &DynamicObject| gateway.data["status"]["attachedListenerSets"].as_i64();
    let hub_gateway = crate::gateways(&hub, "web")
        .get("shop")
        .await
        .expect("the hub Gateway");
    assert_eq!(attached(&hub_gateway), Some(0), "not Accepted in member-b");

    // member-b takes the set after all: the set is attached to the hub
    // Gateway, and member-b serves its hostname.
    let b = &fed.member("member-b").cluster;
    let b_sets = Api::<DynamicObject>::namespaced_with(b.client(), "team", &listener_sets());
    implementation_reports(&b_sets, "team", json!({
        "conditions": [reported("Accepted", true, "Accepted", ""),
                       reported("Programmed", true, "Programmed", "")],
        "listeners": [{"name": "https", "attachedRoutes": 1,
                       "supportedKinds": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}],
                       "conditions": [reported("Accepted", true, "Accepted", ""),
                                      reported("ResolvedRefs", true, "ResolvedRefs", ""),
                                      reported("Programmed", true, "Programmed", "")]}],
    }))
    .await;
    implementation_reports(&http_routes(&b.client(), "team"), "app", json!({"parents": [{
        "parentRef": {"group": "gateway.networking.k8s.io", "kind": "ListenerSet", "name": "team",
                      "sectionName": "https"},
        "controllerName": "example.com/gateway",
        "conditions": [reported("Accepted", true, "Accepted", ""),
                       reported("ResolvedRefs", true, "ResolvedRefs", "")],
    }]}))
    .await;
    eventually("the hub Gateway to count the set", 30, || async {
        let gateway = crate::gateways(&hub, "web")
            .get("shop")
            .await
            .map_err(|e| fed.hub.kube_error(e))?;
        Ok((attached(&gateway) == Some(1)).then_some(()))
    })
    .await;
    eventually("member-b up for team.example.com", 30, || async {
        let record = records
            .get("team.example.com")
            .await
            .map_err(|e| fed.hub.kube_error(e))?;
        Ok(record
            .spec
            .endpoints
            .iter()
            .all(|e| e.hub_healthy)
            .then_some(()))
    })
    .await;
}
