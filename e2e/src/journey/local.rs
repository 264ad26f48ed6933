//! The journey on this machine: a [`Federation`] (real control planes,
//! hub controller and agents in this process), echo pods run by
//! [`PodRunner`], each member's lb-proxy in this process (so it can be
//! killed and restored at once), fedway-dns beside every cluster on
//! `127.20.S.53:53`, the hub controller's writes from the hub's audit log.

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use fedway_dns::{Config as DnsConfig, Running, Source, rate_limit::RateLimitConfig};
use fedway_proxy::{
    config::ProxyConfig,
    controller::{self, ConfigSink, Publish, Settings},
    dataplane::{DataPlane, Options},
};
use kube::Client;
use tokio::task::JoinHandle;

use super::{DnsServer, Environment, Narrate, REGION_LABEL, SITES};
use crate::{ClusterOptions, PodRunner, federation::Federation, pki::ADMIN_USER};

/// Host (last octet) of each DNS server in its cluster's slot.
const DNS_HOST: u8 = 53;
/// Host of the first gateway address in a member's slot (its pool is
/// `.100`-`.110`; the journey's one Gateway gets the first).
const GATEWAY_HOST: u8 = 100;

pub struct LocalEnv {
    pub fed: Federation,
    _pods: Vec<PodRunner>,
    gateways: BTreeMap<String, Gateway>,
    dns: Vec<(DnsServer, Running)>,
}

/// One member's lb-proxy, run as its binary runs it (controller + data
/// plane), so the journey can kill and restore it.
struct Gateway {
    controller: JoinHandle<()>,
    sink: Arc<ProxySink>,
}

struct ProxySink(Mutex<Option<DataPlane>>);

impl ConfigSink for ProxySink {
    fn apply(&self, config: ProxyConfig) {
        if let Ok(guard) = self.0.lock()
            && let Some(dp) = guard.as_ref()
            && let Err(errors) = dp.apply(config)
        {
            tracing::error!(%errors, "lb-proxy: configuration applied in part");
        }
    }
}

impl LocalEnv {
    /// A hub and the [`SITES`] members on real control planes with
    /// workloads, joined; echo pods, lb-proxy and DNS everywhere.
    pub async fn start(narrate: &dyn Narrate) -> Result<LocalEnv> {
        let started = Instant::now();
        let members: Vec<(&str, Vec<(&str, &str)>)> = SITES
            .iter()
            .map(|(name, region, _)| (*name, vec![(REGION_LABEL, *region)]))
            .collect();
        let members: Vec<(&str, &[(&str, &str)])> =
            members.iter().map(|(n, l)| (*n, l.as_slice())).collect();
        let fed =
            Federation::start_with(&members, &ClusterOptions::default().with_workloads()).await;
        narrate.say(&format!(
            "hub {} and {} members up in {:.1?}",
            fed.hub.server_url(),
            fed.members.len(),
            started.elapsed()
        ));
        let mut pods = Vec::new();
        for member in &fed.members {
            pods.push(PodRunner::start(&member.cluster).await?);
        }
        let mut env = LocalEnv {
            fed,
            _pods: pods,
            gateways: BTreeMap::new(),
            dns: Vec::new(),
        };
        for (name, _, _) in SITES {
            env.start_gateway(name).await?;
        }
        let hub_dns = start_dns(
            "hub",
            env.fed.hub.address(DNS_HOST),
            env.fed.hub.client(),
            true,
        )
        .await?;
        env.dns.push(hub_dns);
        for member in &env.fed.members {
            let dns = start_dns(
                &member.name,
                member.cluster.address(DNS_HOST),
                member.cluster.client(),
                false,
            )
            .await?;
            env.dns.push(dns);
        }
        Ok(env)
    }

    /// (Re)starts member `name`'s lb-proxy with addresses from `.100`-`.110`
    /// of its slot.
    async fn start_gateway(&mut self, name: &str) -> Result<()> {
        let member = self.fed.member(name);
        let kubeconfig = member
            .cluster
            .user_kubeconfig("fedway-proxy", &["system:masters"])?;
        let client = fedway_runtime::kube_client(Some(&kubeconfig)).await?;
        controller::class::ensure(
            &client,
            controller::DEFAULT_CLASS_NAME,
            controller::DEFAULT_CONTROLLER_NAME,
        )
        .await?;
        let pool = format!(
            "{}-{}",
            member.cluster.address(GATEWAY_HOST),
            member.cluster.address(110)
        );
        let sink = Arc::new(ProxySink(Mutex::new(Some(DataPlane::new(
            Options::default(),
        )))));
        let controller = tokio::spawn(controller::run(
            client,
            Settings {
                controller_name: controller::DEFAULT_CONTROLLER_NAME.to_owned(),
                publish: Publish::Local(pool.parse().context("address pool")?),
                metrics: Default::default(),
            },
            sink.clone(),
        ));
        self.gateways
            .insert(name.to_owned(), Gateway { controller, sink });
        Ok(())
    }

    fn member_index(&self, name: &str) -> Result<usize> {
        self.fed
            .members
            .iter()
            .position(|m| m.name == name)
            .with_context(|| format!("no member {name}"))
    }
}

impl Environment for LocalEnv {
    fn hub(&self) -> Client {
        self.fed.hub.client()
    }

