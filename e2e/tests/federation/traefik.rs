//! Delegation proven (issue 7): a member whose Gateway API implementation
//! is Traefik — upstream, unmodified, built from its Go module, running
//! against the member's API server with its own GatewayClass and
//! least-privilege RBAC — and a member running Fedway's lb-proxy get the
//! same hub Gateway and HTTPRoutes. Real requests go through each member's
//! gateway to echo pods; Traefik's own statuses (GatewayClass Accepted,
//! Gateway Programmed with its address, route conditions) reach the hub's
//! aggregated status and the DNSRecords; when Traefik dies, DNS stops
//! handing its member out and the other member keeps serving.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use fedway_crds::{DNSPolicy, DNSRecord, MemberCluster};
use fedway_dns::{Config, Running, Source, rate_limit::RateLimitConfig};
use fedway_e2e::{ClusterOptions, PodRunner, traefik::Traefik};
use fedway_proxy::{
    config::ProxyConfig,
    controller::{self, ConfigSink, Publish, Settings},
    dataplane::{DataPlane, Options},
};
use kube::{Api, Client};
use serde_json::{Value, json};

use crate::{Federation, apply, condition, eventually, gateways, http_routes, namespace};

const REGION: &str = "topology.kubernetes.io/region";
const HOSTNAME: &str = "shop.global.example.com";
/// Served by a route whose backend only member-proxy has.
const STOCK_HOSTNAME: &str = "stock.global.example.com";
const TRAEFIK_MEMBER: &str = "member-traefik";
const PROXY_MEMBER: &str = "member-proxy";
/// Traefik's GatewayClass in its member.
const TRAEFIK_CLASS: &str = "traefik";
/// Where, in its member's slot, Traefik listens (hosts 1 to 9 are the
/// harness's); lb-proxy takes addresses from `.100`-`.110` of its own.
const TRAEFIK_HOST: u8 = 20;
const DNS_HOST: u8 = 53;
const PORT: u16 = 80;
/// The HTTPS listener's port, with the hub's certificate.
const TLS_PORT: u16 = 8443;
const ECHO_IMAGE: &str = "registry.k8s.io/gateway-api/echo-basic:v1.6.3";
/// The DNSPolicy's health check: every second, 2 failures out, 2 successes in.
const FAILURES: u32 = 2;
const SUCCESSES: u32 = 2;

fn zone() -> Value {
    json!({
        "apiVersion": "fedway.dev/v1alpha1", "kind": "DNSZone",
        "metadata": {"name": "global"},
        "spec": {"zone": "global.example.com",
                 "nameServers": [{"name": "ns1.global.example.com", "addresses": ["192.0.2.53"]}]},
    })
}

fn policy() -> Value {
    json!({
        "apiVersion": "fedway.dev/v1alpha1", "kind": "DNSPolicy",
        "metadata": {"name": "shop", "namespace": "web"},
        "spec": {
            "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shop"}],
            "strategy": "RoundRobin",
            "ttlSeconds": 5,
            // Probes go through each member's gateway (Host: the hostname,
            // path /), so they test the implementation, not just a socket.
            "healthCheck": {"protocol": "HTTP", "port": PORT, "path": "/",
                            "interval": "1s", "timeout": "500ms",
                            "failureThreshold": FAILURES, "successThreshold": SUCCESSES},
        },
    })
}

fn gateway() -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "shop", "namespace": "web"},
        "spec": {"gatewayClassName": "fedway",
                 "listeners": [
                     {"name": "http", "port": PORT, "protocol": "HTTP", "hostname": HOSTNAME},
                     {"name": "https", "port": TLS_PORT, "protocol": "HTTPS", "hostname": HOSTNAME,
                      "tls": {"certificateRefs": [{"name": "shop-tls"}]}},
                     {"name": "stock", "port": PORT, "protocol": "HTTP", "hostname": STOCK_HOSTNAME},
                 ]},
    })
}

