//! The whole journey (what a Fedway user does, end to end), as steps that
//! the e2e test asserts on and `fedway-demo` narrates — one code path:
//!
//! 1. a hub and three members (regions eu-west, us-east, ap-south) on real
//!    control planes with kube-controller-manager + kwok (echo pods run as
//!    local processes on their pod IPs), joined as `fedway-hub join` does;
//!    in each member Fedway's lb-proxy (no native implementation there) and
//!    a fedway-dns, and one fedway-dns beside the hub;
//! 2. the app, applied once in the hub: a `fedway` Gateway for
//!    `shop.global.example.com`, two HTTPRoutes (a path match and a header
//!    match, to different backends) and a Failover DNSPolicy (region
//!    priorities, 1 s probes, TTL 5 s);
//! 3. every member programmed, every DNS server answering the primary's
//!    address, a client resolving through Fedway's DNS reaching the right
//!    backend for each route;
//! 4. the primary's gateway killed: DNS moves to the next region (time
//!    measured); restored: fail-back;
//! 5. a member's API server stopped: NotReady, its endpoints out of DNS,
//!    nothing deleted anywhere;
//! 6. the hub stopped: DNS keeps answering and failing over from the
//!    members; restarted: converges with no writes of its own;
//! 7. Weighted and Geo (EDNS Client Subnet) variants;
//!
//! plus spillover: a member whose backend lost its pods forwards requests
//! to a peer member's gateway, so clients still sent there by cached DNS
//! answers succeed.
//!
//! The steps reach the clusters only through an [`Environment`]:
//! [`LocalEnv`] (the above, on this machine; what the test runs) or
//! [`KindEnv`] (the same scenario on kind clusters that `e2e/kind/run.sh`
//! creates, Fedway's images and manifests as Pods). Only cluster creation
//! and the few operations the trait names differ; [`check`] holds the
//! assertions both run.

pub mod check;
mod env;
mod kind;
mod local;

pub use env::{DnsServer, Environment};
pub use kind::{KindConfig, KindEnv};
pub use local::LocalEnv;

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use fedway_crds::{DNSPolicy, DNSRecord, MemberCluster};
use k8s_openapi::api::coordination::v1::Lease;
use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, Patch, PatchParams},
};
use serde_json::{Value, json};

use crate::{
    manifests,
    traffic::{self, Reply},
};

pub const ZONE: &str = "global.example.com";
pub const HOSTNAME: &str = "shop.global.example.com";
pub const REGION_LABEL: &str = "topology.kubernetes.io/region";
pub const PORT: u16 = 80;
const NAMESPACE: &str = "web";
/// The members, in failover order, with their regions and the client
/// subnet each region's users come from (Geo).
pub const SITES: [(&str, &str, &str); 3] = [
    ("member-eu", "eu-west", "10.1.0.0/16"),
    ("member-us", "us-east", "10.2.0.0/16"),
    ("member-ap", "ap-south", "10.3.0.0/16"),
];
/// Backends every member runs: `/` → shop, `/cart` → cart, header
/// `x-beta: 1` → beta.
const BACKENDS: [&str; 3] = ["shop", "cart", "beta"];
/// The DNSPolicy's probes: every second, 2 failures out, 2 successes in.
pub const FAILURE_THRESHOLD: u32 = 2;
pub const SUCCESS_THRESHOLD: u32 = 2;

/// Where the narration goes: stdout for the demo, the log for tests.
pub trait Narrate: Send + Sync {
    fn step(&self, title: &str);
    fn say(&self, line: &str);
}

/// Prints each step and what was seen.
pub struct Print;

impl Narrate for Print {
    fn step(&self, title: &str) {
        println!("\n== {title}");
    }
    fn say(&self, line: &str) {
        println!("   {line}");
    }
}

/// Logs the narration (tests print only on failure).
pub struct Log;

impl Narrate for Log {
    fn step(&self, title: &str) {
        tracing::info!("== {title}");
    }
    fn say(&self, line: &str) {
        tracing::info!("   {line}");
    }
}

/// The journey's steps, run in environment `E` (this machine by default).
pub struct Journey<E: Environment = LocalEnv> {
    pub env: E,
    narrate: Box<dyn Narrate>,
    /// The DNS servers: the hub's first, then one per member.
    pub dns: Vec<DnsServer>,
    /// Each member's gateway address, from [`converge`](Self::converge) on.
    gateway_ips: BTreeMap<String, Ipv4Addr>,
    /// Measured durations by name, for the test's bounds and the summary.
    pub measured: BTreeMap<&'static str, Duration>,
}

