//! Losing the hub or a member loses nothing: members keep what they run,
//! the hub marks a lost member NotReady and changes nothing else, and a
//! restart re-converges without writing to the member.

use std::time::Duration;

use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use crate::{AGENT_USER, Federation, apply, eventually, gateways, namespace};

fn gateway() -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "shop", "namespace": "web"},
        "spec": {"gatewayClassName": "fedway",
                 "listeners": [{"name": "http", "port": 80, "protocol": "HTTP", "hostname": "shop.example.com"}]},
    })
}

#[tokio::test]
async fn hub_outage_keeps_members_running_and_a_restart_writes_nothing() {
    let mut fed = Federation::start(&[("member-a", &[]), ("member-b", &[])]).await;
    let hub = fed.hub.client();
    namespace(&hub, "web").await;
    apply(&hub, gateway()).await;
    for member in ["member-a", "member-b"] {
        let client = fed.member(member).cluster.client();
        eventually(&format!("Gateway in {member}"), 30, || async {
            Ok(gateways(&client, "web")
                .get_opt("shop")
                .await
                .ok()
                .flatten())
        })
        .await;
        eventually(&format!("{member}'s Work to be Applied"), 30, || async {
            let work = fed.work(member, "web.shop").await;
            Ok(work.filter(|w| {
                w.status.as_ref().is_some_and(|s| {
                    s.conditions
                        .iter()
                        .any(|c| c.type_ == "Applied" && c.status == "True")
                })
            }))
        })
        .await;
    }

    // The hub goes away: members keep everything, and drift is still
    // reverted from the agent's last view of its Works.
    fed.hub.stop_api_server();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let a = fed.member("member-a").cluster.client();
    gateways(&a, "web")
        .patch("shop", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"listeners": [{"name": "http", "port": 9999, "protocol": "HTTP"}]}})))
        .await
        .expect("editing member-a's copy while the hub is down");
    eventually("drift reverted while the hub is down", 15, || async {
        let gw = gateways(&a, "web")
            .get("shop")
            .await
            .map_err(|e| fed.hub.kube_error(e))?;
        Ok((gw.data["spec"]["listeners"][0]["port"] == 80).then_some(()))
    })
    .await;
    for member in ["member-a", "member-b"] {
        let client = fed.member(member).cluster.client();
        assert!(
            gateways(&client, "web")
                .get_opt("shop")
                .await
                .expect("get")
                .is_some(),
            "{member} keeps its Gateway"
        );
    }

    // The hub comes back; an agent restarts with nothing changed: it writes
    // nothing to its member.
    fed.hub
        .start_api_server()
        .await
        .expect("restarting the hub API server");
    fed.start_hub_controller();
    let member_b = &fed.member("member-b").cluster;
    let writes_before = member_b
        .audited_writes_by(AGENT_USER)
        .expect("audit log")
        .len();
    assert!(writes_before > 0, "the agent's first apply is audited");
    let index = fed
        .members
        .iter()
        .position(|m| m.name == "member-b")
        .expect("member-b");
    fed.start_agent(index).await;
    // Long enough for the restarted agent to list, reconcile and sweep.
    eventually("the restarted agent to report its Work", 30, || async {
        let work = fed.work("member-b", "web.shop").await;
        Ok(work.filter(|w| w.status.is_some()))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let member_b = &fed.member("member-b").cluster;
    let writes: Vec<(String, String)> = member_b
        .audited_writes_by(AGENT_USER)
        .expect("audit log")
        .split_off(writes_before);
    assert!(
        writes.is_empty(),
        "a restart with nothing changed wrote to the member: {writes:?}"
    );
    assert!(
        gateways(&member_b.client(), "web")
            .get_opt("shop")
            .await
            .expect("get")
            .is_some()
    );
}

#[tokio::test]
async fn a_lost_member_goes_not_ready_and_nothing_else_changes() {
    let mut fed = Federation::start(&[("member-a", &[]), ("member-b", &[])]).await;
    let hub = fed.hub.client();
    // Fast heartbeats for the test: NotReady after 3 missed 1 s renewals.
    for member in ["member-a", "member-b"] {
        apply(&hub, json!({"apiVersion": "fedway.dev/v1alpha1", "kind": "MemberCluster", "metadata": {"name": member},
                           "spec": {"heartbeat": {"interval": "1s", "missedBeforeNotReady": 3}}}))
        .await;
    }
    namespace(&hub, "web").await;
    apply(&hub, gateway()).await;
    eventually("the Work for member-b", 30, || async {
        Ok(fed.work("member-b", "web.shop").await)
    })
    .await;
    // Let the agents pick up the 1 s interval.
    tokio::time::sleep(Duration::from_secs(11)).await;

    let index = fed
        .members
        .iter()
        .position(|m| m.name == "member-b")
        .expect("member-b");
    fed.members[index].cluster.stop_api_server();
    let lost_at = std::time::Instant::now();
    fed.wait_member_ready("member-b", false).await;
    println!(
        "member-b NotReady {:?} after its API server stopped (window 3 × 1 s)",
        lost_at.elapsed()
    );

    // Nothing else changed: member-a is Ready, member-b's Work is still there.
    fed.wait_member_ready("member-a", true).await;
    assert!(
        fed.work("member-b", "web.shop").await.is_some(),
        "a lost member's Work stays"
    );
    fed.members[index]
        .cluster
        .start_api_server()
        .await
        .expect("restarting member-b");
    fed.wait_member_ready("member-b", true).await;
    assert!(
        gateways(&fed.members[index].cluster.client(), "web")
            .get_opt("shop")
            .await
            .expect("get")
            .is_some()
    );

    // An agent whose clock runs an hour ahead renews once more and stops:
    // the hub times heartbeats by when it sees them, so member-a still
    // goes NotReady after the window.
    let a = fed
        .members
        .iter()
        .position(|m| m.name == "member-a")
        .expect("member-a");
    fed.stop_agent(a);
    let ahead = k8s_openapi::jiff::Timestamp::now() + std::time::Duration::from_secs(3600);
    kube::Api::<k8s_openapi::api::coordination::v1::Lease>::namespaced(
        hub.clone(),
        &fedway_hub::join::member_namespace("member-a"),
    )
    .patch(
        "fedway-agent",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"renewTime": k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(ahead)}})),
    )
    .await
    .expect("a renewal from an hour ahead");
    let skewed_at = std::time::Instant::now();
    fed.wait_member_ready("member-a", false).await;
    println!(
        "member-a (clock an hour ahead) NotReady {:?} after its last renewal (window 3 × 1 s)",
        skewed_at.elapsed()
    );
}

