//! What Fedway refuses to do: revert drift silently left in place, adopt
//! objects that are not its own, let one member's agent touch another's
//! namespace, or place an invalid Gateway.

use fedway_crds::work::condition as work_condition;
use kube::{
    Api,
    api::{ListParams, Patch, PatchParams},
};
use serde_json::{Value, json};

use crate::{Federation, apply, condition, eventually, gateways, http_routes, namespace};

fn gateway(hostname: &str) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "shop", "namespace": "web"},
        "spec": {"gatewayClassName": "fedway",
                 "listeners": [{"name": "http", "port": 80, "protocol": "HTTP", "hostname": hostname}]},
    })
}

fn route(path: &str) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "cart", "namespace": "web"},
        "spec": {"parentRefs": [{"name": "shop"}],
                 "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": path}}], "backendRefs": [{"name": "cart", "port": 80}]}]},
    })
}

#[tokio::test]
async fn drift_is_reverted_and_foreign_objects_are_never_adopted() {
    let fed = Federation::start(&[("member-a", &[]), ("member-b", &[])]).await;
    let hub = fed.hub.client();
    let a = fed.member("member-a").cluster.client();
    let b = fed.member("member-b").cluster.client();

    // member-b already has an HTTPRoute web/cart that is not Fedway's.
    namespace(&b, "web").await;
    let theirs = apply(&b, route("/theirs")).await;

    namespace(&hub, "web").await;
    apply(&hub, gateway("shop.example.com")).await;
    apply(&hub, route("/ours")).await;

    // member-a: applied. Drift in a Fedway-managed field is put back.
    let member_gateways = gateways(&a, "web");
    eventually("Gateway web/shop in member-a", 30, || async {
        Ok(member_gateways.get_opt("shop").await.ok().flatten())
    })
    .await;
    member_gateways
        .patch(
            "shop",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"listeners": [{"name": "http", "port": 8081, "protocol": "HTTP", "hostname": "drift.example.com"}]}})),
        )
        .await
        .expect("editing the member's copy by hand");
    let started = std::time::Instant::now();
    eventually("the drift to be reverted", 15, || async {
        let gw = member_gateways
            .get("shop")
            .await
            .map_err(|e| fed.hub.kube_error(e))?;
        let listener = &gw.data["spec"]["listeners"][0];
        Ok((listener["port"] == 80 && listener["hostname"] == "shop.example.com").then_some(()))
    })
    .await;
    println!("drift reverted in {:?}", started.elapsed());

    // member-b: the foreign route is a Conflict that names it, and is untouched.
    let work = eventually("member-b's Work to report a Conflict", 30, || async {
        let work = fed.work("member-b", "web.shop").await;
        Ok(work.filter(|w| {
            w.status.as_ref().is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == work_condition::APPLIED && c.reason == "Conflict")
            })
        }))
    })
    .await;
    let applied = &work.status.as_ref().expect("status").conditions[0];
    assert!(
        applied.message.contains("HTTPRoute web/cart"),
        "{}",
        applied.message
    );
    assert!(
        applied
            .message
            .contains("differs at spec.rules[0].matches[0].path.value"),
        "{}",
        applied.message
    );
    assert!(applied.message.contains("IfNoDiff"), "{}", applied.message);
    let still_theirs = http_routes(&b, "web")
        .get("cart")
        .await
        .expect("their route");
    assert_eq!(
        still_theirs.data["spec"], theirs.data["spec"],
        "the foreign route is untouched"
    );
    assert_eq!(
        still_theirs.metadata.resource_version, theirs.metadata.resource_version,
        "not even relabelled"
    );
    // The Gateway itself did reach member-b: one conflict blocks only itself.
    assert!(
        gateways(&b, "web")
            .get_opt("shop")
            .await
            .expect("get")
            .is_some()
    );

    // The hub says member-b is not fully programmed, and why.
    let hub_gateways = gateways(&hub, "web");
    eventually("the hub to name the conflict", 30, || async {
        let gw = hub_gateways
            .get("shop")
            .await
            .map_err(|e| fed.hub.kube_error(e))?;
        let programmed = condition(&gw.data, "Programmed")
            .cloned()
            .unwrap_or_default();
        Ok(programmed["message"]
            .as_str()
            .is_some_and(|m| m.contains("member-b (Conflict: HTTPRoute web/cart"))
            .then_some(()))
    })
    .await;
}

