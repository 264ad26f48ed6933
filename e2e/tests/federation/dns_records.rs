//! Global DNS, hub side: the hub computes one DNSRecord per global hostname
//! from the Gateways, their DNSPolicy and what members report, and ships
//! every DNSRecord and DNSZone to every member, where they stay when a
//! member or the hub is lost.

use std::time::Duration;

use fedway_crds::{
    DNSPolicy, DNSRecord, DNSZone,
    dns_policy::DnsStrategy,
    dns_record::{Endpoint, PolicyRef},
};
use fedway_e2e::pki::ADMIN_USER;
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use serde_json::{Value, json};

use crate::{
    AGENT_USER, Federation, apply, condition, eventually, gateways, http_routes,
    implementation_reports, namespace,
};

const REGION: &str = "topology.kubernetes.io/region";
const HOSTNAME: &str = "shop.global.example.com";

fn zone() -> Value {
    json!({
        "apiVersion": "fedway.dev/v1alpha1", "kind": "DNSZone",
        "metadata": {"name": "global"},
        "spec": {"zone": "global.example.com",
                 "nameServers": [{"name": "ns1.global.example.com", "addresses": ["192.0.2.53"]}]},
    })
}

fn policy(ttl: u32) -> Value {
    json!({
        "apiVersion": "fedway.dev/v1alpha1", "kind": "DNSPolicy",
        "metadata": {"name": "shop", "namespace": "web"},
        "spec": {
            "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shop"}],
            "strategy": "Failover",
            "ttlSeconds": ttl,
            "priorities": [
                {"clusterSelector": {"matchLabels": {REGION: "eu-west"}}, "priority": 1},
                {"clusterSelector": {"matchLabels": {REGION: "us-east"}}, "priority": 2},
            ],
        },
    })
}

fn gateway(name: &str, hostname: &str) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": name, "namespace": "web"},
        "spec": {"gatewayClassName": "fedway",
                 "listeners": [{"name": "http", "port": 80, "protocol": "HTTP", "hostname": hostname}]},
    })
}

async fn record(client: &Client, name: &str) -> Option<DNSRecord> {
    Api::<DNSRecord>::all(client.clone())
        .get_opt(name)
        .await
        .ok()
        .flatten()
}

/// Waits until `client` holds the record `name` with exactly `spec`.
async fn wait_for_record(
    what: &str,
    client: &Client,
    name: &str,
    spec: &fedway_crds::DNSRecordSpec,
) {
    eventually(what, 30, || async {
        Ok(record(client, name)
            .await
            .filter(|r| &r.spec == spec)
            .map(drop))
    })
    .await;
}

/// The hub's own writes to DNS objects (records, DNS Works, policies).
fn hub_dns_writes(fed: &Federation) -> Vec<(String, String)> {
    fed.hub
        .audited_writes_by(ADMIN_USER)
        .expect("hub audit log")
        .into_iter()
        .filter(|(_, uri)| {
            uri.contains("/dnsrecords")
                || uri.contains("/works/fedway-dns")
                || uri.contains("/dnspolicies/")
        })
        .collect()
}

