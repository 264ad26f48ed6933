//! Define once, run everywhere: placement, class mapping, routes, lossless
//! copies, status from members back in the hub, updates and deletion.

use fedway_e2e::pki::ADMIN_USER;
use kube::ResourceExt;
use serde_json::{Value, json};

use crate::{
    AGENT_USER, Federation, apply, condition, eventually, gateways, http_routes,
    implementation_reports, namespace,
};

fn gateway() -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "shop", "namespace": "web", "annotations": {"example.com/owner": "team-web"}},
        "spec": {
            "gatewayClassName": "fedway",
            // Fields Fedway never reads: they must reach members unchanged.
            "infrastructure": {"labels": {"cost-center": "42"}},
            "listeners": [{
                "name": "http", "port": 80, "protocol": "HTTP", "hostname": "shop.example.com",
                "allowedRoutes": {"namespaces": {"from": "All"}, "kinds": [{"kind": "HTTPRoute"}]},
            }],
        },
    })
}

fn route(name: &str, parent: &str, path: &str) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": "web"},
        "spec": {
            "parentRefs": [{"name": parent}],
            "rules": [{
                "matches": [{"path": {"type": "PathPrefix", "value": path}}],
                "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": [{"name": "x-fedway", "value": "1"}]}}],
                "backendRefs": [{"name": name, "port": 8080}],
                "timeouts": {"request": "10s"},
            }],
        },
    })
}