#[tokio::test]
async fn an_agent_credential_reaches_only_its_own_member_namespace() {
    let fed = Federation::start(&[("member-a", &[]), ("member-b", &[])]).await;
    let agent_a = fedway_runtime::kube_client(Some(&fed.member("member-a").hub_kubeconfig))
        .await
        .expect("agent A's hub client");

    let forbidden = |result: Result<(), kube::Error>, what: &str| match result {
        Err(kube::Error::Api(status)) if status.code == 403 => {}
        other => panic!("{what}: expected 403, got {other:?}"),
    };
    let works_b: Api<fedway_crds::Work> = Api::namespaced(
        agent_a.clone(),
        &fedway_hub::join::member_namespace("member-b"),
    );
    forbidden(
        works_b.list(&ListParams::default()).await.map(drop),
        "listing member-b's Works",
    );
    // Secrets: its own hub namespace's (the hub's copies of its
    // certificates), no other.
    for namespace in [
        fedway_hub::join::member_namespace("member-b"),
        "default".to_owned(),
    ] {
        let secrets: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(agent_a.clone(), &namespace);
        forbidden(
            secrets.list(&ListParams::default()).await.map(drop),
            &format!("listing Secrets in {namespace}"),
        );
        forbidden(
            secrets.get("anything").await.map(drop),
            &format!("reading a Secret in {namespace}"),
        );
    }
    forbidden(
        Api::<k8s_openapi::api::core::v1::Secret>::all(agent_a.clone())
            .list(&ListParams::default())
            .await
            .map(drop),
        "listing Secrets cluster-wide",
    );
    let members: Api<fedway_crds::MemberCluster> = Api::all(agent_a.clone());
    forbidden(
        members.get("member-b").await.map(drop),
        "reading member-b's MemberCluster",
    );
    forbidden(
        members.list(&ListParams::default()).await.map(drop),
        "listing MemberClusters",
    );
    forbidden(
        members
            .patch_status(
                "member-b",
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": {"agentVersion": "evil"}})),
            )
            .await
            .map(drop),
        "writing member-b's status",
    );
    forbidden(
        Api::<fedway_crds::Work>::namespaced(agent_a.clone(), &fedway_hub::join::member_namespace("member-a"))
            .create(&Default::default(), &serde_json::from_value(json!({
                "metadata": {"name": "forged", "namespace": fedway_hub::join::member_namespace("member-a")}, "spec": {"manifests": []}})).expect("work"))
            .await
            .map(drop),
        "creating a Work (only the hub writes Works)",
    );

    // What it may do, it can.
    Api::<fedway_crds::Work>::namespaced(
        agent_a.clone(),
        &fedway_hub::join::member_namespace("member-a"),
    )
    .list(&ListParams::default())
    .await
    .expect("listing its own Works");
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(
        agent_a.clone(),
        &fedway_hub::join::member_namespace("member-a"),
    )
    .list(&ListParams::default())
    .await
    .expect("listing its own hub namespace's Secrets");
    members
        .get("member-a")
        .await
        .expect("reading its own MemberCluster");

    // Unjoin revokes the credential at once; what the member runs stays.
    fedway_hub::join::unjoin(&fed.hub.client(), "member-a")
        .await
        .expect("unjoin");
    eventually("member-a's token to be rejected", 30, || async {
        let rejected = matches!(
            members.get("member-a").await,
            Err(kube::Error::Api(status)) if status.code == 401
        );
        Ok(rejected.then_some(()))
    })
    .await;
    assert!(
        Api::<fedway_crds::MemberCluster>::all(fed.hub.client())
            .get_opt("member-a")
            .await
            .expect("get")
            .is_none(),
        "its MemberCluster is gone"
    );
}