/// The hub's certificate for [`HOSTNAME`] (self-signed), as a user or
/// cert-manager writes it; and its PEM, which clients then trust alone.
fn certificate() -> (Value, Vec<u8>) {
    let mut secret = fedway_runtime::certificates::testing::tls_secret("shop-tls", HOSTNAME);
    secret.metadata.namespace = Some("web".into());
    let pem = secret
        .data
        .as_ref()
        .and_then(|d| d.get("tls.crt"))
        .map(|c| c.0.clone())
        .unwrap_or_default();
    let mut value = serde_json::to_value(secret).unwrap_or_default();
    value["apiVersion"] = "v1".into();
    value["kind"] = "Secret".into();
    (value, pem)
}

fn route(name: &str, hostname: &str, path: &str, backend: &str) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": "web"},
        "spec": {
            "parentRefs": [{"name": "shop"}],
            "hostnames": [hostname],
            "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": path}}],
                       "backendRefs": [{"name": backend, "port": 80}]}],
        },
    })
}

/// An echo backend: a Deployment whose pods the pod runner serves, and its
/// Service (port 80 to echo-basic's 3000).
fn backend(name: &str) -> [Value; 2] {
    [
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "web"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{
                    "name": "echo", "image": ECHO_IMAGE,
                    "env": [
                        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                        {"name": "SERVICE_NAME", "value": name},
                    ],
                }]}},
            },
        }),
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "web"},
            "spec": {"selector": {"app": name},
                     "ports": [{"name": "http", "port": 80, "targetPort": 3000, "protocol": "TCP"}]},
        }),
    ]
}

/// `GET path` with `Host: host` on `ip:80`: the status code and the body.
async fn get(ip: Ipv4Addr, host: &str, path: &str) -> Result<(u16, String), String> {
    let reply =
        fedway_e2e::traffic::get(SocketAddr::new(IpAddr::V4(ip), PORT), host, path, &[]).await?;
    Ok((reply.status, reply.body))
}

/// Waits until `GET path` for [`HOSTNAME`] through the gateway at `ip` is
/// answered by a pod of Deployment `backend` (echo-basic's JSON names the
/// pod); returns how long it took.
async fn reaches(ip: Ipv4Addr, path: &str, backend: &str, what: &str) -> Duration {
    reaches_host(ip, HOSTNAME, path, backend, what).await
}

async fn reaches_host(ip: Ipv4Addr, host: &str, path: &str, backend: &str, what: &str) -> Duration {
    let started = Instant::now();
    eventually(what, 90, || async {
        Ok(match get(ip, host, path).await {
            Ok((200, body)) => serde_json::from_str::<Value>(&body)
                .ok()
                .filter(|echo| {
                    echo["pod"]
                        .as_str()
                        .is_some_and(|p| p.starts_with(&format!("{backend}-")))
                })
                .map(drop),
            _ => None,
        })
    })
    .await;
    started.elapsed()
}

/// Waits until every server answers [`HOSTNAME`] with exactly `want`
/// (sorted); returns how long it took.
async fn dns_answers(servers: &[SocketAddr], want: &[Ipv4Addr], secs: u64, what: &str) -> Duration {
    dns_answers_for(HOSTNAME, servers, want, secs, what).await
}

async fn dns_answers_for(
    hostname: &str,
    servers: &[SocketAddr],
    want: &[Ipv4Addr],
    secs: u64,
    what: &str,
) -> Duration {
    let started = Instant::now();
    let mut want: Vec<IpAddr> = want.iter().map(|ip| IpAddr::V4(*ip)).collect();
    want.sort();
    eventually(what, secs, || async {
        let replies = futures::future::join_all(
            servers
                .iter()
                .map(|s| fedway_e2e::traffic::resolve(*s, hostname, None)),
        )
        .await;
        Ok(replies
            .iter()
            .all(|r| r.as_ref() == Ok(&want))
            .then_some(()))
    })
    .await;
    let took = started.elapsed();
    println!("{what}: {took:?}");
    took
}