#[tokio::test]
async fn gateway_and_routes_defined_once_run_in_every_chosen_member() {
    let fed = Federation::start(&[
        ("member-a", &[("topology.kubernetes.io/region", "eu-west")]),
        ("member-b", &[("topology.kubernetes.io/region", "us-east")]),
    ])
    .await;
    let hub = fed.hub.client();
    let a = fed.member("member-a").cluster.client();
    let b = fed.member("member-b").cluster.client();

    // member-a has its own implementation: its class is detected and used.
    apply(&a, json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
                     "metadata": {"name": "native"}, "spec": {"controllerName": "example.com/native-gateway"}}))
    .await;
    let classes = crate::resource("GatewayClass", "v1", "gatewayclasses");
    let classes = kube::Api::<kube::api::DynamicObject>::all_with(a.clone(), &classes);
    implementation_reports(&classes, "native", class_status(true)).await;
    native_reported(&fed, "member-a", "accepted", |c| c.accepted).await;

    namespace(&hub, "web").await;
    // The policy first, as a user would: the Gateway is then placed by it
    // from the start.
    apply(
        &hub,
        json!({
            "apiVersion": "fedway.dev/v1alpha1", "kind": "PlacementPolicy",
            "metadata": {"name": "shop", "namespace": "web"},
            "spec": {
                "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shop"}],
                "clusterSelector": {"matchExpressions": [{"key": "topology.kubernetes.io/region", "operator": "In", "values": ["eu-west", "us-east"]}]},
                "classMapping": [{"clusterNames": ["member-b"], "gatewayClassName": "mapped-b"}],
            },
        }),
    )
    .await;
    apply(&hub, gateway()).await;
    apply(&hub, route("cart", "shop", "/cart")).await;
    apply(&hub, route("search", "shop", "/search")).await;
    apply(&hub, route("elsewhere", "not-fedway", "/x")).await;

    // Both members hold the Gateway with their class, and both routes.
    for (member, client, class) in [("member-a", &a, "native"), ("member-b", &b, "mapped-b")] {
        let copy = shop_copy_with_class(client, member, class).await;
        assert_eq!(copy.data["spec"]["gatewayClassName"], class, "{member}");
        // As stored in the hub (with the hub's defaults), not as re-typed.
        let hub_spec = gateways(&hub, "web")
            .get("shop")
            .await
            .expect("hub Gateway")
            .data["spec"]
            .clone();
        assert_eq!(
            copy.data["spec"]["infrastructure"],
            json!({"labels": {"cost-center": "42"}}),
            "{member}: fields Fedway never reads arrive"
        );
        assert_eq!(
            copy.data["spec"]["listeners"], hub_spec["listeners"],
            "{member}"
        );
        assert_eq!(
            copy.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("example.com/owner"))
                .map(String::as_str),
            Some("team-web")
        );
        for name in ["cart", "search"] {
            let route = eventually(&format!("HTTPRoute web/{name} in {member}"), 30, || async {
                Ok(http_routes(client, "web")
                    .get_opt(name)
                    .await
                    .ok()
                    .flatten())
            })
            .await;
            let original = http_routes(&hub, "web").get(name).await.expect("hub route");
            assert_eq!(
                route.data["spec"]["rules"], original.data["spec"]["rules"],
                "{member}/{name}: rules arrive unchanged"
            );
            assert_eq!(
                route.data["spec"]["rules"][0]["timeouts"],
                json!({"request": "10s"})
            );
            assert_eq!(
                route.data["spec"]["parentRefs"],
                json!([{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shop"}])
            );
        }
        assert!(
            http_routes(client, "web")
                .get_opt("elsewhere")
                .await
                .expect("list")
                .is_none(),
            "{member}: unattached route not placed"
        );
    }

    // The hub accepts its own GatewayClass.
    let hub_classes = kube::Api::<kube::api::DynamicObject>::all_with(
        hub.clone(),
        &crate::resource("GatewayClass", "v1", "gatewayclasses"),
    );
    eventually("the fedway GatewayClass to be Accepted", 30, || async {
        let class = hub_classes
            .get("fedway")
            .await
            .map_err(|e| fed.hub.kube_error(e))?;
        Ok(condition(&class.data, "Accepted")
            .filter(|c| c["status"] == "True")
            .map(drop))
    })
    .await;

    // The hub says where it is placed, and that nothing is programmed yet.
    let hub_gateways = gateways(&hub, "web");
    let accepted = eventually("the hub Gateway to be Accepted", 30, || async {
        let gw = hub_gateways
            .get("shop")
            .await
            .map_err(|e| fed.hub.kube_error(e))?;
        Ok(condition(&gw.data, "Accepted")
            .filter(|c| c["status"] == "True")
            .cloned())
    })
    .await;
    assert_eq!(
        accepted["message"],
        "accepted; placed in member-a (native), member-b (mapped-b)"
    );

    // Each member's implementation programs its copy: the hub sees it.
    for (client, address) in [(&a, "127.20.1.10"), (&b, "127.20.2.10")] {
        implementation_reports(&gateways(client, "web"), "shop", json!({
            "addresses": [{"type": "IPAddress", "value": address}],
            "conditions": [
                {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "Programmed", "status": "True", "reason": "Programmed", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"},
            ],
        }))
        .await;
    }
    let hub_gateway = eventually("the hub Gateway to be Programmed in both", 30, || async {
        let gw = hub_gateways
            .get("shop")
            .await
            .map_err(|e| fed.hub.kube_error(e))?;
        Ok(condition(&gw.data, "Programmed")
            .filter(|c| c["status"] == "True")
            .map(|_| gw.clone()))
    })
    .await;
    assert_eq!(
        condition(&hub_gateway.data, "Programmed").expect("Programmed")["message"],
        "programmed in 2 of 2 members: member-a, member-b"
    );
    assert_eq!(
        hub_gateway.data["status"]["addresses"],
        json!([{"type": "IPAddress", "value": "127.20.1.10"}, {"type": "IPAddress", "value": "127.20.2.10"}])
    );

    // The transition is an Event on the hub Gateway.
    let events: kube::Api<k8s_openapi::api::events::v1::Event> =
        kube::Api::namespaced(hub.clone(), "web");
    eventually("an Event for the Programmed transition", 10, || async {
        let list = events
            .list(&Default::default())
            .await
            .map_err(|e| fed.hub.kube_error(e))?;
        Ok(list.items.into_iter().find(|e| {
            e.reason.as_deref() == Some("Programmed")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("shop")
        }))
    })
    .await;

    // Each member's implementation accepts the routes: the hub route's
    // parent status (controller fedway.dev/hub) says so for both.
    for client in [&a, &b] {
        for name in ["cart", "search"] {
            implementation_reports(&http_routes(client, "web"), name, json!({"parents": [{
                "parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shop"},
                "controllerName": "example.com/native-gateway",
                "conditions": [
                    {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                    {"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                ],
            }]}))
            .await;
        }
    }
    for name in ["cart", "search"] {
        let parent = eventually(
            &format!("hub route {name} Accepted in both members"),
            30,
            || async {
                let route = http_routes(&hub, "web")
                    .get(name)
                    .await
                    .map_err(|e| fed.hub.kube_error(e))?;
                let parent = route.data["status"]["parents"].as_array().and_then(|ps| {
                    ps.iter()
                        .find(|p| p["controllerName"] == "fedway.dev/hub")
                        .cloned()
                });
                Ok(parent.filter(|p| {
                    p["conditions"].as_array().is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c["type"] == "Accepted" && c["status"] == "True")
                    })
                }))
            },
        )
        .await;
        assert_eq!(
            parent["parentRef"],
            json!({"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "web", "name": "shop"})
        );
        let accepted = parent["conditions"]
            .as_array()
            .expect("conditions")
            .iter()
            .find(|c| c["type"] == "Accepted")
            .expect("Accepted")
            .clone();
        assert_eq!(accepted["message"], "Accepted in member-a, member-b");
    }

    // The PlacementPolicy lists its decisions.
    let policy = kube::Api::<fedway_crds::PlacementPolicy>::namespaced(hub.clone(), "web")
        .get("shop")
        .await
        .expect("policy");
    let decisions: Vec<(String, String)> = policy
        .status
        .expect("policy status")
        .decisions
        .into_iter()
        .map(|d| (d.cluster_name, d.gateway_class_name))
        .collect();
    assert_eq!(
        decisions,
        [
            ("member-a".into(), "native".into()),
            ("member-b".into(), "mapped-b".into())
        ]
    );

    // A change to a route in the hub reaches both members.
    apply(&hub, route("cart", "shop", "/basket")).await;
    for client in [&a, &b] {
        eventually("the changed route in the member", 30, || async {
            let r = http_routes(client, "web")
                .get("cart")
                .await
                .map_err(|e| fed.hub.kube_error(e))?;
            Ok(
                (r.data["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/basket")
                    .then_some(()),
            )
        })
        .await;
    }

    // A route deleted in the hub leaves its Work and is pruned in members;
    // the other route stays.
    http_routes(&hub, "web")
        .delete("search", &Default::default())
        .await
        .expect("deleting a route");
    for client in [&a, &b] {
        eventually("the deleted route to be pruned", 30, || async {
            let gone = http_routes(client, "web")
                .get_opt("search")
                .await
                .ok()
                .flatten()
                .is_none();
            let kept = http_routes(client, "web")
                .get_opt("cart")
                .await
                .ok()
                .flatten()
                .is_some();
            Ok((gone && kept).then_some(()))
        })
        .await;
    }

    // Deleting the Gateway cleans the members.
    hub_gateways
        .delete("shop", &Default::default())
        .await
        .expect("delete");
    for client in [&a, &b] {
        eventually("the member's copies to be deleted", 30, || async {
            let gone = gateways(client, "web")
                .get_opt("shop")
                .await
                .ok()
                .flatten()
                .is_none()
                && http_routes(client, "web")
                    .get_opt("cart")
                    .await
                    .ok()
                    .flatten()
                    .is_none()
                && http_routes(client, "web")
                    .get_opt("search")
                    .await
                    .ok()
                    .flatten()
                    .is_none();
            Ok(gone.then_some(()))
        })
        .await;
    }
    eventually(
        "the hub Gateway to be gone (finalizer done)",
        30,
        || async {
            Ok(hub_gateways
                .get_opt("shop")
                .await
                .ok()
                .flatten()
                .is_none()
                .then_some(()))
        },
    )
    .await;
}

#[tokio::test]
async fn orphan_deletion_policy_leaves_the_member_copy_running_unmanaged() {
    let fed = Federation::start(&[("member-a", &[])]).await;
    let hub = fed.hub.client();
    let a = fed.member("member-a").cluster.client();
    namespace(&hub, "web").await;
    apply(
        &hub,
        json!({
            "apiVersion": "fedway.dev/v1alpha1", "kind": "PlacementPolicy",
            "metadata": {"name": "shop", "namespace": "web"},
            "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shop"}],
                     "deletionPolicy": "Orphan"},
        }),
    )
    .await;
    apply(&hub, gateway()).await;
    eventually("Gateway web/shop in member-a", 30, || async {
        Ok(gateways(&a, "web").get_opt("shop").await.ok().flatten())
    })
    .await;

    gateways(&hub, "web")
        .delete("shop", &Default::default())
        .await
        .expect("delete");
    let released = eventually("the member's copy to be released", 30, || async {
        let copy = gateways(&a, "web").get_opt("shop").await.ok().flatten();
        Ok(copy.filter(|c| !c.labels().contains_key("fedway.dev/managed-by")))
    })
    .await;
    assert!(
        !released
            .annotations()
            .keys()
            .any(|k| k.starts_with("fedway.dev/")),
        "no Fedway markers are left: {:?}",
        released.annotations()
    );
    assert_eq!(
        released.data["spec"]["listeners"][0]["hostname"], "shop.example.com",
        "it still runs as it was"
    );
    assert!(
        fed.work("member-a", "web.shop").await.is_none(),
        "its Work is gone"
    );
}

/// Waits until the hub's MemberCluster `member` reports its class
/// `native` as `want` says (`what` says it to a person).
async fn native_reported(
    fed: &Federation,
    member: &str,
    what: &str,
    want: impl Fn(&fedway_crds::member_cluster::DiscoveredGatewayClass) -> bool,
) {
    let hub = fed.hub.client();
    eventually(
        &format!("{member} to report its native class {what}"),
        30,
        || async {
            let status = kube::Api::<fedway_crds::MemberCluster>::all(hub.clone())
                .get(member)
                .await
                .map_err(|e| fed.hub.kube_error(e))?
                .status;
            Ok(status
                .filter(|s| {
                    s.gateway_classes
                        .iter()
                        .any(|c| c.name == "native" && want(c))
                })
                .map(drop))
        },
    )
    .await;
}

/// `status` for a member's GatewayClass, as its implementation writes it.
fn class_status(accepted: bool) -> Value {
    let (status, reason) = if accepted {
        ("True", "Accepted")
    } else {
        ("False", "Pending")
    };
    json!({"conditions": [{"type": "Accepted", "status": status, "reason": reason, "message": "",
                           "lastTransitionTime": "2026-01-01T00:00:00Z"}]})
}

#[tokio::test]
async fn a_class_flap_keeps_the_member_class_and_a_class_change_releases_the_gateway() {
    let fed = Federation::start(&[("member-a", &[])]).await;
    let hub = fed.hub.client();
    let a = fed.member("member-a").cluster.client();
    let member_classes = kube::Api::<kube::api::DynamicObject>::all_with(
        a.clone(),
        &crate::resource("GatewayClass", "v1", "gatewayclasses"),
    );
    apply(&a, json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
                     "metadata": {"name": "native"}, "spec": {"controllerName": "example.com/native-gateway"}}))
    .await;
    implementation_reports(&member_classes, "native", class_status(true)).await;
    native_reported(&fed, "member-a", "accepted", |c| c.accepted).await;

    namespace(&hub, "web").await;
    apply(&hub, gateway()).await;
    apply(&hub, route("cart", "shop", "/cart")).await;
    shop_copy_with_class(&a, "member-a", "native").await;
    let copy_uid = gateways(&a, "web").get("shop").await.expect("copy").uid();

    // The native implementation restarts: its class is not accepted for a
    // while. The member's Gateway stays with it (not moved to fedway-proxy
    // and back, which would tear down and rebuild its data plane).
    implementation_reports(&member_classes, "native", class_status(false)).await;
    native_reported(&fed, "member-a", "not accepted", |c| !c.accepted).await;
    // The MemberCluster change reconciles the Gateway at once; give that
    // pass time to write whatever it would.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let work = fed.work("member-a", "web.shop").await.expect("its Work");
    assert_eq!(work.spec.gateway_class(), Some("native"));
    let copy = gateways(&a, "web").get("shop").await.expect("copy");
    assert_eq!(copy.data["spec"]["gatewayClassName"], "native");
    assert_eq!(copy.uid(), copy_uid, "the same object, never recreated");
    let accepted = gateways(&hub, "web")
        .get("shop")
        .await
        .expect("hub Gateway");
    assert_eq!(
        condition(&accepted.data, "Accepted").expect("Accepted")["message"],
        "accepted; placed in member-a (native)"
    );
    implementation_reports(&member_classes, "native", class_status(true)).await;
    native_reported(&fed, "member-a", "accepted", |c| c.accepted).await;

    // The hub route's parent entry, before the class change.
    eventually("the hub's entry in route cart's status", 30, || async {
        let route = http_routes(&hub, "web")
            .get("cart")
            .await
            .map_err(|e| fed.hub.kube_error(e))?;
        Ok(route.data["status"]["parents"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["controllerName"] == "fedway.dev/hub"))
            .then_some(()))
    })
    .await;

    // The Gateway moves to another implementation's class in the hub: the
    // hub lets go of it. Its Work goes, the member's copies go (deletion
    // policy Delete), the hub's entry in the route's status and its
    // finalizer go, and the Gateway itself stays.
    apply(&hub, json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
                       "metadata": {"name": "other"}, "spec": {"controllerName": "example.com/other"}}))
    .await;
    let mut moved = gateway();
    moved["spec"]["gatewayClassName"] = "other".into();
    apply(&hub, moved).await;
    eventually("the member's copies to be deleted", 30, || async {
        let gone = gateways(&a, "web")
            .get_opt("shop")
            .await
            .ok()
            .flatten()
            .is_none()
            && http_routes(&a, "web")
                .get_opt("cart")
                .await
                .ok()
                .flatten()
                .is_none();
        Ok(gone.then_some(()))
    })
    .await;
    assert!(
        fed.work("member-a", "web.shop").await.is_none(),
        "its Work is gone"
    );
    let released = eventually("the hub Gateway released", 30, || async {
        let gateway = gateways(&hub, "web")
            .get("shop")
            .await
            .map_err(|e| fed.hub.kube_error(e))?;
        Ok(gateway.finalizers().is_empty().then_some(gateway))
    })
    .await;
    assert_eq!(released.data["spec"]["gatewayClassName"], "other");
    let route = http_routes(&hub, "web").get("cart").await.expect("route");
    assert!(
        !route.data["status"]["parents"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["controllerName"] == "fedway.dev/hub")),
        "the hub's route entry is gone: {}",
        route.data["status"]
    );
    // From then on the hub writes nothing of that Gateway: a change to it
    // is another controller's business.
    let before = hub_gateway_writes(&fed);
    let mut changed = gateway();
    changed["spec"]["gatewayClassName"] = "other".into();
    changed["spec"]["listeners"][0]["hostname"] = "www.example.com".into();
    apply(&hub, changed).await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(
        hub_gateway_writes(&fed),
        before,
        "no hub writes to web/shop"
    );
    assert!(
        fed.work("member-a", "web.shop").await.is_none(),
        "nor a Work"
    );
}

