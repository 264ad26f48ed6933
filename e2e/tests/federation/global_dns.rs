//! Global DNS end to end (issue #4): several fedway-dns instances, one
//! beside each member's API server and one beside the hub's, answer
//! consistently from the same DNSRecords and their own probes, fail over
//! when a member's gateway stops answering, and keep doing both while the
//! hub's API server is down.
//!
//! There is no real gateway in the members: each member's copy of the
//! Gateway is reported Programmed at an address of that member's own
//! loopback slot, and a tiny HTTP stand-in listens there for the probes.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use fedway_crds::{DNSPolicy, DNSRecord};
use fedway_dns::{Config, Running, Source, rate_limit::RateLimitConfig};
use kube::{Api, Client};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    task::JoinHandle,
};

use crate::{Federation, apply, eventually, gateways, implementation_reports, namespace};

const REGION: &str = "topology.kubernetes.io/region";
const HOSTNAME: &str = "shop.global.example.com";
/// The policy's health check: interval 1 s, 2 failures out, 2 successes in.
const INTERVAL: Duration = Duration::from_secs(1);
const FAILURES: u32 = 2;
const SUCCESSES: u32 = 2;
/// Scheduling slack on a loaded 2-core machine.
const SLACK: Duration = Duration::from_secs(1);
/// Where, in its cluster's slot, each member's gateway and each DNS server
/// listen (hosts 1 to 9 are the harness's).
const GATEWAY_HOST: u8 = 10;
const DNS_HOST: u8 = 53;

fn zone() -> Value {
    json!({
        "apiVersion": "fedway.dev/v1alpha1", "kind": "DNSZone",
        "metadata": {"name": "global"},
        "spec": {"zone": "global.example.com",
                 "nameServers": [{"name": "ns1.global.example.com", "addresses": ["192.0.2.53"]}]},
    })
}

fn policy(probe_port: u16) -> Value {
    json!({
        "apiVersion": "fedway.dev/v1alpha1", "kind": "DNSPolicy",
        "metadata": {"name": "shop", "namespace": "web"},
        "spec": {
            "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shop"}],
            "strategy": "Failover",
            "ttlSeconds": 5,
            "priorities": [
                {"clusterSelector": {"matchLabels": {REGION: "eu-west"}}, "priority": 1},
                {"clusterSelector": {"matchLabels": {REGION: "us-east"}}, "priority": 2},
            ],
            "healthCheck": {"protocol": "HTTP", "port": probe_port, "path": "/",
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
                 "listeners": [{"name": "http", "port": 80, "protocol": "HTTP", "hostname": HOSTNAME}]},
    })
}

/// A gateway stand-in: answers `GET` with 200 when the Host header is
/// [`HOSTNAME`], 421 (misdirected) otherwise.
struct StandIn {
    task: JoinHandle<()>,
}

impl StandIn {
    async fn start(address: SocketAddr) -> StandIn {
        let listener = TcpListener::bind(address)
            .await
            .unwrap_or_else(|e| panic!("binding the gateway stand-in on {address}: {e}"));
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(serve_http(stream));
            }
        });
        StandIn { task }
    }

    /// Stops listening (connections are refused from then on).
    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

async fn serve_http(mut stream: tokio::net::TcpStream) {
    let mut request = Vec::new();
    let mut buffer = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
        if request.len() > 16 * 1024 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
    let status = if text.contains(&format!("\r\nhost: {HOSTNAME}\r\n")) {
        "200 OK"
    } else {
        "421 Misdirected Request"
    };
    let _ = stream
        .write_all(
            format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await;
    let _ = stream.shutdown().await;
}

/// A TCP port free on every one of `ips`.
fn free_port(ips: &[Ipv4Addr]) -> u16 {
    for _ in 0..100 {
        let first = std::net::TcpListener::bind((ips[0], 0)).expect("binding a probe port");
        let port = first.local_addr().expect("its address").port();
        if ips[1..]
            .iter()
            .all(|ip| std::net::TcpListener::bind((*ip, port)).is_ok())
        {
            return port;
        }
    }
    panic!("no port free on all of {ips:?}");
}

/// One fedway-dns, in this process, watching one cluster's API server.
struct Dns {
    name: &'static str,
    address: SocketAddr,
    cache: PathBuf,
    running: Option<Running>,
}

impl Dns {
    /// Starts on `ip` (port chosen by the kernel) with its own cache file in
    /// `dir`. `client` must have been built in the runtime that runs this.
    async fn start(name: &'static str, ip: Ipv4Addr, client: Client, dir: &Path, hub: bool) -> Dns {
        let cache = dir.join(format!("{name}.cache.json"));
        let address = SocketAddr::new(IpAddr::V4(ip), 0);
        let running = start_dns(address, client, &cache, hub).await;
        Dns {
            name,
            address: running.dns[0],
            cache,
            running: Some(running),
        }
    }

    async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }

    /// Starts again on the same address with the same cache file.
    async fn restart(&mut self, client: Client) {
        self.stop().await;
        self.running = Some(start_dns(self.address, client, &self.cache, false).await);
    }
}