impl Journey<LocalEnv> {
    /// Step 1 on this machine: clusters, joins, backends, lb-proxy and DNS
    /// everywhere.
    pub async fn start(narrate: Box<dyn Narrate>) -> Result<Journey<LocalEnv>> {
        narrate.step("1. A hub and three members on real control planes, joined");
        let env = LocalEnv::start(&*narrate).await?;
        Journey::with_env(env, narrate).await
    }
}

impl Journey<KindEnv> {
    /// Step 1 on kind clusters `e2e/kind/run.sh` created, joined and
    /// installed: connects, then the same set-up as [`Journey::start`].
    pub async fn start_kind(
        config: KindConfig,
        narrate: Box<dyn Narrate>,
    ) -> Result<Journey<KindEnv>> {
        narrate.step("1. A hub and three members on kind clusters, joined");
        let env = KindEnv::connect(config, &*narrate).await?;
        Journey::with_env(env, narrate).await
    }
}

impl<E: Environment> Journey<E> {
    /// The rest of step 1 in any environment: fast heartbeats and the echo
    /// backends in every member.
    pub async fn with_env(env: E, narrate: Box<dyn Narrate>) -> Result<Journey<E>> {
        for (name, region, _) in SITES {
            narrate.say(&format!(
                "joined as: fedway-hub join {name} --label {REGION_LABEL}={region} --output {name}-agent.kubeconfig"
            ));
        }
        let hub = env.hub();
        // Fast heartbeats for the demo: NotReady after 3 missed 1 s renewals.
        for (name, _, _) in SITES {
            patch_merge(
                &Api::<MemberCluster>::all(hub.clone()),
                name,
                json!({"spec": {"heartbeat": {"interval": "1s", "missedBeforeNotReady": 3}}}),
            )
            .await?;
        }
        for (name, _, _) in SITES {
            let client = env.member(name)?;
            apply(&client, namespace(NAMESPACE)).await?;
            for backend in BACKENDS {
                for object in echo_backend(env.echo_image(), backend, name) {
                    apply(&client, object).await?;
                }
            }
        }
        let dns = env.dns_servers();
        for server in &dns {
            narrate.say(&format!(
                "fedway-dns beside {:<9} on {}",
                server.cluster, server.address
            ));
        }
        // An agent takes a new interval at its next renewal, and until then
        // the hub rightly judges it by the old one (10 s × 3): the steps
        // below lose members and hubs, so they start once every agent
        // renews at 1 s.
        let leases: Vec<Api<Lease>> = SITES
            .iter()
            .map(|(name, _, _)| {
                Api::namespaced(hub.clone(), &fedway_hub::join::member_namespace(name))
            })
            .collect();
        wait_for("every agent renewing its Lease every 1 s", 30, || {
            let leases = leases.clone();
            async move {
                for api in &leases {
                    let lease = api.get_opt(fedway_agent::heartbeat::LEASE_NAME).await?;
                    let declared = lease.and_then(|l| l.spec?.lease_duration_seconds);
                    if declared != Some(1) {
                        return Ok(None);
                    }
                }
                Ok(Some(()))
            }
        })
        .await?;
        narrate.say("every agent renews its heartbeat Lease every 1 s");
        Ok(Journey {
            env,
            narrate,
            dns,
            gateway_ips: BTreeMap::new(),
            measured: BTreeMap::new(),
        })
    }

    pub fn say(&self, line: &str) {
        self.narrate.say(line);
    }