/// The hub controller's writes to Gateway web/shop and its status.
fn hub_gateway_writes(fed: &Federation) -> Vec<(String, String)> {
    fed.hub
        .audited_writes_by(ADMIN_USER)
        .expect("hub audit log")
        .into_iter()
        // The test's own applies name their field manager.
        .filter(|(_, uri)| {
            uri.contains("/namespaces/web/gateways/shop")
                && !uri.contains("fieldManager=fedway-e2e")
        })
        .collect()
}

#[tokio::test]
async fn a_route_of_two_gateways_is_one_merged_object_in_a_member_that_runs_both() {
    let fed = Federation::start(&[("member-a", &[])]).await;
    let hub = fed.hub.client();
    let a = fed.member("member-a").cluster.client();
    namespace(&hub, "web").await;
    let mut blog = gateway();
    blog["metadata"]["name"] = "blog".into();
    blog["spec"]["listeners"][0]["hostname"] = "blog.example.com".into();
    apply(&hub, gateway()).await;
    apply(&hub, blog).await;
    let mut shared = route("cart", "shop", "/cart");
    shared["spec"]["parentRefs"] = json!([{"name": "shop"}, {"name": "blog"}]);
    apply(&hub, shared).await;

    // One route in the member, attached to both copies, that both Works
    // name: each Work carries it narrowed to its own Gateway.
    let parents = json!([
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "blog"},
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shop"},
    ]);
    let merged = eventually("route cart in member-a with both parents", 30, || async {
        let route = http_routes(&a, "web").get_opt("cart").await.ok().flatten();
        Ok(route.filter(|r| r.data["spec"]["parentRefs"] == parents))
    })
    .await;
    assert_eq!(
        merged
            .annotations()
            .get("fedway.dev/work")
            .map(String::as_str),
        Some("web.blog,web.shop")
    );
    // Both Works' passes want the same object: it is not rewritten in
    // turn (each Work's status change and the member watch trigger passes).
    let route_writes = || {
        fed.member("member-a")
            .cluster
            .audited_writes_by(AGENT_USER)
            .expect("audit log")
            .into_iter()
            .filter(|(_, uri)| uri.contains("/httproutes/cart"))
            .count()
    };
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let settled = route_writes();
    implementation_reports(&http_routes(&a, "web"), "cart", json!({"parents": [{
        "parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shop"},
        "controllerName": "example.com/native-gateway",
        "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "",
                        "lastTransitionTime": "2026-01-01T00:00:00Z"}],
    }]}))
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert_eq!(route_writes(), settled, "the shared route is left alone");
    for work in ["web.blog", "web.shop"] {
        let work = fed.work("member-a", work).await.expect("the Work");
        let applied = work
            .status
            .iter()
            .flat_map(|s| &s.manifests)
            .find(|m| m.identity.kind == "HTTPRoute")
            .and_then(|m| m.conditions.iter().find(|c| c.type_ == "Applied"))
            .map(|c| c.status.clone());
        assert_eq!(applied.as_deref(), Some("True"), "{:?}", work.metadata.name);
    }

    // One Gateway goes: the route stays for the other, without the parent
    // that went.
    gateways(&hub, "web")
        .delete("blog", &Default::default())
        .await
        .expect("delete");
    let shop_only =
        json!([{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shop"}]);
    let kept = eventually("route cart in member-a for shop only", 30, || async {
        let route = http_routes(&a, "web").get_opt("cart").await.ok().flatten();
        Ok(route.filter(|r| r.data["spec"]["parentRefs"] == shop_only))
    })
    .await;
    assert_eq!(
        kept.annotations()
            .get("fedway.dev/work")
            .map(String::as_str),
        Some("web.shop")
    );
    assert_eq!(kept.uid(), merged.uid(), "the same object, never recreated");

    // The last one goes: so does the route.
    gateways(&hub, "web")
        .delete("shop", &Default::default())
        .await
        .expect("delete");
    eventually("route cart gone from member-a", 30, || async {
        let route = http_routes(&a, "web").get_opt("cart").await.ok().flatten();
        Ok(route.is_none().then_some(()))
    })
    .await;
}

#[tokio::test]
async fn tls_tcp_and_udp_routes_reach_members_and_their_status_comes_back() {
    let fed = Federation::start(&[("member-a", &[]), ("member-b", &[])]).await;
    let hub = fed.hub.client();
    namespace(&hub, "web").await;
    apply(
        &hub,
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "edge", "namespace": "web"},
            "spec": {"gatewayClassName": "fedway", "listeners": [
                {"name": "tls", "port": 443, "protocol": "TLS", "hostname": "db.example.com",
                 "tls": {"mode": "Passthrough"}},
                {"name": "tcp", "port": 5432, "protocol": "TCP"},
                {"name": "udp", "port": 5353, "protocol": "UDP"},
            ]},
        }),
    )
    .await;
    let kinds = [
        ("TLSRoute", "tlsroutes", "tls"),
        ("TCPRoute", "tcproutes", "tcp"),
        ("UDPRoute", "udproutes", "udp"),
    ];
    for (kind, _, section) in kinds {
        let mut spec = json!({
            "parentRefs": [{"name": "edge", "sectionName": section}],
            "rules": [{"backendRefs": [{"name": "db", "port": 5432}]}],
        });
        if kind == "TLSRoute" {
            spec["hostnames"] = json!(["db.example.com"]);
        }
        apply(
            &hub,
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": kind,
                   "metadata": {"name": section, "namespace": "web"}, "spec": spec}),
        )
        .await;
    }

    // Each route reaches both members, as written in the hub. Each
    // member's implementation (played here) accepts it; member-b's cannot
    // resolve the UDP backend.
    for (member, client) in [
        ("member-a", fed.member("member-a").cluster.client()),
        ("member-b", fed.member("member-b").cluster.client()),
    ] {
        for (kind, plural, section) in kinds {
            let api = kube::Api::<kube::api::DynamicObject>::namespaced_with(
                client.clone(),
                "web",
                &crate::resource(kind, "v1", plural),
            );
            let copy = eventually(&format!("{kind} web/{section} in {member}"), 30, || async {
                Ok(api.get_opt(section).await.ok().flatten())
            })
            .await;
            assert_eq!(
                copy.data["spec"]["parentRefs"][0]["sectionName"], section,
                "{member}"
            );
            let resolved = if member == "member-b" && kind == "UDPRoute" {
                json!({"type": "ResolvedRefs", "status": "False", "reason": "BackendNotFound",
                       "message": "service web/db not found", "lastTransitionTime": "2026-01-01T00:00:00Z"})
            } else {
                json!({"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs",
                       "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"})
            };
            implementation_reports(&api, section, json!({"parents": [{
                "parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "edge",
                              "sectionName": section},
                "controllerName": "example.com/l4-gateway",
                "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "",
                                "lastTransitionTime": "2026-01-01T00:00:00Z"}, resolved],
            }]}))
            .await;
        }
    }

    // The hub routes' status says so, per parentRef (section kept) and per
    // member.
    for (kind, plural, section) in kinds {
        let api = kube::Api::<kube::api::DynamicObject>::namespaced_with(
            hub.clone(),
            "web",
            &crate::resource(kind, "v1", plural),
        );
        let parent = eventually(
            &format!("hub {kind} {section} Accepted in both members"),
            30,
            || async {
                let route = api.get(section).await.map_err(|e| fed.hub.kube_error(e))?;
                let parent = route.data["status"]["parents"].as_array().and_then(|ps| {
                    ps.iter()
                        .find(|p| p["controllerName"] == "fedway.dev/hub")
                        .cloned()
                });
                Ok(parent.filter(|p| {
                    condition_in(p, "Accepted").is_some_and(|c| c["status"] == "True")
                        && condition_in(p, "ResolvedRefs").is_some()
                }))
            },
        )
        .await;
        assert_eq!(
            parent["parentRef"],
            json!({"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "web",
                   "name": "edge", "sectionName": section})
        );
        let resolved = condition_in(&parent, "ResolvedRefs").expect("ResolvedRefs");
        if kind == "UDPRoute" {
            assert_eq!(resolved["status"], "False", "{resolved}");
            assert_eq!(resolved["reason"], "BackendNotFound");
            assert!(
                resolved["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("member-b")),
                "{resolved}"
            );
        } else {
            assert_eq!(resolved["status"], "True", "{kind}: {resolved}");
        }
    }

    // The hub Gateway's listeners list the kinds each protocol federates.
    let listeners = eventually("the hub Gateway's listener status", 30, || async {
        let gateway = gateways(&hub, "web")
            .get("edge")
            .await
            .map_err(|e| fed.hub.kube_error(e))?;
        Ok(gateway.data["status"]["listeners"]
            .as_array()
            .filter(|l| l.len() == 3)
            .cloned())
    })
    .await;
    for (listener, kind) in listeners.iter().zip(["TLSRoute", "TCPRoute", "UDPRoute"]) {
        assert_eq!(
            listener["supportedKinds"],
            json!([{"group": "gateway.networking.k8s.io", "kind": kind}]),
            "{listener}"
        );
    }
}