#[tokio::test]
async fn two_hub_replicas_do_not_fight() {
    let mut fed = Federation::start(&[("member-a", &[])]).await;
    let leases: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
        kube::Api::namespaced(fed.hub.client(), "fedway-system");
    let holder = || async {
        let lease = leases
            .get("fedway-hub")
            .await
            .map_err(|e| fedway_e2e::Error::Kube {
                cluster: "hub".into(),
                source: Box::new(e),
            })?;
        Ok(lease.spec.and_then(|s| s.holder_identity))
    };
    assert_eq!(holder().await.expect("lease").as_deref(), Some("test-hub"));

    let second = tokio::spawn(fedway_hub::run::run(
        fed.hub.client(),
        fedway_hub::leader::LeaderConfig {
            namespace: "fedway-system".into(),
            name: "fedway-hub".into(),
            identity: "test-hub-2".into(),
            lease_duration: Duration::from_secs(15),
        },
        &[],
        Default::default(),
        std::future::pending(),
    ));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        holder().await.expect("lease").as_deref(),
        Some("test-hub"),
        "the first replica keeps leading"
    );
    assert!(!second.is_finished(), "the second replica waits");

    // The leader dies: the second takes over once the lease expires, and
    // places what is created from then on.
    fed.stop_hub_controller();
    eventually("the second replica to lead", 40, || async {
        Ok(holder().await?.filter(|h| h == "test-hub-2"))
    })
    .await;
    let hub = fed.hub.client();
    namespace(&hub, "web").await;
    apply(&hub, gateway()).await;
    let member = fed.member("member-a").cluster.client();
    eventually("the new leader to place the Gateway", 30, || async {
        Ok(gateways(&member, "web")
            .get_opt("shop")
            .await
            .ok()
            .flatten())
    })
    .await;
    second.abort();
}