    /// The address member `name`'s copy of the Gateway is served on (known
    /// from [`converge`](Self::converge) on; unspecified before).
    pub fn gateway_ip(&self, name: &str) -> Ipv4Addr {
        self.gateway_ips
            .get(name)
            .copied()
            .unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    /// Step 2: the app team's objects, once, in the hub.
    pub async fn apply_app(&mut self) -> Result<()> {
        self.narrate
            .step("2. Applied once in the hub: Gateway, two HTTPRoutes, DNSPolicy");
        let hub = self.env.hub();
        let servers: Vec<SocketAddr> = self.dns.iter().map(|d| d.address).collect();
        apply(&hub, dns_zone(&servers)).await?;
        apply(&hub, namespace(NAMESPACE)).await?;
        for object in [
            gateway(),
            route_by_path(),
            route_by_header(),
            dns_policy(failover()),
        ] {
            let kind = object["kind"].as_str().unwrap_or_default().to_owned();
            let name = object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            apply(&hub, object).await?;
            self.narrate.say(&format!("kubectl apply {kind}/{name}"));
        }
        self.narrate.say(&format!(
            "Failover by region: {}",
            SITES
                .iter()
                .enumerate()
                .map(|(i, (_, r, _))| format!("{r} (priority {i})"))
                .collect::<Vec<_>>()
                .join(" > ")
        ));
        Ok(())
    }

    /// Step 3: programmed everywhere; DNS and HTTP as a client sees them.
    pub async fn converge(&mut self) -> Result<()> {
        self.narrate
            .step("3. Every member programmed; DNS and HTTP through Fedway's DNS");
        let started = Instant::now();
        for (name, _, _) in SITES {
            let ip = self.env.gateway_address(name).await?;
            self.gateway_ips.insert(name.to_owned(), ip);
        }
        let hub = self.env.hub();
        let gateways = gateway_api(&hub);
        let want: Vec<String> = SITES
            .iter()
            .map(|(n, _, _)| self.gateway_ip(n).to_string())
            .collect();
        wait_for(
            "the hub Gateway Programmed with every member's address",
            120,
            || {
                let gateways = gateways.clone();
                let want = want.clone();
                async move {
                    let gw = gateways.get_opt("shop").await.ok().flatten();
                    let gw = gw.and_then(|g| serde_json::to_value(g).ok());
                    Ok(gw
                        .filter(|g| {
                            let programmed =
                                condition(g, "Programmed").is_some_and(|c| c["status"] == "True");
                            let addresses: Vec<&str> = g["status"]["addresses"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(|a| a["value"].as_str())
                                .collect();
                            programmed && want.iter().all(|w| addresses.contains(&w.as_str()))
                        })
                        .map(drop))
                }
            },
        )
        .await?;
        self.narrate.say(&format!(
            "hub Gateway web/shop: Programmed, addresses {} ({:.1?} after apply)",
            want.join(", "),
            started.elapsed()
        ));
        let primary = self.gateway_ip(SITES[0].0);
        let took = self
            .dns_answers(&[primary], 60, "every DNS server answers the primary")
            .await?;
        self.measured.insert("first answer", took);
        self.check_routes().await
    }

    /// For each route: resolve through a DNS server, then GET through the
    /// address it gave; the backend that answers must be the route's.
    pub async fn check_routes(&self) -> Result<()> {
        let server = self.dns[0].address;
        for (path, headers, backend) in [
            ("/", &[][..], "shop"),
            ("/cart/checkout", &[][..], "cart"),
            ("/", &[("x-beta", "1")][..], "beta"),
        ] {
            let reply = wait_for(
                &format!("GET {path} reaches {backend}"),
                60,
                || async move {
                    let ips = traffic::resolve(server, HOSTNAME, None)
                        .await
                        .map_err(anyhow::Error::msg)?;
                    let Some(ip) = ips.first() else {
                        return Ok(None);
                    };
                    let reply =
                        traffic::get(SocketAddr::new(*ip, PORT), HOSTNAME, path, headers).await;
                    Ok(reply
                        .ok()
                        .filter(|r| r.status == 200 && served_by(r).0 == backend)
                        .map(|r| (*ip, r)))
                },
            )
            .await?;
            let (ip, reply) = reply;
            let (backend, member) = served_by(&reply);
            let headers: String = headers
                .iter()
                .map(|(n, v)| format!(" -H '{n}: {v}'"))
                .collect();
            self.narrate.say(&format!(
                "dig @{server} {HOSTNAME} → {ip}; curl{headers} http://{HOSTNAME}{path} → {} from {backend} in {member}",
                reply.status
            ));
        }
        Ok(())
    }

    /// Spillover: the primary's `shop` pods gone, its gateway forwards to a
    /// peer; clients still sent to the primary get answers.
    pub async fn spillover(&mut self) -> Result<Reply> {
        self.narrate
            .step("Spillover: the primary's shop pods gone, its gateway forwards to a peer");
        let (primary, _, _) = SITES[0];
        let primary_client = self.env.member(primary)?;
        scale(&primary_client, "shop", 0).await?;
        self.narrate.say(&format!(
            "kubectl --context {primary} scale deployment/shop --replicas=0"
        ));
        let address = SocketAddr::new(IpAddr::V4(self.gateway_ip(primary)), PORT);
        let reply = wait_for(
            "the primary's gateway spills /shop over to a peer",
            60,
            || async move {
                let reply = traffic::get(address, HOSTNAME, "/", &[]).await.ok();
                Ok(reply.filter(|r| r.status == 200 && served_by(r).1 != primary))
            },
        )
        .await?;
        let (backend, member) = served_by(&reply);
        self.narrate.say(&format!(
            "curl http://{HOSTNAME}/ via {address} (the primary) → {} from {backend} in {member}",
            reply.status
        ));
        scale(&primary_client, "shop", 1).await?;
        let back = wait_for("the primary serves /shop itself again", 60, || async move {
            let reply = traffic::get(address, HOSTNAME, "/", &[]).await.ok();
            Ok(reply.filter(|r| r.status == 200 && served_by(r).1 == primary))
        })
        .await?;
        self.narrate.say(&format!(
            "scaled back to 1: served by {} in {} again",
            served_by(&back).0,
            served_by(&back).1
        ));
        Ok(reply)
    }

    /// Step 4: kill the primary's gateway; DNS moves to the next region.
    pub async fn failover(&mut self) -> Result<()> {
        self.narrate
            .step("4. The primary's gateway killed: DNS fails over; restored: fails back");
        let (primary, _, _) = SITES[0];
        let (secondary, region, _) = SITES[1];
        // From a steady state: every server on the primary first.
        self.dns_answers(
            &[self.gateway_ip(primary)],
            30,
            "every DNS server answers the primary before the kill",
        )
        .await?;
        self.env.kill_gateway(primary).await?;
        self.narrate.say(&format!(
            "killed {primary}'s gateway ({})",
            self.gateway_ip(primary)
        ));
        let took = self
            .dns_answers(
                &[self.gateway_ip(secondary)],
                30,
                "every DNS server answers the secondary",
            )
            .await?;
        self.measured.insert("failover", took);
        self.narrate.say(&format!(
            "{:.1?} from the kill to every DNS server answering {} ({secondary}, {region}) only (probes 1 s, {FAILURE_THRESHOLD} failures)",
            took,
            self.gateway_ip(secondary)
        ));
        self.env.restore_gateway(primary).await?;
        let took = self
            .dns_answers(
                &[self.gateway_ip(primary)],
                30,
                "every DNS server answers the primary again",
            )
            .await?;
        self.measured.insert("failback", took);
        self.narrate.say(&format!(
            "restored: {took:.1?} to fail back ({SUCCESS_THRESHOLD} successes)"
        ));
        Ok(())
    }

    /// Step 5: a member's API server stopped (cluster loss).
    pub async fn cluster_loss(&mut self) -> Result<()> {
        let (lost, _, _) = SITES[2];
        self.narrate.step(&format!(
            "5. {lost}'s API server stopped: NotReady, out of DNS, nothing deleted"
        ));
        let objects_before = self.member_objects().await?;
        self.env.stop_member_api_server(lost).await?;
        let started = Instant::now();
        self.wait_member_ready(lost, false).await?;
        self.measured.insert("not ready", started.elapsed());
        self.narrate.say(&format!(
            "MemberCluster {lost} Ready=False after {:.1?}",
            started.elapsed()
        ));
        let lost_ip = self.gateway_ip(lost).to_string();
        self.hub_view_of(&lost_ip, false).await?;
        self.narrate.say(&format!(
            "DNSRecord endpoint {lost_ip} ({lost}): hubHealthy=false"
        ));
        let primary = self.gateway_ip(SITES[0].0);
        self.dns_answers(&[primary], 10, "the others still answer the primary")
            .await?;
        self.env.start_member_api_server(lost).await?;
        self.wait_member_ready(lost, true).await?;
        self.hub_view_of(&lost_ip, true).await?;
        let objects_after = self.member_objects_unchanged(objects_before).await?;
        self.narrate.say(&format!(
            "{lost} back, Ready=True, its endpoint hubHealthy again; Gateways and HTTPRoutes in every member as before: {}",
            objects_after.len()
        ));
        Ok(())
    }

    /// Step 5b: a member lost whole (kind: its node container stopped):
    /// NotReady, out of DNS for the others, nothing deleted anywhere; back,
    /// it serves as before.
    pub async fn member_loss(&mut self) -> Result<()> {
        let (lost, _, _) = SITES[2];
        self.narrate.step(&format!(
            "5b. {lost} lost whole (API server, agent, DNS server, gateway): NotReady, out of DNS, nothing deleted; back as it was"
        ));
        let objects_before = self.member_objects().await?;
        let stopped = self.env.stop_member(lost).await?;
        let started = Instant::now();
        self.narrate.say(&stopped);
        self.wait_member_ready(lost, false).await?;
        self.measured.insert("member lost", started.elapsed());
        self.narrate.say(&format!(
            "MemberCluster {lost} Ready=False {:.1?} after the stop returned",
            started.elapsed()
        ));
        let lost_ip = self.gateway_ip(lost).to_string();
        self.hub_view_of(&lost_ip, false).await?;
        self.probes_report(&lost_ip, false).await?;
        let survivors: Vec<SocketAddr> = self
            .dns
            .iter()
            .filter(|d| d.cluster != lost)
            .map(|d| d.address)
            .collect();
        let primary = self.gateway_ip(SITES[0].0);
        answers_on(
            &survivors,
            &[primary],
            10,
            "the other DNS servers answer the primary",
        )
        .await?;
        self.env.start_member(lost).await?;
        let back = Instant::now();
        self.wait_member_ready(lost, true).await?;
        self.hub_view_of(&lost_ip, true).await?;
        // The hub's DNS server probes its gateway healthy again.
        self.probes_report(&lost_ip, true).await?;
        // Its own DNS server again too, from what its cluster holds.
        self.dns_answers(&[primary], 60, "every DNS server answers the primary")
            .await?;
        self.measured.insert("member back", back.elapsed());
        let objects_after = self.member_objects_unchanged(objects_before).await?;
        self.narrate.say(&format!(
            "{lost} back: Ready, hubHealthy, probed healthy and answering DNS {:.1?} after it started; Gateways and HTTPRoutes in every member as before: {}",
            back.elapsed(),
            objects_after.len()
        ));
        Ok(())
    }

    /// Step 6: the hub stopped; DNS from the members keeps working.
    pub async fn hub_loss(&mut self) -> Result<usize> {
        self.narrate
            .step("6. The hub stopped: members' DNS answers and fails over; restarted: no writes");
        let stopped = self.env.stop_hub().await?;
        self.narrate.say(&stopped);
        let members_dns: Vec<SocketAddr> = self.dns[1..].iter().map(|d| d.address).collect();
        let (primary, _, _) = SITES[0];
        let (secondary, _, _) = SITES[1];
        answers_on(
            &members_dns,
            &[self.gateway_ip(primary)],
            10,
            "members answer without the hub",
        )
        .await?;
        self.env.kill_gateway(primary).await?;
        let took = answers_on(
            &members_dns,
            &[self.gateway_ip(secondary)],
            30,
            "members fail over without the hub",
        )
        .await?;
        self.measured.insert("failover without hub", took);
        self.narrate.say(&format!(
            "{primary}'s gateway killed again: members' DNS answer {secondary} after {took:.1?}"
        ));
        self.env.restore_gateway(primary).await?;
        answers_on(
            &members_dns,
            &[self.gateway_ip(primary)],
            30,
            "members fail back without the hub",
        )
        .await?;
        let writes_before = self.hub_controller_writes().await?.len();
        self.env.start_hub().await?;
        for (name, _, _) in SITES {
            self.wait_member_ready(name, true).await?;
        }
        tokio::time::sleep(Duration::from_secs(8)).await;
        let mut writes = self.hub_controller_writes().await?;
        let writes = writes.split_off(writes_before.min(writes.len()));
        self.narrate.say(&format!(
            "hub back: members Ready, {} write(s) to Gateways, routes, Works or DNS objects in 8 s",
            writes.len()
        ));
        for (verb, uri) in &writes {
            self.narrate.say(&format!("  {verb} {uri}"));
        }
        self.dns_answers(
            &[self.gateway_ip(primary)],
            30,
            "all servers answer the primary",
        )
        .await?;
        Ok(writes.len())
    }

    /// Step 7: the same app with Weighted, then Geo steering.
    pub async fn steering_variants(&mut self) -> Result<(usize, usize)> {
        self.narrate
            .step("7. Weighted and Geo: the DNSPolicy changed in the hub");
        let hub = self.env.hub();
        apply(&hub, dns_policy(weighted())).await?;
        let server = self.dns[1].address;
        let (eu, us) = (self.gateway_ip(SITES[0].0), self.gateway_ip(SITES[1].0));
        // The record the member's DNS server reads says Weighted, and the
        // server has rebuilt from it (its debounce is 50 ms).
        let records = Api::<DNSRecord>::all(self.env.member(SITES[0].0)?);
        wait_for("the member's DNSRecord is Weighted", 60, || {
            let records = records.clone();
            async move {
                let record = records.get_opt(HOSTNAME).await?;
                Ok(record
                    .filter(|r| r.spec.strategy == fedway_crds::dns_policy::DnsStrategy::Weighted)
                    .map(drop))
            }
        })
        .await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut counts: BTreeMap<IpAddr, usize> = BTreeMap::new();
        for _ in 0..400 {
            for ip in traffic::resolve(server, HOSTNAME, None)
                .await
                .map_err(anyhow::Error::msg)?
            {
                *counts.entry(ip).or_default() += 1;
            }
        }
        let to_eu = counts.get(&IpAddr::V4(eu)).copied().unwrap_or(0);
        let to_us = counts.get(&IpAddr::V4(us)).copied().unwrap_or(0);
        self.narrate.say(&format!(
            "Weighted eu-west 3 : us-east 1 : ap-south 0 → of 400 answers {to_eu} eu-west, {to_us} us-east, {} other",
            400 - to_eu - to_us
        ));

        apply(&hub, dns_policy(geo())).await?;
        for (name, region, subnet) in SITES {
            let want = IpAddr::V4(self.gateway_ip(name));
            let client = subnet.replace(".0.0/16", ".7.0/24");
            wait_for(&format!("Geo answers {region} for {client}"), 60, || {
                let client = client.clone();
                async move {
                    let ips = traffic::resolve(server, HOSTNAME, Some(&client))
                        .await
                        .map_err(anyhow::Error::msg)?;
                    Ok((ips == [want]).then_some(()))
                }
            })
            .await?;
            self.narrate.say(&format!(
                "Geo: dig +subnet={client} @{server} {HOSTNAME} → {want} ({name}, {region})"
            ));
        }
        apply(&hub, dns_policy(failover())).await?;
        Ok((to_eu, to_us))
    }

    /// Waits until the hub's DNSRecord says `healthy` for the endpoint with
    /// `address`.
    async fn hub_view_of(&self, address: &str, healthy: bool) -> Result<()> {
        let records = Api::<DNSRecord>::all(self.env.hub());
        wait_for(
            &format!("the hub marks {address} hubHealthy={healthy}"),
            60,
            || {
                let records = records.clone();
                async move {
                    let list = records.list(&Default::default()).await?;
                    Ok(list
                        .items
                        .iter()
                        .flat_map(|r| &r.spec.endpoints)
                        .find(|e| e.addresses.iter().any(|a| a == address))
                        .filter(|e| e.hub_healthy == healthy)
                        .map(drop))
                }
            },
        )
        .await
    }

    /// Waits until every DNS server answers exactly `want`; how long it took.
    async fn dns_answers(&self, want: &[Ipv4Addr], secs: u64, what: &str) -> Result<Duration> {
        let servers: Vec<SocketAddr> = self.dns.iter().map(|d| d.address).collect();
        answers_on(&servers, want, secs, what).await
    }

    /// Every member's Gateways and HTTPRoutes, failing unless they are
    /// `before` (uids compared): a loss deletes or recreates nothing.
    async fn member_objects_unchanged(
        &self,
        before: Vec<(String, String, String, String)>,
    ) -> Result<Vec<(String, String, String, String)>> {
        let after = self.member_objects().await?;
        if after != before {
            bail!("member objects changed across the loss: {before:?} → {after:?}");
        }
        Ok(after)
    }

    /// Waits until the DNSPolicy's status (the probe results the DNS server
    /// beside the hub reports) says `address` is healthy (or not).
    async fn probes_report(&self, address: &str, healthy: bool) -> Result<()> {
        let policies = Api::<DNSPolicy>::namespaced(self.env.hub(), NAMESPACE);
        wait_for(
            &format!("DNSPolicy {NAMESPACE}/shop reports {address} healthy={healthy}"),
            60,
            || {
                let policies = policies.clone();
                async move {
                    let policy = policies.get_opt("shop").await.ok().flatten();
                    Ok(policy
                        .and_then(|p| p.status)
                        .is_some_and(|s| {
                            s.endpoints
                                .iter()
                                .any(|e| e.address == address && e.healthy == healthy)
                        })
                        .then_some(()))
                }
            },
        )
        .await
    }

    /// Waits until the hub says member `name` is Ready (or not).
    async fn wait_member_ready(&self, name: &str, ready: bool) -> Result<()> {
        let members: Api<MemberCluster> = Api::all(self.env.hub());
        let want = if ready { "True" } else { "False" };
        wait_for(&format!("member {name} Ready={want}"), 60, || {
            let members = members.clone();
            async move {
                // An error is "not yet": the hub's API server may be
                // coming back.
                let member = members.get_opt(name).await.ok().flatten();
                let is = member
                    .and_then(|m| m.status)
                    .and_then(|s| s.conditions.into_iter().find(|c| c.type_ == "Ready"))
                    .is_some_and(|c| c.status == want);
                Ok(is.then_some(()))
            }
        })
        .await
    }

    /// The hub controller's writes to what it owns, without its Lease
    /// renewals and Events.
    async fn hub_controller_writes(&self) -> Result<Vec<(String, String)>> {
        Ok(self
            .env
            .hub_controller_writes()
            .await?
            .into_iter()
            .filter(|(_, uri)| {
                [
                    "/gateways",
                    "/httproutes",
                    "/works",
                    "/dnsrecords",
                    "/dnspolicies",
                ]
                .iter()
                .any(|k| uri.contains(k))
            })
            .collect())
    }

    /// Every Gateway and HTTPRoute in every member, by (member, kind, name)
    /// with its uid: the same set before and after a loss means nothing
    /// was deleted or recreated.
    async fn member_objects(&self) -> Result<Vec<(String, String, String, String)>> {
        let mut out = Vec::new();
        for (member, _, _) in SITES {
            for (kind, plural) in [("Gateway", "gateways"), ("HTTPRoute", "httproutes")] {
                let api: Api<DynamicObject> = Api::namespaced_with(
                    self.env.member(member)?,
                    NAMESPACE,
                    &gateway_api_resource(kind, plural),
                );
                for object in wait_for(&format!("listing {kind}s in {member}"), 30, || {
                    let api = api.clone();
                    async move { Ok(api.list(&Default::default()).await.ok()) }
                })
                .await?
                {
                    out.push((
                        member.to_owned(),
                        kind.to_owned(),
                        object.metadata.name.clone().unwrap_or_default(),
                        object.metadata.uid.clone().unwrap_or_default(),
                    ));
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Stops what the environment started (local: everything; kind: the
    /// clusters stay).
    pub async fn stop(self) {
        self.env.stop().await;
    }
}

/// Polls `check` every 100 ms until it returns something, for up to `secs`.
async fn wait_for<T, F, Fut>(what: &str, secs: u64, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            bail!("{what}: not within {secs} s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until every server in `servers` answers exactly `want`.
async fn answers_on(
    servers: &[SocketAddr],
    want: &[Ipv4Addr],
    secs: u64,
    what: &str,
) -> Result<Duration> {
    let started = Instant::now();
    let mut want: Vec<IpAddr> = want.iter().map(|ip| IpAddr::V4(*ip)).collect();
    want.sort();
    wait_for(what, secs, || {
        let want = want.clone();
        async move {
            let replies = futures::future::join_all(
                servers.iter().map(|s| traffic::resolve(*s, HOSTNAME, None)),
            )
            .await;
            Ok(replies
                .iter()
                .all(|r| r.as_ref() == Ok(&want))
                .then_some(()))
        }
    })
    .await?;
    Ok(started.elapsed())
}

/// Which backend and member answered: echo-basic reports `SERVICE_NAME`,
/// which each member's Deployment sets to `<backend>@<member>`.
pub fn served_by(reply: &Reply) -> (String, String) {
    let service = serde_json::from_str::<Value>(&reply.body)
        .ok()
        .and_then(|v| v["service"].as_str().map(str::to_owned))
        .unwrap_or_default();
    match service.split_once('@') {
        Some((backend, member)) => (backend.to_owned(), member.to_owned()),
        None => (service, String::new()),
    }
}

async fn scale(client: &Client, deployment: &str, replicas: i32) -> Result<()> {
    let api: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(client.clone(), NAMESPACE);
    patch_merge(&api, deployment, json!({"spec": {"replicas": replicas}})).await
}

async fn patch_merge<K>(api: &Api<K>, name: &str, patch: Value) -> Result<()>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .with_context(|| format!("patching {name}"))?;
    Ok(())
}

async fn apply(client: &Client, object: Value) -> Result<()> {
    let origin = format!(
        "{}/{}",
        object["kind"].as_str().unwrap_or_default(),
        object["metadata"]["name"].as_str().unwrap_or_default()
    );
    manifests::apply(client, object, &origin).await?;
    Ok(())
}

fn gateway_api_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: "gateway.networking.k8s.io".into(),
        version: "v1".into(),
        api_version: "gateway.networking.k8s.io/v1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

fn gateway_api(client: &Client) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        NAMESPACE,
        &gateway_api_resource("Gateway", "gateways"),
    )
}

fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

/// The zone, with every fedway-dns as one of its name servers (so
/// `fedwayctl status` finds them, as it would a real deployment's).
fn dns_zone(servers: &[SocketAddr]) -> Value {
    let name_servers: Vec<Value> = servers
        .iter()
        .enumerate()
        .map(|(i, s)| json!({"name": format!("ns{}.{ZONE}", i + 1), "addresses": [s.ip().to_string()]}))
        .collect();
    json!({
        "apiVersion": "fedway.dev/v1alpha1", "kind": "DNSZone",
        "metadata": {"name": "global"},
        "spec": {"zone": ZONE, "nameServers": name_servers},
    })
}

fn gateway() -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "shop", "namespace": NAMESPACE},
        "spec": {"gatewayClassName": "fedway",
                 "listeners": [{"name": "http", "port": PORT, "protocol": "HTTP", "hostname": HOSTNAME}]},
    })
}

fn backend_ref(name: &str) -> Value {
    json!([{"name": name, "port": 80}])
}

/// `/` → shop, `/cart` → cart.
fn route_by_path() -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "shop", "namespace": NAMESPACE},
        "spec": {
            "parentRefs": [{"name": "shop"}],
            "hostnames": [HOSTNAME],
            "rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": "/cart"}}], "backendRefs": backend_ref("cart")},
                {"backendRefs": backend_ref("shop")},
            ],
        },
    })
}