/// The condition `type_` of a route parent entry.
fn condition_in<'a>(parent: &'a Value, type_: &str) -> Option<&'a Value> {
    parent["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

#[tokio::test]
async fn a_route_using_a_feature_a_member_lacks_is_skipped_or_falls_back_there_as_the_policy_says()
{
    let fed = Federation::start(&[("member-a", &[]), ("member-b", &[])]).await;
    let hub = fed.hub.client();
    // Each member's implementation says what it supports (played here):
    // member-a's lacks request timeouts, member-b's says nothing.
    for (member, features) in [
        (
            "member-a",
            json!([{"name": "Gateway"}, {"name": "HTTPRoute"}]),
        ),
        ("member-b", json!([])),
    ] {
        let client = fed.member(member).cluster.client();
        apply(&client, json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
                              "metadata": {"name": "native"}, "spec": {"controllerName": "example.com/native-gateway"}}))
        .await;
        let mut status = class_status(true);
        status["supportedFeatures"] = features;
        implementation_reports(
            &kube::Api::all_with(
                client,
                &crate::resource("GatewayClass", "v1", "gatewayclasses"),
            ),
            "native",
            status,
        )
        .await;
    }
    native_reported(&fed, "member-a", "with its features", |c| {
        c.supported_features == ["Gateway", "HTTPRoute"]
    })
    .await;

    namespace(&hub, "web").await;
    let policy = |action: &str| {
        json!({
            "apiVersion": "fedway.dev/v1alpha1", "kind": "PlacementPolicy",
            "metadata": {"name": "shop", "namespace": "web"},
            "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shop"}],
                     "unsupportedFeatures": action},
        })
    };
    apply(&hub, policy("Skip")).await;
    apply(&hub, gateway()).await;
    // `route` sets a request timeout (HTTPRouteRequestTimeout).
    apply(&hub, route("cart", "shop", "/cart")).await;

    // Skip: member-a runs the Gateway without the route, and its Work says
    // why; member-b (which does not say) gets it.
    let a = fed.member("member-a").cluster.client();
    let b = fed.member("member-b").cluster.client();
    eventually("route cart in member-b", 30, || async {
        Ok(http_routes(&b, "web").get_opt("cart").await.ok().flatten())
    })
    .await;
    let work = eventually("member-a's Work withholding cart", 30, || async {
        Ok(fed
            .work("member-a", "web.shop")
            .await
            .filter(|w| !w.spec.withheld.is_empty()))
    })
    .await;
    assert_eq!(work.spec.withheld[0].identity.name, "cart");
    assert_eq!(
        work.spec.withheld[0].reason,
        "native lacks HTTPRouteRequestTimeout"
    );
    assert!(
        work.spec
            .manifests
            .iter()
            .all(|m| m.0["kind"] != "HTTPRoute"),
        "no route in member-a's Work"
    );
    shop_copy_with_class(&a, "member-a", "native").await;
    assert!(
        http_routes(&a, "web")
            .get_opt("cart")
            .await
            .expect("get")
            .is_none()
    );
    let condition = features_condition(
        &fed,
        "member-a (native) lacks HTTPRouteRequestTimeout: not placed there",
    )
    .await;
    assert_eq!(condition["reason"], "UnsupportedFeatures");

    // Fallback where fedway-proxy does not run: moving would break what
    // the native class serves, so member-a keeps it, and the hub says why.
    apply(&hub, policy("Fallback")).await;
    features_condition(
        &fed,
        "member-a (native) lacks HTTPRouteRequestTimeout: placed there anyway (fedway-proxy is not running there)",
    )
    .await;
    shop_copy_with_class(&a, "member-a", "native").await;

    // fedway-proxy starts in member-a (played: its class, accepted, with the
    // feature): member-a's Gateway moves there, with the route.
    apply(&a, json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
                     "metadata": {"name": "fedway-proxy"}, "spec": {"controllerName": "fedway.dev/lb-proxy"}}))
    .await;
    let mut status = class_status(true);
    status["supportedFeatures"] = json!([{"name": "Gateway"}, {"name": "HTTPRoute"},
                                         {"name": "HTTPRouteRequestTimeout"}]);
    implementation_reports(
        &kube::Api::all_with(
            a.clone(),
            &crate::resource("GatewayClass", "v1", "gatewayclasses"),
        ),
        "fedway-proxy",
        status,
    )
    .await;
    eventually(
        "member-a's Gateway on fedway-proxy with route cart",
        30,
        || async {
            let on_proxy = gateways(&a, "web")
                .get_opt("shop")
                .await
                .ok()
                .flatten()
                .is_some_and(|g| g.data["spec"]["gatewayClassName"] == "fedway-proxy");
            let route = http_routes(&a, "web").get_opt("cart").await.ok().flatten();
            Ok(route.filter(|_| on_proxy))
        },
    )
    .await;
    features_condition(
        &fed,
        "member-a (native) lacks HTTPRouteRequestTimeout: placed there on fedway-proxy",
    )
    .await;
    assert_eq!(
        gateways(&b, "web").get("shop").await.expect("copy").data["spec"]["gatewayClassName"],
        "native",
        "member-b keeps its class"
    );
}