async fn start_dns(ip: Ipv4Addr, client: Client, cache: &Path, hub: bool) -> Running {
    let address = SocketAddr::new(IpAddr::V4(ip), 0);
    fedway_dns::start(Config {
        listen: vec![address],
        udp_sockets: 1,
        source: Source::Cluster(client),
        cache: Some(cache.to_owned()),
        metrics_listen: None,
        rate_limit: RateLimitConfig::default(),
        report_policy_status: hub,
    })
    .await
    .unwrap_or_else(|e| panic!("fedway-dns starts on {address}: {e}"))
}

/// lb-proxy's data plane as its controller's sink (as its binary does).
struct DataPlaneSink(DataPlane);

impl ConfigSink for DataPlaneSink {
    fn apply(&self, config: ProxyConfig) {
        if let Err(errors) = self.0.apply(config) {
            tracing::error!(%errors, "lb-proxy: configuration applied in part");
        }
    }
}

/// The hub route's parent status for Gateway web/shop (controller
/// `fedway.dev/hub`).
async fn hub_route_parent(hub: &Client, name: &str) -> Option<Value> {
    let route = http_routes(hub, "web").get_opt(name).await.ok()??;
    let route = serde_json::to_value(route).ok()?;
    route["status"]["parents"]
        .as_array()?
        .iter()
        .find(|p| p["controllerName"] == "fedway.dev/hub" && p["parentRef"]["name"] == "shop")
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traefik_programs_a_placed_gateway_and_its_status_reaches_the_hub_and_dns() {
    // Building Traefik can take minutes the first time: before any cluster.
    fedway_e2e::toolchain::traefik().expect("Traefik (e2e/scripts/traefik.sh)");
    let started = Instant::now();
    let fed = Federation::start_with(
        &[
            (TRAEFIK_MEMBER, &[(REGION, "eu-west")]),
            (PROXY_MEMBER, &[(REGION, "us-east")]),
        ],
        &ClusterOptions::default().with_workloads(),
    )
    .await;
    println!(
        "hub and two members with workloads: {:?}",
        started.elapsed()
    );
    let hub = fed.hub.client();
    let traefik_cluster = &fed.member(TRAEFIK_MEMBER).cluster;
    let proxy_cluster = &fed.member(PROXY_MEMBER).cluster;

    // Each member: its echo backends (stock only where lb-proxy runs, so
    // the route to it is one Traefik must reject), and the pods served.
    let _pods = (
        PodRunner::start(traefik_cluster).await.expect("pod runner"),
        PodRunner::start(proxy_cluster).await.expect("pod runner"),
    );
    for (cluster, backends) in [
        (traefik_cluster, &["shop", "cart"][..]),
        (proxy_cluster, &["shop", "cart", "stock"][..]),
    ] {
        let client = cluster.client();
        namespace(&client, "web").await;
        for name in backends {
            for object in backend(name) {
                apply(&client, object).await;
            }
        }
    }

    // Traefik in its member: its own class, which only Traefik accepts.
    let traefik_ip = traefik_cluster.address(TRAEFIK_HOST);
    let mut traefik = Traefik::start(
        traefik_cluster,
        TRAEFIK_CLASS,
        traefik_ip,
        &[PORT, TLS_PORT],
    )
    .await
    .expect("starting Traefik");
    let classes = Api::<kube::api::DynamicObject>::all_with(
        traefik_cluster.client(),
        &crate::resource("GatewayClass", "v1", "gatewayclasses"),
    );
    let took = Instant::now();
    eventually("Traefik accepts its GatewayClass", 60, || {
        // A Traefik that exited ends the wait at once, with its log.
        let alive = traefik.check_running();
        let classes = classes.clone();
        async move {
            alive?;
            let class = classes.get_opt(TRAEFIK_CLASS).await.ok().flatten();
            let class = class.and_then(|c| serde_json::to_value(c).ok());
            Ok(class
                .filter(|c| condition(c, "Accepted").is_some_and(|a| a["status"] == "True"))
                .map(drop))
        }
    })
    .await;
    println!("Traefik accepted its GatewayClass in {:?}", took.elapsed());

    // lb-proxy in the other member, in this process, as its binary runs.
    let proxy_kubeconfig = proxy_cluster
        .user_kubeconfig("fedway-proxy", &["system:masters"])
        .expect("lb-proxy kubeconfig");
    let proxy_client = fedway_runtime::kube_client(Some(&proxy_kubeconfig))
        .await
        .expect("lb-proxy client");
    controller::class::ensure(
        &proxy_client,
        controller::DEFAULT_CLASS_NAME,
        controller::DEFAULT_CONTROLLER_NAME,
    )
    .await
    .expect("lb-proxy's GatewayClass");
    let pool = format!(
        "{}-{}",
        proxy_cluster.address(100),
        proxy_cluster.address(110)
    );
    let proxy = tokio::spawn(controller::run(
        proxy_client,
        Settings {
            controller_name: controller::DEFAULT_CONTROLLER_NAME.to_owned(),
            publish: Publish::Local(pool.parse().expect("a valid address pool")),
            metrics: Default::default(),
        },
        Arc::new(DataPlaneSink(DataPlane::new(Options::default()))),
    ));

    // The agent reports Traefik's class, accepted, to the hub, with the
    // features Traefik lists in its status.
    let members = Api::<MemberCluster>::all(hub.clone());
    let traefik_features = eventually(
        "the hub knows member-traefik's Traefik class",
        60,
        || async {
            let member = members.get_opt(TRAEFIK_MEMBER).await.ok().flatten();
            Ok(member.and_then(|m| m.status).and_then(|s| {
                s.gateway_classes.into_iter().find(|c| {
                    c.name == TRAEFIK_CLASS
                        && c.controller_name == fedway_e2e::traefik::CONTROLLER_NAME
                        && c.accepted
                })
            }))
        },
    )
    .await
    .supported_features;
    // What Traefik says it supports, as it says it (v3.6.12: no request
    // timeouts, among others).
    assert!(
        traefik_features.iter().any(|f| f == "HTTPRoute")
            && !traefik_features
                .iter()
                .any(|f| f == "HTTPRouteRequestTimeout"),
        "{traefik_features:?}"
    );

    // The app team's objects, once, in the hub.
    apply(&hub, zone()).await;
    namespace(&hub, "web").await;
    apply(&hub, policy()).await;
    let (secret, trusted) = certificate();
    apply(&hub, secret).await;
    apply(&hub, gateway()).await;
    let placed = Instant::now();
    for (name, path, backend) in [("shop", "/", "shop"), ("cart", "/cart", "cart")] {
        apply(&hub, route(name, HOSTNAME, path, backend)).await;
    }

    // Traefik programs member-traefik's copy, with its class, at its address.
    let member_gateways = gateways(&traefik_cluster.client(), "web");
    let copy = eventually("Traefik programs its copy of web/shop", 90, || async {
        let copy = member_gateways.get_opt("shop").await.ok().flatten();
        let copy = copy.and_then(|c| serde_json::to_value(c).ok());
        Ok(copy.filter(|c| condition(c, "Programmed").is_some_and(|p| p["status"] == "True")))
    })
    .await;
    assert_eq!(copy["spec"]["gatewayClassName"], TRAEFIK_CLASS, "{copy}");
    assert_eq!(
        copy["status"]["addresses"],
        json!([{"type": "IPAddress", "value": traefik_ip.to_string()}]),
        "Traefik's status address"
    );

    // The hub Gateway: placed in both, programmed in both, both addresses.
    let hub_gateways = gateways(&hub, "web");
    let hub_gateway = eventually("the hub Gateway Programmed in both members", 90, || async {
        let gateway = hub_gateways.get_opt("shop").await.ok().flatten();
        let gateway = gateway.and_then(|g| serde_json::to_value(g).ok());
        Ok(gateway.filter(|g| {
            condition(g, "Programmed").is_some_and(|p| p["status"] == "True")
                && condition(g, "fedway.dev/Degraded").is_some_and(|d| d["status"] == "False")
                && g["status"]["addresses"]
                    .as_array()
                    .is_some_and(|a| a.len() == 2)
        }))
    })
    .await;
    println!(
        "hub Gateway Programmed in both members {:?} after it was written",
        placed.elapsed()
    );
    let accepted = condition(&hub_gateway, "Accepted").expect("Accepted")["message"].clone();
    assert_eq!(
        accepted,
        json!(format!(
            "accepted; placed in {PROXY_MEMBER} (fedway-proxy), {TRAEFIK_MEMBER} ({TRAEFIK_CLASS})"
        )),
    );
    let programmed = condition(&hub_gateway, "Programmed").expect("Programmed")["message"].clone();
    assert_eq!(
        programmed,
        json!(format!(
            "programmed in 2 of 2 members: {PROXY_MEMBER}, {TRAEFIK_MEMBER}"
        ))
    );
    let addresses: Vec<Ipv4Addr> = hub_gateway["status"]["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["value"].as_str()?.parse().ok())
        .collect();
    assert!(addresses.contains(&traefik_ip), "{addresses:?}");
    let proxy_ip = *addresses
        .iter()
        .find(|ip| **ip != traefik_ip)
        .expect("lb-proxy's address");
    assert_eq!(
        proxy_ip.octets()[..3],
        proxy_cluster.address(100).octets()[..3],
        "lb-proxy's address is in its member's slot"
    );

    // Both implementations' listener status reaches the hub Gateway's
    // `status.listeners`: each listener programmed in both, both routes
    // attached to the shop listeners (the HTTPS one with the hub's
    // certificate, which the agents copied into each member), none yet to
    // the stock one.
    let listeners = eventually(
        "the hub listeners' status from both members",
        90,
        || async {
            let gateway = hub_gateways.get_opt("shop").await.ok().flatten();
            let gateway = gateway.and_then(|g| serde_json::to_value(g).ok());
            Ok(gateway
                .and_then(|g| g["status"]["listeners"].as_array().cloned())
                .filter(|listeners| {
                    listeners.len() == 3
                        && listeners.iter().all(|l| {
                            l["attachedRoutes"] == if l["name"] == "stock" { 0 } else { 2 }
                                && l["conditions"].as_array().is_some_and(|c| {
                                    c.iter()
                                        .any(|c| c["type"] == "Programmed" && c["status"] == "True")
                                })
                        })
                }))
        },
    )
    .await;
    for (listener, name) in listeners.iter().zip(["http", "https", "stock"]) {
        assert_eq!(listener["name"], name);
        assert_eq!(
            listener["supportedKinds"],
            json!([{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"},
                   {"group": "gateway.networking.k8s.io", "kind": "GRPCRoute"}])
        );
        for type_ in ["Accepted", "ResolvedRefs", "Programmed"] {
            let c = listener["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == type_)
                .unwrap_or_else(|| panic!("listener {name} {type_}: {listener}"));
            assert_eq!(c["status"], "True", "listener {name} {type_}: {c}");
        }
    }

    // Real requests through each member's gateway reach the right backend.
    for (ip, who) in [(traefik_ip, "Traefik"), (proxy_ip, "lb-proxy")] {
        for (path, backend) in [("/", "shop"), ("/cart/items", "cart")] {
            let took = reaches(
                ip,
                path,
                backend,
                &format!("{path} via {who} reaches {backend}"),
            )
            .await;
            println!("{path} via {who} ({ip}) reached {backend} ({took:?})");
        }
    }
    // HTTPS through each member's gateway with the hub's certificate: the
    // client trusts that certificate alone, so an answer proves the member
    // served it.
    for (ip, who) in [(traefik_ip, "Traefik"), (proxy_ip, "lb-proxy")] {
        let address = SocketAddr::new(IpAddr::V4(ip), TLS_PORT);
        let reply = eventually(&format!("HTTPS via {who} reaches shop"), 60, || async {
            Ok(
                fedway_e2e::traffic::get_https(address, HOSTNAME, "/", &trusted)
                    .await
                    .ok()
                    .filter(|r| r.status == 200),
            )
        })
        .await;
        assert!(
            reply.pod.as_deref().is_some_and(|p| p.starts_with("shop-")),
            "HTTPS via {who}: {reply:?}"
        );
        println!("HTTPS via {who} ({address}) answered by {:?}", reply.pod);
    }

    // A renewal in the hub (what cert-manager does): both members serve the
    // new certificate within seconds, and fedway-proxy keeps a connection
    // opened before it.
    let proxy_https = SocketAddr::new(IpAddr::V4(proxy_ip), TLS_PORT);
    let mut open = fedway_e2e::traffic::HttpsConnection::open(proxy_https, HOSTNAME, &trusted)
        .await
        .expect("an HTTPS connection to lb-proxy");
    assert_eq!(
        open.get("/").await.expect("GET before the renewal").status,
        200
    );
    let (renewed, renewed_trusted) = certificate();
    assert_ne!(renewed_trusted, trusted, "a new certificate");
    apply(&hub, renewed).await;
    let renewal = Instant::now();
    // Until both members serve the new certificate, the open connection is
    // used every half second (idle, a server may close it on its own): it
    // answers throughout.
    let mut pending = vec![(traefik_ip, "Traefik"), (proxy_ip, "lb-proxy")];
    while !pending.is_empty() {
        assert!(
            renewal.elapsed() < Duration::from_secs(30),
            "still serving the old certificate after 30 s: {pending:?}"
        );
        let during = open
            .get("/")
            .await
            .expect("the connection opened before the renewal answers during it");
        assert_eq!(during.status, 200, "{during:?}");
        let mut still = Vec::new();
        for (ip, who) in pending {
            let address = SocketAddr::new(IpAddr::V4(ip), TLS_PORT);
            match fedway_e2e::traffic::get_https(address, HOSTNAME, "/", &renewed_trusted).await {
                Ok(reply) if reply.status == 200 => println!(
                    "{who} served the renewed certificate {:?} after the hub's renewal",
                    renewal.elapsed()
                ),
                _ => still.push((ip, who)),
            }
        }
        pending = still;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let after = open
        .get("/")
        .await
        .expect("the connection opened before the renewal still answers after it");
    assert_eq!(after.status, 200, "{after:?}");

    // A route Traefik rejects (its backend Service does not exist in its
    // member): the hub route says so, with Traefik's reason, naming the
    // member; lb-proxy's member serves it.
    apply(&hub, route("stock", STOCK_HOSTNAME, "/", "stock")).await;
    let resolved = eventually(
        "the hub route stock shows Traefik's rejection",
        60,
        || async {
            // Both members reported: lb-proxy resolved it, Traefik did not.
            Ok(hub_route_parent(&hub, "stock").await.and_then(|p| {
                p["conditions"]
                    .as_array()?
                    .iter()
                    .find(|c| {
                        c["type"] == "ResolvedRefs"
                            && c["status"] == "False"
                            && !c["message"]
                                .as_str()
                                .unwrap_or_default()
                                .contains("not reported yet")
                    })
                    .cloned()
            }))
        },
    )
    .await;
    println!("hub route stock ResolvedRefs: {resolved}");
    assert_eq!(resolved["reason"], "BackendNotFound", "{resolved}");
    let message = resolved["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with(&format!(
            "ResolvedRefs in {PROXY_MEMBER}; not in {TRAEFIK_MEMBER} (BackendNotFound: "
        )),
        "{message}"
    );
    reaches_host(
        proxy_ip,
        STOCK_HOSTNAME,
        "/",
        "stock",
        "stock via lb-proxy reaches stock",
    )
    .await;

    // A route with a request timeout, which Traefik says it lacks: placed
    // anyway (no PlacementPolicy says otherwise), and the hub route names
    // the member and the feature.
    let mut slow = route("slow", STOCK_HOSTNAME, "/slow", "stock");
    slow["spec"]["rules"][0]["timeouts"] = json!({"request": "10s"});
    apply(&hub, slow).await;
    let features = eventually(
        "the hub route slow names what Traefik lacks",
        60,
        || async {
            Ok(hub_route_parent(&hub, "slow").await.and_then(|p| {
                p["conditions"]
                    .as_array()?
                    .iter()
                    .find(|c| c["type"] == "fedway.dev/FeaturesSupported" && c["status"] == "False")
                    .cloned()
            }))
        },
    )
    .await;
    assert_eq!(
        features["message"],
        format!(
            "{TRAEFIK_MEMBER} ({TRAEFIK_CLASS}) lacks HTTPRouteRequestTimeout: placed there anyway"
        )
    );

    // Global DNS: one server beside the hub (it reports probe results in
    // the DNSPolicy), one beside each member; all answer with both.
    let records = Api::<DNSRecord>::all(hub.clone());
    let record = eventually(
        "the DNSRecord with both members hub-healthy",
        60,
        || async {
            let record = records.get_opt(HOSTNAME).await.ok().flatten();
            Ok(record.map(|r| r.spec).filter(|spec| {
                spec.endpoints.len() == 2 && spec.endpoints.iter().all(|e| e.hub_healthy)
            }))
        },
    )
    .await;
    let endpoint = |cluster: &str| {
        record
            .endpoints
            .iter()
            .find(|e| e.cluster_name == cluster)
            .map(|e| e.addresses.clone())
    };
    assert_eq!(endpoint(TRAEFIK_MEMBER), Some(vec![traefik_ip.to_string()]));
    assert_eq!(endpoint(PROXY_MEMBER), Some(vec![proxy_ip.to_string()]));
    // The stock hostname works in member-proxy only: its record has
    // member-traefik down, by the hub's judgement of Traefik's route status
    // (the probes are not running yet).
    let stock = eventually(
        "the stock DNSRecord with member-traefik down",
        60,
        || async {
            let record = records.get_opt(STOCK_HOSTNAME).await.ok().flatten();
            Ok(record.map(|r| r.spec).filter(|spec| {
                let healthy = |cluster: &str| {
                    spec.endpoints
                        .iter()
                        .find(|e| e.cluster_name == cluster)
                        .map(|e| e.hub_healthy)
                };
                healthy(TRAEFIK_MEMBER) == Some(false) && healthy(PROXY_MEMBER) == Some(true)
            }))
        },
    )
    .await;
    println!("stock DNSRecord endpoints: {:?}", stock.endpoints);
    let dir = tempfile::tempdir().expect("a temp dir for DNS caches");
    let mut servers = Vec::new();
    for (name, ip, client, hub) in [
        ("hub", fed.hub.address(DNS_HOST), fed.hub.client(), true),
        (
            TRAEFIK_MEMBER,
            traefik_cluster.address(DNS_HOST),
            traefik_cluster.client(),
            false,
        ),
        (
            PROXY_MEMBER,
            proxy_cluster.address(DNS_HOST),
            proxy_cluster.client(),
            false,
        ),
    ] {
        servers.push(start_dns(ip, client, &dir.path().join(format!("{name}.json")), hub).await);
    }
    let dns: Vec<SocketAddr> = servers.iter().map(|s| s.dns[0]).collect();
    dns_answers(
        &dns,
        &[traefik_ip, proxy_ip],
        60,
        "DNS answers with both members",
    )
    .await;
    dns_answers_for(
        STOCK_HOSTNAME,
        &dns,
        &[proxy_ip],
        60,
        "DNS answers stock with member-proxy only",
    )
    .await;

    // Traefik dies. It withdraws nothing (its Gateway status still says
    // Programmed), so the probes are what notice: its member leaves DNS,
    // the DNSPolicy reports it unhealthy, the other member keeps serving.
    tokio::time::sleep(Duration::from_secs(u64::from(SUCCESSES) + 1)).await;
    traefik.stop();
    let took = dns_answers(
        &dns,
        &[proxy_ip],
        30,
        "Traefik stopped: DNS answers only member-proxy",
    )
    .await;
    assert!(
        took <= Duration::from_secs(u64::from(FAILURES) + 4),
        "out of DNS after {took:?}"
    );
    let policies = Api::<DNSPolicy>::namespaced(hub.clone(), "web");
    eventually(
        "the DNSPolicy reports member-traefik unhealthy",
        30,
        || async {
            let policy = policies.get_opt("shop").await.ok().flatten();
            let endpoints = policy
                .and_then(|p| p.status)
                .map(|s| s.endpoints)
                .unwrap_or_default();
            let healthy = |cluster: &str| {
                endpoints
                    .iter()
                    .find(|e| e.cluster_name == cluster)
                    .map(|e| e.healthy)
            };
            Ok(
                (healthy(TRAEFIK_MEMBER) == Some(false) && healthy(PROXY_MEMBER) == Some(true))
                    .then_some(()),
            )
        },
    )
    .await;
    // What the hub Gateway says now is what the members' statuses say:
    // Traefik's copy still reads Programmed (see docs/IMPLEMENTATIONS.md).
    let stale = serde_json::to_value(
        hub_gateways
            .get("shop")
            .await
            .expect("reading the hub Gateway"),
    )
    .unwrap_or_default();
    println!(
        "hub Gateway with Traefik stopped: Programmed={}",
        condition(&stale, "Programmed").cloned().unwrap_or_default()
    );
    assert!(
        get(traefik_ip, HOSTNAME, "/").await.is_err(),
        "nothing answers at Traefik's address"
    );
    reaches(proxy_ip, "/", "shop", "member-proxy keeps serving").await;

    // Traefik back: its member returns to DNS.
    traefik.resume().expect("restarting Traefik");
    reaches(traefik_ip, "/", "shop", "Traefik serves again").await;
    dns_answers(
        &dns,
        &[traefik_ip, proxy_ip],
        30,
        "Traefik back: DNS answers with both again",
    )
    .await;

    // Traefik acted as its own ServiceAccount, never as admin: every write
    // it made is a status update (its RBAC allows nothing else).
    let writes = traefik_cluster
        .audited_writes_by(&format!(
            "system:serviceaccount:{}:{}",
            fedway_e2e::traefik::NAMESPACE,
            fedway_e2e::traefik::SERVICE_ACCOUNT
        ))
        .expect("reading member-traefik's audit log");
    assert!(!writes.is_empty(), "Traefik wrote no status");
    for (verb, uri) in &writes {
        let path = uri.split('?').next().unwrap_or_default();
        assert!(
            verb == "update" && path.ends_with("/status"),
            "Traefik wrote {verb} {uri}"
        );
    }
    println!("Traefik's writes (all status updates): {}", writes.len());

    for server in servers {
        server.shutdown().await;
    }
    proxy.abort();
    println!("whole scenario: {:?}", started.elapsed());
    if std::env::var_os("FEDWAY_E2E_KEEP").is_some() {
        println!("Traefik's log (tail):\n{}", traefik.log_tail(40));
    }
}