/// `x-beta: 1` → beta (more header matches outrank the other route's `/`).
fn route_by_header() -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "beta", "namespace": NAMESPACE},
        "spec": {
            "parentRefs": [{"name": "shop"}],
            "hostnames": [HOSTNAME],
            "rules": [{"matches": [{"headers": [{"name": "x-beta", "value": "1"}]}],
                       "backendRefs": backend_ref("beta")}],
        },
    })
}

fn region_selector(region: &str) -> Value {
    json!({"matchLabels": {REGION_LABEL: region}})
}

fn failover() -> Value {
    json!({
        "strategy": "Failover",
        "priorities": SITES.iter().enumerate()
            .map(|(i, (_, region, _))| json!({"clusterSelector": region_selector(region), "priority": i}))
            .collect::<Vec<_>>(),
    })
}

fn weighted() -> Value {
    json!({
        "strategy": "Weighted",
        "weights": [
            {"clusterSelector": region_selector(SITES[0].1), "weight": 3},
            {"clusterSelector": region_selector(SITES[1].1), "weight": 1},
            {"clusterSelector": region_selector(SITES[2].1), "weight": 0},
        ],
    })
}

fn geo() -> Value {
    json!({
        "strategy": "Geo",
        "geo": {"regionLabel": REGION_LABEL,
                "clientRegions": SITES.iter()
                    .map(|(_, region, subnet)| json!({"region": region, "cidrs": [subnet]}))
                    .collect::<Vec<_>>()},
    })
}