/// Waits until the hub route web/cart's `fedway.dev/FeaturesSupported` is
/// False with `message`; returns the condition.
async fn features_condition(fed: &Federation, message: &str) -> Value {
    let hub = fed.hub.client();
    eventually(
        &format!("route cart's FeaturesSupported: {message}"),
        30,
        || async {
            let route = http_routes(&hub, "web")
                .get("cart")
                .await
                .map_err(|e| fed.hub.kube_error(e))?;
            Ok(route.data["status"]["parents"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["controllerName"] == "fedway.dev/hub"))
                .and_then(|p| condition_in(p, "fedway.dev/FeaturesSupported"))
                .filter(|c| c["status"] == "False" && c["message"] == message)
                .cloned())
        },
    )
    .await
}

/// Waits until `member` (its client) holds Gateway web/shop with `class`;
/// returns the copy.
async fn shop_copy_with_class(
    client: &kube::Client,
    member: &str,
    class: &str,
) -> kube::api::DynamicObject {
    eventually(
        &format!("Gateway web/shop in {member} with class {class}"),
        30,
        || async {
            let copy = gateways(client, "web").get_opt("shop").await.ok().flatten();
            Ok(copy.filter(|c| c.data["spec"]["gatewayClassName"] == class))
        },
    )
    .await
}