#[tokio::test]
async fn dns_records_reach_every_member_and_outlive_a_lost_member_and_hub() {
    let mut fed = Federation::start(&[
        ("member-a", &[(REGION, "eu-west")]),
        ("member-b", &[(REGION, "us-east")]),
    ])
    .await;
    let hub = fed.hub.client();
    // Fast heartbeats: NotReady after 3 missed 1 s renewals.
    for member in ["member-a", "member-b"] {
        apply(&hub, json!({"apiVersion": "fedway.dev/v1alpha1", "kind": "MemberCluster", "metadata": {"name": member},
                           "spec": {"heartbeat": {"interval": "1s", "missedBeforeNotReady": 3}}}))
        .await;
    }
    // Agents read the interval at their next (10 s) renewal; until then the
    // hub may see them as late.
    let fast_heartbeats_from = std::time::Instant::now() + Duration::from_secs(11);
    apply(&hub, zone()).await;
    namespace(&hub, "web").await;
    apply(&hub, policy(5)).await;
    apply(&hub, gateway("shop", HOSTNAME)).await;

    // Each member's implementation programs its copy, at its own address.
    let mut addresses = Vec::new();
    for member in ["member-a", "member-b"] {
        let cluster = &fed.member(member).cluster;
        let client = cluster.client();
        eventually(&format!("Gateway web/shop in {member}"), 30, || async {
            Ok(gateways(&client, "web")
                .get_opt("shop")
                .await
                .ok()
                .flatten())
        })
        .await;
        let address = cluster.address(10).to_string();
        implementation_reports(&gateways(&client, "web"), "shop", json!({
            "addresses": [{"type": "IPAddress", "value": address}],
            "conditions": [
                {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "Programmed", "status": "True", "reason": "Programmed", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"},
            ],
        }))
        .await;
        addresses.push(address);
    }

    // The hub's record: both members, with their region, priority and
    // address, healthy.
    let endpoint =
        |cluster: &str, region: &str, address: &str, priority: u32, healthy: bool| Endpoint {
            cluster_name: cluster.into(),
            region: Some(region.into()),
            addresses: vec![address.into()],
            weight: 1,
            priority,
            hub_healthy: healthy,
        };
    let mut want = fedway_crds::DNSRecordSpec {
        hostname: HOSTNAME.into(),
        ttl_seconds: 5,
        strategy: DnsStrategy::Failover,
        geo: None,
        health_check: None,
        fail_open: true,
        policy_ref: Some(PolicyRef {
            namespace: "web".into(),
            name: "shop".into(),
        }),
        endpoints: vec![
            endpoint("member-a", "eu-west", &addresses[0], 1, true),
            endpoint("member-b", "us-east", &addresses[1], 2, true),
        ],
        clusters: "member-a, member-b".into(),
    };
    wait_for_record(
        "the hub's DNSRecord with both members healthy",
        &hub,
        HOSTNAME,
        &want,
    )
    .await;
    let hub_record = record(&hub, HOSTNAME).await.expect("the hub's DNSRecord");
    assert_eq!(
        hub_record
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(fedway_hub::dns::MANAGED_LABEL))
            .map(String::as_str),
        Some("fedway-hub")
    );
    let policies: Api<DNSPolicy> = Api::namespaced(hub.clone(), "web");
    let accepted = eventually("the DNSPolicy to be Accepted", 30, || async {
        let policy = policies
            .get("shop")
            .await
            .map_err(|e| fed.hub.kube_error(e))?;
        let value = serde_json::to_value(&policy).unwrap_or_default();
        Ok(condition(&value, "Accepted")
            .filter(|c| c["status"] == "True")
            .cloned())
    })
    .await;
    assert_eq!(accepted["message"], format!("publishes {HOSTNAME}"));

    // Every member holds the same record and the zone.
    let hub_zone = Api::<DNSZone>::all(hub.clone())
        .get("global")
        .await
        .expect("the hub's DNSZone");
    for member in ["member-a", "member-b"] {
        let client = fed.member(member).cluster.client();
        wait_for_record(
            &format!("{member}'s copy of the DNSRecord"),
            &client,
            HOSTNAME,
            &want,
        )
        .await;
        let copy = eventually(&format!("{member}'s copy of the DNSZone"), 30, || async {
            Ok(Api::<DNSZone>::all(client.clone())
                .get_opt("global")
                .await
                .ok()
                .flatten())
        })
        .await;
        assert_eq!(copy.spec, hub_zone.spec, "{member}");
    }

    // A member that serves no DNS (`spec.servesDNS: false`) gets no DNS
    // Works, and its agent sweeps the DNS objects; turned back on, it gets
    // them again.
    let serves_dns = |serves: bool| {
        json!({"apiVersion": "fedway.dev/v1alpha1", "kind": "MemberCluster",
               "metadata": {"name": "member-b"}, "spec": {"servesDNS": serves}})
    };
    apply(&hub, serves_dns(false)).await;
    eventually("member-b's DNS Works to go", 30, || async {
        Ok(dns_works(&fed, "member-b").await?.is_empty().then_some(()))
    })
    .await;
    let member_b = fed.member("member-b").cluster.client();
    eventually(
        "member-b's DNSRecord and DNSZone to be swept",
        30,
        || async {
            Ok((record(&member_b, HOSTNAME).await.is_none()
                && zones_in(&fed, "member-b").await? == 0)
                .then_some(()))
        },
    )
    .await;
    apply(&hub, serves_dns(true)).await;
    wait_for_record("member-b's DNSRecord back", &member_b, HOSTNAME, &want).await;

    // A wildcard hostname gets a record of its own, in the hub and in the
    // members; when its Gateway goes, so does the record, everywhere.
    apply(&hub, gateway("extra", "*.extra.global.example.com")).await;
    for client in [hub.clone(), fed.member("member-a").cluster.client()] {
        let copy = eventually("the wildcard record", 30, || async {
            Ok(record(&client, "wildcard.extra.global.example.com").await)
        })
        .await;
        assert_eq!(copy.spec.hostname, "*.extra.global.example.com");
        assert_eq!(
            copy.spec.policy_ref, None,
            "no DNSPolicy: published with defaults"
        );
    }
    gateways(&hub, "web")
        .delete("extra", &Default::default())
        .await
        .expect("deleting Gateway extra");
    for client in [
        hub.clone(),
        fed.member("member-a").cluster.client(),
        fed.member("member-b").cluster.client(),
    ] {
        eventually("the wildcard record to be gone", 30, || async {
            Ok(record(&client, "wildcard.extra.global.example.com")
                .await
                .is_none()
                .then_some(()))
        })
        .await;
    }
    // A listener without a hostname publishes its routes' hostnames; the
    // record goes with the route.
    let mut routed = gateway("routed", "");
    routed["spec"]["listeners"][0]
        .as_object_mut()
        .map(|l| l.remove("hostname"));
    apply(&hub, routed).await;
    apply(
        &hub,
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "routed", "namespace": "web"},
            "spec": {"parentRefs": [{"name": "routed"}], "hostnames": ["routed.global.example.com"],
                     "rules": [{"backendRefs": [{"name": "shop", "port": 80}]}]},
        }),
    )
    .await;
    for client in [hub.clone(), fed.member("member-a").cluster.client()] {
        eventually("the record of the route's hostname", 30, || async {
            Ok(record(&client, "routed.global.example.com").await)
        })
        .await;
    }
    http_routes(&hub, "web")
        .delete("routed", &Default::default())
        .await
        .expect("deleting HTTPRoute routed");
    eventually("the route's record to be gone", 30, || async {
        Ok(record(&hub, "routed.global.example.com")
            .await
            .is_none()
            .then_some(()))
    })
    .await;
    gateways(&hub, "web")
        .delete("routed", &Default::default())
        .await
        .expect("deleting Gateway routed");

    // And the members' copies of the Gateways (the agents sweep them every
    // 5 s): a restart below must find nothing left to do.
    for (member, name) in [
        ("member-a", "extra"),
        ("member-b", "extra"),
        ("member-a", "routed"),
        ("member-b", "routed"),
    ] {
        let client = fed.member(member).cluster.client();
        eventually(
            &format!("the member's copy of Gateway {name} to be gone"),
            30,
            || async {
                Ok(gateways(&client, "web")
                    .get_opt(name)
                    .await
                    .map_err(|e| fed.member(member).cluster.kube_error(e))?
                    .is_none()
                    .then_some(()))
            },
        )
        .await;
    }

    // The DNS servers report endpoint health into the policy's status; the
    // hub's condition updates leave it alone.
    policies
        .patch_status(
            "shop",
            &PatchParams::apply("fedway-dns").force(),
            &Patch::Apply(json!({"apiVersion": "fedway.dev/v1alpha1", "kind": "DNSPolicy",
                                 "status": {"endpoints": [{"clusterName": "member-a", "address": addresses[0], "healthy": true}]}})),
        )
        .await
        .expect("writing status.endpoints as the DNS server");
    apply(&hub, policy(7)).await;
    want.ttl_seconds = 7;
    wait_for_record(
        "the new TTL in member-b",
        &fed.member("member-b").cluster.client(),
        HOSTNAME,
        &want,
    )
    .await;
    let policy = eventually(
        "the policy's condition for its new generation",
        30,
        || async {
            let policy = policies
                .get("shop")
                .await
                .map_err(|e| fed.hub.kube_error(e))?;
            let value = serde_json::to_value(&policy).unwrap_or_default();
            let current = condition(&value, "Accepted")
                .is_some_and(|c| c["observedGeneration"] == value["metadata"]["generation"]);
            Ok(current.then_some(value))
        },
    )
    .await;
    assert_eq!(
        policy["status"]["endpoints"][0]["clusterName"], "member-a",
        "the DNS server's field stays"
    );

    // A restarted hub controller and a restarted agent find nothing to
    // change and write nothing: the hub no DNS object, the agent nothing in
    // its member.
    tokio::time::sleep_until(fast_heartbeats_from.into()).await;
    for member in ["member-a", "member-b"] {
        fed.wait_member_ready(member, true).await;
    }
    wait_for_record("the hub's record, settled", &hub, HOSTNAME, &want).await;
    let writes_before = hub_dns_writes(&fed).len();
    assert!(writes_before > 0, "the hub's DNS writes are audited");
    let agent_writes_before = fed
        .member("member-a")
        .cluster
        .audited_writes_by(AGENT_USER)
        .expect("member-a audit log")
        .len();
    fed.start_hub_controller();
    let a_index = fed
        .members
        .iter()
        .position(|m| m.name == "member-a")
        .expect("member-a");
    fed.start_agent(a_index).await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let writes = hub_dns_writes(&fed).split_off(writes_before);
    assert!(
        writes.is_empty(),
        "a restarted hub rewrote DNS objects: {writes:?}"
    );
    let agent_writes = fed
        .member("member-a")
        .cluster
        .audited_writes_by(AGENT_USER)
        .expect("member-a audit log")
        .split_off(agent_writes_before);
    assert!(
        agent_writes.is_empty(),
        "a restarted agent wrote to its member: {agent_writes:?}"
    );

    // member-b is lost: its endpoint stays, marked down, in the hub and in
    // member-a's copy.
    let b = fed
        .members
        .iter()
        .position(|m| m.name == "member-b")
        .expect("member-b");
    fed.members[b].cluster.stop_api_server();
    fed.wait_member_ready("member-b", false).await;
    want.endpoints[1].hub_healthy = false;
    want.clusters = "member-a, member-b (down)".into();
    wait_for_record("member-b down in the hub's record", &hub, HOSTNAME, &want).await;
    wait_for_record(
        "member-b down in member-a's copy",
        &fed.member("member-a").cluster.client(),
        HOSTNAME,
        &want,
    )
    .await;

    // The hub is lost: member-a keeps its DNS data (its agent sweeps only
    // after a successful list of its Works).
    fed.hub.stop_api_server();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let a = fed.member("member-a").cluster.client();
    let kept = record(&a, HOSTNAME)
        .await
        .expect("member-a keeps the DNSRecord");
    assert_eq!(kept.spec, want);
    assert!(
        Api::<DNSZone>::all(a.clone())
            .get_opt("global")
            .await
            .expect("reading the zone")
            .is_some(),
        "member-a keeps the DNSZone"
    );

    // member-b comes back while the hub is still down: it kept its copy too.
    fed.members[b]
        .cluster
        .start_api_server()
        .await
        .expect("restarting member-b");
    let b_client = fed.members[b].cluster.client();
    assert!(
        record(&b_client, HOSTNAME).await.is_some(),
        "member-b keeps the DNSRecord"
    );
    assert!(
        Api::<DNSZone>::all(b_client)
            .get_opt("global")
            .await
            .expect("reading the zone")
            .is_some(),
        "member-b keeps the DNSZone"
    );
}