/// The journey's DNSPolicy with `steering` (strategy and its settings).
fn dns_policy(steering: Value) -> Value {
    let mut spec = json!({
        "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shop"}],
        "ttlSeconds": 5,
        // Probes go through each member's gateway (Host: the hostname), so
        // they test the gateway, not only a socket.
        "healthCheck": {"protocol": "HTTP", "port": PORT, "path": "/",
                        "interval": "1s", "timeout": "500ms",
                        "failureThreshold": FAILURE_THRESHOLD, "successThreshold": SUCCESS_THRESHOLD},
    });
    if let (Some(spec), Some(steering)) = (spec.as_object_mut(), steering.as_object()) {
        spec.extend(steering.clone());
    }
    json!({
        "apiVersion": "fedway.dev/v1alpha1", "kind": "DNSPolicy",
        "metadata": {"name": "shop", "namespace": NAMESPACE},
        "spec": spec,
    })
}

/// An echo Deployment and its Service (port 80 to echo-basic's 3000); the
/// pod reports `<backend>@<member>` as its service, so answers say where
/// they came from.
fn echo_backend(image: &str, name: &str, member: &str) -> [Value; 2] {
    [
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{
                    "name": "echo", "image": image,
                    "env": [
                        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                        {"name": "SERVICE_NAME", "value": format!("{name}@{member}")},
                    ],
                }]}},
            },
        }),
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"selector": {"app": name},
                     "ports": [{"name": "http", "port": 80, "targetPort": 3000, "protocol": "TCP"}]},
        }),
    ]
}