#[tokio::test]
async fn an_invalid_gateway_is_placed_nowhere_and_one_outside_the_zones_runs_unpublished() {
    let fed = Federation::start(&[("member-a", &[])]).await;
    let hub = fed.hub.client();
    apply(&hub, json!({"apiVersion": "fedway.dev/v1alpha1", "kind": "DNSZone", "metadata": {"name": "global"},
                       "spec": {"zone": "global.example.com", "nameServers": [{"name": "ns1.global.example.com", "addresses": ["127.0.0.53"]}]}}))
    .await;
    namespace(&hub, "web").await;
    // Two listeners binding one port for one hostname (the API server only
    // refuses that for one protocol): no member could run it.
    let mut invalid = gateway("shop.global.example.com");
    invalid["spec"]["listeners"] = json!([
        {"name": "http", "port": 80, "protocol": "HTTP", "hostname": "shop.global.example.com"},
        {"name": "https", "port": 80, "protocol": "HTTPS", "hostname": "shop.global.example.com",
         "tls": {"certificateRefs": [{"name": "shop-tls"}]}},
    ]);
    apply(&hub, invalid).await;

    let hub_gateways = gateways(&hub, "web");
    let accepted = |status: &'static str| {
        let hub_gateways = hub_gateways.clone();
        let fed = &fed;
        move || {
            let hub_gateways = hub_gateways.clone();
            async move {
                let gw = hub_gateways
                    .get("shop")
                    .await
                    .map_err(|e| fed.hub.kube_error(e))?;
                Ok(condition(&gw.data, "Accepted")
                    .filter(|c| c["status"] == status)
                    .cloned())
            }
        }
    };
    let refused = eventually("Accepted=False on the hub Gateway", 30, accepted("False")).await;
    assert_eq!(refused["reason"], "ListenersNotValid");
    assert!(
        refused["message"]
            .as_str()
            .expect("message")
            .contains("listeners \"http\" and \"https\" both bind port 80 for hostname \"shop.global.example.com\""),
        "{refused}"
    );
    assert!(
        fed.work("member-a", "web.shop").await.is_none(),
        "placed nowhere"
    );
    assert!(
        gateways(&fed.member("member-a").cluster.client(), "web")
            .get_opt("shop")
            .await
            .expect("get")
            .is_none()
    );

    // A hostname outside every DNS zone: federated all the same, and the
    // hub says it is not published.
    apply(&hub, gateway("shop.elsewhere.org")).await;
    // The hub's stores converge (a DNSZone's watch on a fresh API server may
    // still be backing off): the condition says so once they have.
    let note = "\"shop.elsewhere.org\" is in none of Fedway's DNS zones (global.example.com): not published in DNS";
    let accepted_true = accepted("True");
    eventually("Accepted=True outside the zones, with the note", 30, || {
        let accepted = accepted_true();
        async move {
            Ok(accepted.await?.filter(|c| {
                c["message"]
                    .as_str()
                    .is_some_and(|message| message.contains(note))
            }))
        }
    })
    .await;
    eventually("the Gateway outside the zones in member-a", 30, || async {
        Ok(gateways(&fed.member("member-a").cluster.client(), "web")
            .get_opt("shop")
            .await
            .ok()
            .flatten())
    })
    .await;

    // In a zone: the member's copy follows, and the note is gone.
    apply(&hub, gateway("shop.global.example.com")).await;
    eventually("member-a's copy in the zone", 30, || async {
        Ok(gateways(&fed.member("member-a").cluster.client(), "web")
            .get_opt("shop")
            .await
            .ok()
            .flatten()
            .filter(|g| g.data["spec"]["listeners"][0]["hostname"] == "shop.global.example.com"))
    })
    .await;
    let inside = eventually("Accepted without a note", 30, || async {
        let gw = hub_gateways
            .get("shop")
            .await
            .map_err(|e| fed.hub.kube_error(e))?;
        Ok(condition(&gw.data, "Accepted")
            .filter(|c| {
                c["status"] == "True"
                    && !c["message"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("not published")
            })
            .cloned())
    })
    .await;
    assert_eq!(
        inside["message"],
        "accepted; placed in member-a (fedway-proxy)"
    );
}