    fn member(&self, name: &str) -> Result<Client> {
        Ok(self.fed.members[self.member_index(name)?].cluster.client())
    }

    fn dns_servers(&self) -> Vec<DnsServer> {
        self.dns.iter().map(|(server, _)| server.clone()).collect()
    }

    /// Not pulled: the pod runner serves pods of any echo-basic image with
    /// a local echo-basic process.
    fn echo_image(&self) -> &str {
        "echo-basic"
    }

    fn kubeconfigs(&self) -> Vec<(String, PathBuf)> {
        std::iter::once(("hub".to_owned(), self.fed.hub.admin_kubeconfig().to_owned()))
            .chain(self.fed.members.iter().map(|member| {
                (
                    member.name.clone(),
                    member.cluster.admin_kubeconfig().to_owned(),
                )
            }))
            .collect()
    }

    /// Known from the start: the first address of the member's pool.
    async fn gateway_address(&self, member: &str) -> Result<Ipv4Addr> {
        Ok(self.fed.members[self.member_index(member)?]
            .cluster
            .address(GATEWAY_HOST))
    }

    /// Aborts the controller and shuts the data plane down with no grace:
    /// its sockets close at once (as when the proxy's pod dies).
    async fn kill_gateway(&mut self, member: &str) -> Result<()> {
        if let Some(gateway) = self.gateways.remove(member) {
            gateway.controller.abort();
            let dp = gateway.sink.0.lock().ok().and_then(|mut dp| dp.take());
            if let Some(dp) = dp {
                dp.shutdown(Duration::ZERO).await;
            }
        }
        Ok(())
    }

    async fn restore_gateway(&mut self, member: &str) -> Result<()> {
        self.start_gateway(member).await
    }

    async fn stop_member_api_server(&mut self, member: &str) -> Result<()> {
        let index = self.member_index(member)?;
        self.fed.members[index].cluster.stop_api_server();
        Ok(())
    }

    async fn start_member_api_server(&mut self, member: &str) -> Result<()> {
        let index = self.member_index(member)?;
        self.fed.members[index]
            .cluster
            .start_api_server()
            .await
            .context("restarting the API server")?;
        Ok(())
    }

    /// Everything of the member this process runs: agent, gateway, DNS
    /// server, API server (the echo pods' processes stay, behind a gateway
    /// that is gone).
    async fn stop_member(&mut self, member: &str) -> Result<String> {
        let index = self.member_index(member)?;
        self.fed.stop_agent(index);
        self.kill_gateway(member).await?;
        if let Some(at) = self.dns.iter().position(|(d, _)| d.cluster == member) {
            let (_, running) = self.dns.remove(at);
            running.shutdown().await;
        }
        self.fed.members[index].cluster.stop_api_server();
        Ok(format!(
            "{member}'s agent, gateway, DNS server and API server stopped"
        ))
    }

    async fn start_member(&mut self, member: &str) -> Result<()> {
        self.start_member_api_server(member).await?;
        let index = self.member_index(member)?;
        let cluster = &self.fed.members[index].cluster;
        let dns = start_dns(member, cluster.address(DNS_HOST), cluster.client(), false).await?;
        self.dns.push(dns);
        self.start_gateway(member).await?;
        self.fed.start_agent(index).await;
        Ok(())
    }

    async fn stop_hub(&mut self) -> Result<String> {
        self.fed.stop_hub_controller();
        self.fed.hub.stop_api_server();
        Ok("hub controller and hub API server stopped".to_owned())
    }

    async fn start_hub(&mut self) -> Result<()> {
        self.fed
            .hub
            .start_api_server()
            .await
            .context("restarting the hub API server")?;
        self.fed.start_hub_controller();
        Ok(())
    }

    /// The hub controller runs as the harness's admin here, and the hub's
    /// audit log is a local file.
    async fn hub_controller_writes(&self) -> Result<Vec<(String, String)>> {
        Ok(self.fed.hub.audited_writes_by(ADMIN_USER)?)
    }

    async fn stop(mut self) {
        let names: Vec<String> = self.gateways.keys().cloned().collect();
        for name in names {
            let _ = self.kill_gateway(&name).await;
        }
        for (_, running) in self.dns.drain(..) {
            running.shutdown().await;
        }
    }
}

async fn start_dns(
    cluster: &str,
    ip: Ipv4Addr,
    client: Client,
    hub: bool,
) -> Result<(DnsServer, Running)> {
    let cache = std::env::temp_dir().join(format!("fedway-journey-dns-{cluster}-{ip}.json"));
    let running = fedway_dns::start(DnsConfig {
        listen: vec![SocketAddr::new(IpAddr::V4(ip), 53)],
        udp_sockets: 1,
        source: Source::Cluster(client),
        cache: Some(cache),
        metrics_listen: None,
        rate_limit: RateLimitConfig::default(),
        report_policy_status: hub,
    })
    .await
    .with_context(|| format!("fedway-dns for {cluster} on {ip}:53"))?;
    let address = running
        .dns
        .first()
        .copied()
        .context("fedway-dns bound no address")?;
    Ok((
        DnsServer {
            cluster: cluster.to_owned(),
            address,
        },
        running,
    ))
}