async fn start_dns(address: SocketAddr, client: Client, cache: &Path, hub: bool) -> Running {
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

/// The A records one UDP query for the hostname gets from `server`.
async fn resolve(server: SocketAddr) -> Result<Vec<IpAddr>, String> {
    fedway_e2e::traffic::resolve(server, HOSTNAME, None).await
}

/// Queries every server every 50 ms until each answers exactly `want`;
/// returns how long each took, or panics after `limit` naming the servers
/// that did not and what they last answered.
async fn all_answer(
    servers: &[&Dns],
    want: Ipv4Addr,
    limit: Duration,
    what: &str,
) -> Vec<Duration> {
    let started = Instant::now();
    let want = vec![IpAddr::V4(want)];
    let mut took: Vec<Option<Duration>> = vec![None; servers.len()];
    let mut last: Vec<Result<Vec<IpAddr>, String>> = vec![Err("not asked".into()); servers.len()];
    loop {
        let replies =
            futures::future::join_all(servers.iter().map(|dns| resolve(dns.address))).await;
        for (i, reply) in replies.into_iter().enumerate() {
            if took[i].is_none() && reply.as_ref() == Ok(&want) {
                took[i] = Some(started.elapsed());
            }
            last[i] = reply;
        }
        if took.iter().all(Option::is_some) {
            return took.into_iter().flatten().collect();
        }
        if started.elapsed() > limit {
            let pending: Vec<String> = servers
                .iter()
                .zip(&took)
                .zip(&last)
                .filter(|((_, took), _)| took.is_none())
                .map(|((dns, _), last)| format!("{} ({}): {last:?}", dns.name, dns.address))
                .collect();
            panic!("{what}: not within {limit:?}; still waiting for {pending:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `all_answer`, then prints how long each server took.
async fn answered_by_all(
    what: &str,
    servers: &[&Dns],
    want: Ipv4Addr,
    bound: Duration,
) -> Vec<Duration> {
    let took = all_answer(servers, want, bound, what).await;
    for (dns, took) in servers.iter().zip(&took) {
        println!(
            "{what}: {} answered in {took:?} (bound {bound:?})",
            dns.name
        );
    }
    took
}

/// Queries every server every 50 ms for `period`; returns per server the
/// number of queries and the failures (no reply, an error or not `want`).
async fn steady(servers: &[&Dns], want: Ipv4Addr, period: Duration) -> Vec<(usize, Vec<String>)> {
    let want = vec![IpAddr::V4(want)];
    let mut tally: Vec<(usize, Vec<String>)> = vec![(0, Vec::new()); servers.len()];
    let started = Instant::now();
    while started.elapsed() < period {
        let replies =
            futures::future::join_all(servers.iter().map(|dns| resolve(dns.address))).await;
        for ((count, failures), reply) in tally.iter_mut().zip(replies) {
            *count += 1;
            match reply {
                Ok(ips) if ips == want => {}
                other => failures.push(format!("{other:?}")),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tally
}

/// Waits until the hub's DNS server has reported, in the DNSPolicy's
/// `status.endpoints`, the health `want` of (member-a, member-b).
async fn policy_reports(hub: &Client, want: (bool, bool), what: &str) {
    let policies = Api::<DNSPolicy>::namespaced(hub.clone(), "web");
    eventually(what, 15, || async {
        let policy = policies.get_opt("shop").await.ok().flatten();
        let endpoints = policy.and_then(|p| p.status).map(|s| s.endpoints);
        let healthy = |cluster: &str| {
            endpoints
                .iter()
                .flatten()
                .find(|e| e.cluster_name == cluster)
                .map(|e| e.healthy)
        };
        Ok(
            (healthy("member-a") == Some(want.0) && healthy("member-b") == Some(want.1))
                .then_some(()),
        )
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_servers_in_every_cluster_answer_alike_and_fail_over_without_the_hub() {
    let mut fed = Federation::start(&[
        ("member-a", &[(REGION, "eu-west")]),
        ("member-b", &[(REGION, "us-east")]),
    ])
    .await;
    let hub = fed.hub.client();
    let eu = fed.member("member-a").cluster.address(GATEWAY_HOST);
    let us = fed.member("member-b").cluster.address(GATEWAY_HOST);
    let port = free_port(&[eu, us]);
    let eu_gateway = SocketAddr::new(IpAddr::V4(eu), port);
    let us_gateway = SocketAddr::new(IpAddr::V4(us), port);
    let mut eu_stand_in = Some(StandIn::start(eu_gateway).await);
    let _us_stand_in = StandIn::start(us_gateway).await;

    apply(&hub, zone()).await;
    namespace(&hub, "web").await;
    apply(&hub, policy(port)).await;
    apply(&hub, gateway()).await;
    // Each member's implementation programs its copy, at its own address.
    for (member, address) in [("member-a", eu), ("member-b", us)] {
        let client = fed.member(member).cluster.client();
        eventually(&format!("Gateway web/shop in {member}"), 30, || async {
            Ok(gateways(&client, "web")
                .get_opt("shop")
                .await
                .ok()
                .flatten())
        })
        .await;
        implementation_reports(&gateways(&client, "web"), "shop", json!({
            "addresses": [{"type": "IPAddress", "value": address.to_string()}],
            "conditions": [
                {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "Programmed", "status": "True", "reason": "Programmed", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"},
            ],
        }))
        .await;
    }

    // The hub's record names both members, healthy, and every member holds
    // the same copy.
    let records = Api::<DNSRecord>::all(hub.clone());
    let want = eventually(
        "the hub's DNSRecord with both members healthy",
        60,
        || async {
            let record = records.get_opt(HOSTNAME).await.ok().flatten();
            Ok(record.map(|r| r.spec).filter(|spec| {
                spec.health_check.is_some()
                    && spec.endpoints.len() == 2
                    && spec.endpoints.iter().all(|e| e.hub_healthy)
            }))
        },
    )
    .await;
    for member in ["member-a", "member-b"] {
        let copies = Api::<DNSRecord>::all(fed.member(member).cluster.client());
        eventually(&format!("{member}'s copy of the DNSRecord"), 30, || async {
            let copy = copies.get_opt(HOSTNAME).await.ok().flatten();
            Ok(copy.filter(|c| c.spec == want).map(drop))
        })
        .await;
    }

    // One DNS server beside each API server, each on an address of its own
    // cluster, each with its own cache. The clients are built here, in the
    // runtime that runs the servers.
    let dir = tempfile::tempdir().expect("a temp dir for the caches");
    let hub_dns = Dns::start(
        "hub",
        fed.hub.address(DNS_HOST),
        fed.hub.client(),
        dir.path(),
        true,
    )
    .await;
    let mut a_dns = Dns::start(
        "member-a",
        fed.member("member-a").cluster.address(DNS_HOST),
        fed.member("member-a").cluster.client(),
        dir.path(),
        false,
    )
    .await;
    let b_dns = Dns::start(
        "member-b",
        fed.member("member-b").cluster.address(DNS_HOST),
        fed.member("member-b").cluster.client(),
        dir.path(),
        false,
    )
    .await;

    // The same answer everywhere: the primary region.
    answered_by_all(
        "initial answer",
        &[&hub_dns, &a_dns, &b_dns],
        eu,
        Duration::from_secs(60),
    )
    .await;
    // Let every server's probes see eu-west healthy (successThreshold), so
    // failover below starts from Healthy, not from Unknown.
    tokio::time::sleep(INTERVAL * (SUCCESSES + 1)).await;

    // eu-west's gateway stops: every server's own probes take it out.
    let failover_bound = INTERVAL * (FAILURES + 1) + SLACK;
    let failback_bound = INTERVAL * (SUCCESSES + 1) + SLACK;
    eu_stand_in
        .take()
        .expect("eu-west's stand-in runs")
        .stop()
        .await;
    answered_by_all(
        "failover (hub up)",
        &[&hub_dns, &a_dns, &b_dns],
        us,
        failover_bound,
    )
    .await;
    // The server beside the hub reports what its probes see.
    policy_reports(
        &hub,
        (false, true),
        "eu-west reported unhealthy in the DNSPolicy",
    )
    .await;
    eu_stand_in = Some(StandIn::start(eu_gateway).await);
    let took = answered_by_all(
        "fail-back (hub up)",
        &[&hub_dns, &a_dns, &b_dns],
        eu,
        failback_bound,
    )
    .await;
    for (dns, took) in [&hub_dns, &a_dns, &b_dns].iter().zip(&took) {
        // Hysteresis: one good probe is not enough. (Probes run on a fixed
        // schedule, so a late first probe can be followed by the next in
        // a little less than an interval.)
        assert!(
            *took >= INTERVAL * (SUCCESSES - 1) - Duration::from_millis(300),
            "{} returned eu-west after {took:?}, before {SUCCESSES} successes",
            dns.name
        );
    }

    policy_reports(
        &hub,
        (true, true),
        "eu-west reported healthy again in the DNSPolicy",
    )
    .await;

    // The hub's API server goes away: the members' servers answer every
    // query, and still fail over and back on their own probes.
    fed.hub.stop_api_server();
    let hub_stopped = Instant::now();
    let tally = steady(&[&hub_dns, &a_dns, &b_dns], eu, Duration::from_secs(5)).await;
    for (dns, (count, failures)) in [&hub_dns, &a_dns, &b_dns].iter().zip(&tally) {
        println!(
            "hub down: {} answered {} of {count} queries",
            dns.name,
            count - failures.len()
        );
        assert!(
            failures.is_empty(),
            "{} failed {} of {count} queries with the hub down: {failures:?}",
            dns.name,
            failures.len()
        );
    }
    eu_stand_in
        .take()
        .expect("eu-west's stand-in runs")
        .stop()
        .await;
    answered_by_all(
        "failover (hub down)",
        &[&hub_dns, &a_dns, &b_dns],
        us,
        failover_bound,
    )
    .await;
    eu_stand_in = Some(StandIn::start(eu_gateway).await);
    answered_by_all(
        "fail-back (hub down)",
        &[&hub_dns, &a_dns, &b_dns],
        eu,
        failback_bound,
    )
    .await;
    println!("hub API server down for {:?}", hub_stopped.elapsed());
    fed.hub
        .start_api_server()
        .await
        .expect("restarting the hub's API server");
    // The hub controller gives up its leadership when it cannot renew its
    // lease; start it again, as its Deployment would.
    fed.start_hub_controller();
    all_answer(
        &[&hub_dns, &a_dns, &b_dns],
        eu,
        Duration::from_secs(10),
        "every DNS server answers eu-west after the hub returns",
    )
    .await;

    // member-a's API server and its DNS server restart together; the DNS
    // server answers from its disk cache before the API server is back.
    let a = fed
        .members
        .iter()
        .position(|m| m.name == "member-a")
        .expect("member-a");
    fed.members[a].cluster.stop_api_server();
    a_dns.restart(fed.members[a].cluster.client()).await;
    answered_by_all(
        "restart from cache (member-a API server down)",
        &[&a_dns],
        eu,
        Duration::from_secs(2),
    )
    .await;
    let tally = steady(&[&a_dns], eu, Duration::from_secs(2)).await;
    assert!(
        tally[0].1.is_empty(),
        "member-a's DNS server from its cache: {:?}",
        tally[0].1
    );
    // Its probes run from the cache too: failover without any API server.
    eu_stand_in
        .take()
        .expect("eu-west's stand-in runs")
        .stop()
        .await;
    answered_by_all(
        "failover (member-a from cache)",
        &[&a_dns, &b_dns],
        us,
        failover_bound,
    )
    .await;
    let _eu_stand_in = StandIn::start(eu_gateway).await;
    fed.members[a]
        .cluster
        .start_api_server()
        .await
        .expect("restarting member-a's API server");
    all_answer(
        &[&hub_dns, &a_dns, &b_dns],
        eu,
        Duration::from_secs(15),
        "every DNS server answers eu-west at the end",
    )
    .await;

    for mut dns in [hub_dns, a_dns, b_dns] {
        dns.stop().await;
    }
}