/// The member's DNS Works in the hub: name, objects, bytes of spec.
async fn dns_works(
    fed: &Federation,
    member: &str,
) -> fedway_e2e::Result<Vec<(String, usize, usize)>> {
    let works: Api<fedway_crds::Work> = Api::namespaced(
        fed.hub.client(),
        &fedway_hub::join::member_namespace(member),
    );
    let mut works: Vec<(String, usize, usize)> = works
        .list(&Default::default())
        .await
        .map_err(|e| fed.hub.kube_error(e))?
        .into_iter()
        .filter_map(|w| {
            let name = w.metadata.name?;
            let bytes = serde_json::to_vec(&w.spec).map_or(0, |b| b.len());
            fedway_hub::dns_works::is_dns_work(&name).then_some((
                name,
                w.spec.manifests.len(),
                bytes,
            ))
        })
        .collect();
    works.sort();
    Ok(works)
}

/// How many DNSZones the member holds.
async fn zones_in(fed: &Federation, member: &str) -> fedway_e2e::Result<usize> {
    let cluster = &fed.member(member).cluster;
    Ok(Api::<DNSZone>::all(cluster.client())
        .list_metadata(&Default::default())
        .await
        .map_err(|e| cluster.kube_error(e))?
        .items
        .len())
}

/// The DNS data is cut into Works (`fedway-dns-<i>`, at most 512 objects
/// each): 520 DNSZones take two; back under 512 they take one again, and
/// while objects move between the Works the member never loses one.
#[tokio::test]
async fn dns_data_is_cut_into_works_and_nothing_is_lost_while_it_moves() {
    use futures::{StreamExt, TryStreamExt, stream};
    use kube::runtime::watcher;

    const ZONES: usize = 520;
    const KEPT: usize = 500;
    // The agent applies a Work's objects one by one; with the whole suite
    // running beside it that can take a minute for 500.
    const WAIT: u64 = 180;
    let fed = Federation::start(&[
        ("member-a", &[(REGION, "eu-west")]),
        ("member-b", &[(REGION, "us-east")]),
    ])
    .await;
    let hub = fed.hub.client();
    // member-b serves no DNS: it gets none of this.
    apply(
        &hub,
        json!({"apiVersion": "fedway.dev/v1alpha1", "kind": "MemberCluster",
                       "metadata": {"name": "member-b"}, "spec": {"servesDNS": false}}),
    )
    .await;
    let zone = |i: usize| {
        json!({
            "apiVersion": "fedway.dev/v1alpha1", "kind": "DNSZone",
            "metadata": {"name": format!("z{i}")},
            "spec": {"zone": format!("z{i}.example.com"),
                     "nameServers": [{"name": "ns1.example.net"}]},
        })
    };
    stream::iter(0..ZONES)
        .map(|i| {
            let hub = hub.clone();
            async move { apply(&hub, zone(i)).await }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let works = eventually("member-a's DNS data in two Works", WAIT, || async {
        let works = dns_works(&fed, "member-a").await?;
        Ok(
            (works.len() == 2 && works.iter().map(|w| w.1).sum::<usize>() == ZONES)
                .then_some(works),
        )
    })
    .await;
    assert!(works.iter().all(|w| w.1 <= 512), "{works:?}");
    eprintln!("member-a: DNS Works {works:?} (name, objects, bytes)");
    eventually(&format!("{ZONES} DNSZones in member-a"), WAIT, || async {
        Ok((zones_in(&fed, "member-a").await? == ZONES).then_some(()))
    })
    .await;
    assert!(
        dns_works(&fed, "member-b")
            .await
            .expect("listing Works")
            .is_empty()
    );
    assert_eq!(
        zones_in(&fed, "member-b").await.expect("listing DNSZones"),
        0
    );

    // Every deletion member-a sees from here on.
    let deleted = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let watch = {
        let deleted = deleted.clone();
        let events = watcher(
            Api::<DNSZone>::all(fed.member("member-a").cluster.client()),
            watcher::Config::default(),
        );
        let (listed, watching) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut events = std::pin::pin!(events);
            let mut listed = Some(listed);
            while let Ok(Some(event)) = events.try_next().await {
                match event {
                    watcher::Event::InitDone => {
                        listed.take().map(|l| l.send(()));
                    }
                    watcher::Event::Delete(zone) => {
                        let name = zone.metadata.name.unwrap_or_default();
                        deleted.lock().expect("lock").push(name);
                    }
                    _ => {}
                }
            }
        });
        watching.await.expect("member-a's DNSZones listed");
        task
    };
    let dns_zones = Api::<DNSZone>::all(hub.clone());
    stream::iter(KEPT..ZONES)
        .map(|i| {
            let dns_zones = dns_zones.clone();
            async move {
                dns_zones
                    .delete(&format!("z{i}"), &Default::default())
                    .await
                    .map(drop)
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await
        .expect("deleting DNSZones");
    let works = eventually("member-a's DNS data back in one Work", WAIT, || async {
        let works = dns_works(&fed, "member-a").await?;
        Ok((works.len() == 1 && works[0].1 == KEPT).then_some(works))
    })
    .await;
    assert_eq!(works[0].0, "fedway-dns-0");
    eventually(&format!("{KEPT} DNSZones in member-a"), WAIT, || async {
        Ok((zones_in(&fed, "member-a").await? == KEPT).then_some(()))
    })
    .await;
    watch.abort();
    let mut deleted = deleted.lock().expect("lock").clone();
    deleted.sort();
    deleted.dedup();
    let mut want: Vec<String> = (KEPT..ZONES).map(|i| format!("z{i}")).collect();
    want.sort();
    assert_eq!(
        deleted, want,
        "member-a lost only the zones deleted in the hub"
    );
}
