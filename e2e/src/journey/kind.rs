//! The journey on kind clusters (`e2e/kind/run.sh` creates them): a hub
//! and the [`SITES`] members, each a one-node kind cluster running Fedway
//! installed with its Helm chart from the images built from deploy/docker, as Pods
//! (CI runs it offline, `FEDWAY_KIND_OFFLINE=1`). What differs from
//! [`LocalEnv`](super::LocalEnv):
//!
//! - gateway addresses come from each member Gateway's status (fedway-proxy,
//!   two replicas behind a LoadBalancer Service per Gateway, its address
//!   from MetalLB on kind's Docker network);
//! - a gateway is killed by scaling Deployment `fedway-system/fedway-proxy`
//!   to 0 and deleting its pods without grace, and restored to the replicas
//!   it had;
//! - an API server is stopped by moving its static pod manifest out of
//!   `/etc/kubernetes/manifests` in the node container (kubelet stops it;
//!   etcd, the agent, DNS, gateway and backends keep running), and started
//!   by moving it back — `docker pause` would freeze the whole node, DNS
//!   and gateway included, which is a different failure;
//! - a whole member is lost by `docker stop` of its node container (every
//!   pod with it) and comes back with `docker start` at the same address;
//! - the hub is stopped by scaling Deployment `fedway-system/fedway-hub` to
//!   0, then stopping the hub's API server as above;
//! - DNS servers are each cluster's `fedway-system/fedway-dns`
//!   LoadBalancer Service (the chart's default) at its load balancer
//!   address, port 53;
//! - the hub controller's writes are read from the hub's audit log
//!   (`docker exec <hub node> cat`), written under the audit policy run.sh
//!   passes through the kind config; its user is its ServiceAccount;
//! - backends are real pods of the echo-basic image run.sh builds.
//!
//! Node and load balancer addresses are reachable from the host on Linux
//! (Docker's bridge); not with Docker Desktop's VM.

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::{
    apps::v1::Deployment,
    core::v1::{Pod, Service},
};
use kube::{
    Api, Client,
    api::{DeleteParams, ListParams, Patch, PatchParams},
};
use serde_json::{Value, json};

use super::{DnsServer, Environment, NAMESPACE, Narrate, SITES, gateway_api, wait_for};
use crate::cluster::writes_by;

/// Where Fedway runs in every cluster (the chart's namespace in run.sh).
const SYSTEM_NAMESPACE: &str = "fedway-system";
/// The hub controller's identity in the hub's audit log (its ServiceAccount).
const HUB_CONTROLLER_USER: &str = "system:serviceaccount:fedway-system:fedway-hub";
/// The audit log's path in the hub's node container (e2e/kind/run.sh's
/// kind config passes it to the API server).
const AUDIT_LOG: &str = "/var/log/kubernetes/kube-apiserver-audit.log";
/// The API server's static pod, and where it is parked while stopped
/// (outside the directory kubelet watches).
const APISERVER_MANIFEST: &str = "/etc/kubernetes/manifests/kube-apiserver.yaml";
const APISERVER_PARKED: &str = "/etc/kubernetes/kube-apiserver.yaml.fedway-stopped";

/// Where run.sh left the clusters.
#[derive(Debug, Clone)]
pub struct KindConfig {
    /// Holds `<cluster>.kubeconfig` for `hub` and each member (from `kind
    /// get kubeconfig`).
    pub dir: PathBuf,
    /// Prefix of the kind cluster names: cluster `<prefix>member-eu`, node
    /// container `<prefix>member-eu-control-plane`.
    pub prefix: String,
    /// The echo backends' image, loaded into every node (run.sh builds it
    /// from the pinned Gateway API module).
    pub echo_image: String,
}

pub struct KindEnv {
    config: KindConfig,
    hub: Client,
    /// In [`SITES`] order.
    members: Vec<(String, Client)>,
    dns: Vec<DnsServer>,
    /// The hub controller's replicas before [`stop_hub`](Environment::stop_hub).
    hub_replicas: i32,
    /// Each member's fedway-proxy replicas before
    /// [`kill_gateway`](Environment::kill_gateway).
    proxy_replicas: BTreeMap<String, i32>,
    /// Node containers [`stop_member`](Environment::stop_member) stopped,
    /// with their address before (a stopped container has none).
    stopped_nodes: BTreeMap<String, String>,
}

impl KindEnv {
    /// Connects to the clusters run.sh created and installed; finds each
    /// fedway-dns's address.
    pub async fn connect(config: KindConfig, narrate: &dyn Narrate) -> Result<KindEnv> {
        let hub_kubeconfig = kubeconfig_path(&config.dir, "hub")?;
        let hub = fedway_runtime::kube_client(Some(&hub_kubeconfig)).await?;
        let hub_url = fedway_runtime::kube_config(Some(&hub_kubeconfig))
            .await?
            .cluster_url;
        let mut members = Vec::new();
        for (name, _, _) in SITES {
            let path = kubeconfig_path(&config.dir, name)?;
            members.push((
                name.to_owned(),
                fedway_runtime::kube_client(Some(&path)).await?,
            ));
        }
        let mut dns = vec![dns_server("hub", &hub).await?];
        for (name, client) in &members {
            dns.push(dns_server(name, client).await?);
        }
        narrate.say(&format!(
            "hub {hub_url} and {} members: kind clusters {}",
            members.len(),
            std::iter::once("hub")
                .chain(SITES.iter().map(|(n, _, _)| *n))
                .map(|n| format!("{}{n}", config.prefix))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        Ok(KindEnv {
            config,
            hub,
            members,
            dns,
            hub_replicas: 1,
            proxy_replicas: BTreeMap::new(),
            stopped_nodes: BTreeMap::new(),
        })
    }

    fn node(&self, cluster: &str) -> String {
        node_container(&self.config.prefix, cluster)
    }

    /// The node container's address on kind's Docker network.
    async fn node_address(&self, cluster: &str) -> Result<String> {
        let format = r#"{{ (index .NetworkSettings.Networks "kind").IPAddress }}"#;
        let address = docker(&["inspect", "-f", format, &self.node(cluster)]).await?;
        Ok(address.trim().to_owned())
    }

    fn client_of(&self, cluster: &str) -> Result<Client> {
        if cluster == "hub" {
            Ok(self.hub.clone())
        } else {
            self.member(cluster)
        }
    }

    /// Parks the API server's static pod manifest; kubelet stops the pod
    /// (it checks its manifest directory every 20 s by default).
    async fn stop_api_server(&self, cluster: &str) -> Result<()> {
        docker(&[
            "exec",
            &self.node(cluster),
            "mv",
            APISERVER_MANIFEST,
            APISERVER_PARKED,
        ])
        .await?;
        let client = self.client_of(cluster)?;
        wait_for(&format!("{cluster}'s API server gone"), 90, || {
            let client = client.clone();
            async move { Ok(client.apiserver_version().await.is_err().then_some(())) }
        })
        .await
    }

    async fn start_api_server(&self, cluster: &str) -> Result<()> {
        docker(&[
            "exec",
            &self.node(cluster),
            "mv",
            APISERVER_PARKED,
            APISERVER_MANIFEST,
        ])
        .await?;
        let client = self.client_of(cluster)?;
        wait_for(&format!("{cluster}'s API server back"), 180, || {
            let client = client.clone();
            async move { Ok(client.apiserver_version().await.ok().map(drop)) }
        })
        .await
    }
}

impl Environment for KindEnv {
    fn hub(&self) -> Client {
        self.hub.clone()
    }

    fn member(&self, name: &str) -> Result<Client> {
        self.members
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, client)| client.clone())
            .with_context(|| format!("no member {name}"))
    }

    fn dns_servers(&self) -> Vec<DnsServer> {
        self.dns.clone()
    }

    fn echo_image(&self) -> &str {
        &self.config.echo_image
    }

    fn kubeconfigs(&self) -> Vec<(String, PathBuf)> {
        std::iter::once("hub")
            .chain(SITES.iter().map(|(n, _, _)| *n))
            .map(|n| {
                (
                    n.to_owned(),
                    self.config.dir.join(format!("{n}.kubeconfig")),
                )
            })
            .collect()
    }

    /// From the member Gateway's status, once fedway-proxy programmed it.
    async fn gateway_address(&self, member: &str) -> Result<Ipv4Addr> {
        let gateways = gateway_api(&self.member(member)?);
        wait_for(
            &format!("{member}'s Gateway {NAMESPACE}/shop has an address"),
            120,
            || {
                let gateways = gateways.clone();
                async move {
                    let gateway = gateways.get_opt("shop").await.ok().flatten();
                    Ok(gateway
                        .and_then(|g| serde_json::to_value(g).ok())
                        .and_then(|g| first_ipv4_address(&g)))
                }
            },
        )
        .await
    }

    async fn kill_gateway(&mut self, member: &str) -> Result<()> {
        let client = self.member(member)?;
        let replicas = replicas(&client, "fedway-proxy").await?;
        self.proxy_replicas.insert(member.to_owned(), replicas);
        scale(&client, "fedway-proxy", 0).await?;
        let pods: Api<Pod> = Api::namespaced(client, SYSTEM_NAMESPACE);
        let proxies = ListParams::default().labels("app.kubernetes.io/name=fedway-proxy");
        // No grace: the sockets close now, as when the pod dies, not after
        // the proxy's drain.
        pods.delete_collection(&DeleteParams::default().grace_period(0), &proxies)
            .await
            .with_context(|| format!("deleting {member}'s fedway-proxy pods"))?;
        wait_for(&format!("{member}'s fedway-proxy pods gone"), 60, || {
            let (pods, proxies) = (pods.clone(), proxies.clone());
            async move { Ok(pods.list(&proxies).await?.items.is_empty().then_some(())) }
        })
        .await
    }

    async fn restore_gateway(&mut self, member: &str) -> Result<()> {
        let client = self.member(member)?;
        let replicas = self.proxy_replicas.remove(member).unwrap_or(1);
        scale(&client, "fedway-proxy", replicas).await?;
        wait_available(&client, "fedway-proxy", replicas, 120).await
    }

    async fn stop_member_api_server(&mut self, member: &str) -> Result<()> {
        self.stop_api_server(member).await
    }

    async fn start_member_api_server(&mut self, member: &str) -> Result<()> {
        self.start_api_server(member).await
    }

    /// `docker stop` of the member's node container: kubelet, API server,
    /// every pod (agent, DNS server, gateway, backends) stop with it.
    async fn stop_member(&mut self, member: &str) -> Result<String> {
        let node = self.node(member);
        let address = self.node_address(member).await?;
        docker(&["stop", "--time", "10", &node]).await?;
        self.stopped_nodes.insert(member.to_owned(), address);
        Ok(format!(
            "{member}'s node container {node} stopped (docker stop)"
        ))
    }

    /// `docker start`; the node must come back at the address its
    /// kubeconfig, its Gateway's status and DNS name (Docker gives a
    /// restarted container its address again while nothing else took it).
    async fn start_member(&mut self, member: &str) -> Result<()> {
        let node = self.node(member);
        let before = self
            .stopped_nodes
            .remove(member)
            .with_context(|| format!("{member}'s node was not stopped"))?;
        docker(&["start", &node]).await?;
        let after = self.node_address(member).await?;
        if after != before {
            bail!(
                "{node} came back at {after}, not {before}: its kubeconfig and Gateway address are stale"
            );
        }
        let client = self.client_of(member)?;
        wait_for(
            &format!("{member}'s API server after the node's restart"),
            180,
            || {
                let client = client.clone();
                async move { Ok(client.apiserver_version().await.ok()) }
            },
        )
        .await?;
        Ok(())
    }

    async fn stop_hub(&mut self) -> Result<String> {
        self.hub_replicas = replicas(&self.hub, "fedway-hub").await?;
        scale(&self.hub, "fedway-hub", 0).await?;
        let pods: Api<Pod> = Api::namespaced(self.hub.clone(), SYSTEM_NAMESPACE);
        let hubs = ListParams::default().labels("app.kubernetes.io/name=fedway-hub");
        wait_for("the hub controller's pods gone", 60, || {
            let (pods, hubs) = (pods.clone(), hubs.clone());
            async move { Ok(pods.list(&hubs).await?.items.is_empty().then_some(())) }
        })
        .await?;
        self.stop_api_server("hub").await?;
        Ok(format!(
            "hub controller scaled to 0 (was {}) and hub API server stopped (its static pod moved out of {})",
            self.hub_replicas,
            node_container(&self.config.prefix, "hub")
        ))
    }

    async fn start_hub(&mut self) -> Result<()> {
        self.start_api_server("hub").await?;
        scale(&self.hub, "fedway-hub", self.hub_replicas).await?;
        wait_available(&self.hub, "fedway-hub", 1, 120).await
    }

    async fn hub_controller_writes(&self) -> Result<Vec<(String, String)>> {
        let log = docker(&["exec", &self.node("hub"), "cat", AUDIT_LOG])
            .await
            .context("reading the hub's audit log (is the audit policy in its kind config?)")?;
        Ok(writes_by(&log, HUB_CONTROLLER_USER))
    }

    /// The clusters stay: `e2e/kind/run.sh down` deletes them.
    async fn stop(self) {}
}

fn kubeconfig_path(dir: &Path, cluster: &str) -> Result<PathBuf> {
    let path = dir.join(format!("{cluster}.kubeconfig"));
    if !path.is_file() {
        bail!(
            "no kubeconfig for {cluster} at {} (e2e/kind/run.sh up writes it)",
            path.display()
        );
    }
    Ok(path)
}

/// kind names a cluster's only node `<cluster>-control-plane`.
pub fn node_container(prefix: &str, cluster: &str) -> String {
    format!("{prefix}{cluster}-control-plane")
}

/// A cluster's fedway-dns as the host reaches it: its Service's load
/// balancer address, port 53 (the Service's DNS port).
async fn dns_server(cluster: &str, client: &Client) -> Result<DnsServer> {
    let services = Api::<Service>::namespaced(client.clone(), SYSTEM_NAMESPACE);
    // MetalLB may still be assigning it when run.sh's helm --wait returns.
    let ip = wait_for(
        &format!(
            "{cluster}'s Service {SYSTEM_NAMESPACE}/fedway-dns has an IPv4 load balancer address (MetalLB, which e2e/kind/run.sh installs, gives it)"
        ),
        60,
        || {
            let services = services.clone();
            async move {
                let service = services.get_opt("fedway-dns").await?;
                Ok(service.as_ref().and_then(load_balancer_ipv4))
            }
        },
    )
    .await?;
    Ok(DnsServer {
        cluster: cluster.to_owned(),
        address: SocketAddr::new(IpAddr::V4(ip), 53),
    })
}

/// A Service's first IPv4 load balancer ingress address.
pub fn load_balancer_ipv4(service: &Service) -> Option<Ipv4Addr> {
    service
        .status
        .as_ref()?
        .load_balancer
        .as_ref()?
        .ingress
        .as_ref()?
        .iter()
        .find_map(|i| i.ip.as_deref()?.parse().ok())
}

/// The first IPv4 address in a Gateway's `status.addresses`.
pub fn first_ipv4_address(gateway: &Value) -> Option<Ipv4Addr> {
    gateway["status"]["addresses"]
        .as_array()?
        .iter()
        .filter(|a| a["type"].as_str().is_none_or(|t| t == "IPAddress"))
        .find_map(|a| a["value"].as_str()?.parse().ok())
}

/// The replicas Deployment `deployment` asks for.
async fn replicas(client: &Client, deployment: &str) -> Result<i32> {
    let current = Api::<Deployment>::namespaced(client.clone(), SYSTEM_NAMESPACE)
        .get(deployment)
        .await
        .with_context(|| format!("reading Deployment {SYSTEM_NAMESPACE}/{deployment}"))?;
    Ok(current.spec.and_then(|s| s.replicas).unwrap_or(1))
}

async fn scale(client: &Client, deployment: &str, replicas: i32) -> Result<()> {
    Api::<Deployment>::namespaced(client.clone(), SYSTEM_NAMESPACE)
        .patch(
            deployment,
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"replicas": replicas}})),
        )
        .await
        .with_context(|| format!("scaling {SYSTEM_NAMESPACE}/{deployment} to {replicas}"))?;
    Ok(())
}

async fn wait_available(client: &Client, deployment: &str, want: i32, secs: u64) -> Result<()> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    wait_for(
        &format!("{SYSTEM_NAMESPACE}/{deployment} available"),
        secs,
        || {
            let api = api.clone();
            async move {
                let available = api
                    .get_opt(deployment)
                    .await?
                    .and_then(|d| d.status?.available_replicas)
                    .unwrap_or(0);
                Ok((available >= want).then_some(()))
            }
        },
    )
    .await
}

/// Runs `docker args…`; its stdout, or an error with its stderr.
async fn docker(args: &[&str]) -> Result<String> {
    let output = tokio::process::Command::new("docker")
        .args(args)
        .output()
        .await
        .context("running docker (kind needs a Docker engine)")?;
    if !output.status.success() {
        bail!(
            "docker {}: {}: {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8(output.stdout).context("docker's output is not UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_balancer_ipv4_takes_the_first_ipv4_ingress() {
        for (status, want) in [
            (
                json!({"loadBalancer": {"ingress": [{"ip": "172.18.255.250"}]}}),
                Some(Ipv4Addr::new(172, 18, 255, 250)),
            ),
            (
                json!({"loadBalancer": {"ingress": [{"hostname": "lb.example.com"},
                                                    {"ip": "fc00:f853:ccd:e793::fa"},
                                                    {"ip": "172.18.255.249"}]}}),
                Some(Ipv4Addr::new(172, 18, 255, 249)),
            ),
            // Not yet assigned.
            (json!({"loadBalancer": {}}), None),
            (json!({}), None),
        ] {
            let service: Service = serde_json::from_value(json!({
                "metadata": {"name": "fedway-dns"}, "status": status.clone(),
            }))
            .expect("a Service");
            assert_eq!(load_balancer_ipv4(&service), want, "{status}");
        }
    }

    #[test]
    fn first_ipv4_address_of_a_gateway() {
        for (status, want) in [
            (
                json!({"addresses": [{"type": "IPAddress", "value": "172.18.0.5"}]}),
                Some(Ipv4Addr::new(172, 18, 0, 5)),
            ),
            (
                json!({"addresses": [{"type": "Hostname", "value": "gw.example.com"},
                                     {"value": "172.18.0.6"}]}),
                Some(Ipv4Addr::new(172, 18, 0, 6)),
            ),
            (json!({"addresses": []}), None),
            (json!({}), None),
        ] {
            let gateway = json!({"kind": "Gateway", "status": status.clone()});
            assert_eq!(first_ipv4_address(&gateway), want, "{status}");
        }
    }

    #[test]
    fn writes_by_keeps_completed_writes_of_that_user() {
        let user = HUB_CONTROLLER_USER;
        let line = |stage: &str, who: &str, verb: &str, uri: &str| {
            json!({"stage": stage, "user": {"username": who}, "verb": verb, "requestURI": uri})
                .to_string()
        };
        let log = [
            line(
                "ResponseComplete",
                user,
                "patch",
                "/apis/fedway.dev/v1alpha1/works/a",
            ),
            line("ResponseStarted", user, "patch", "/started-only"),
            line("ResponseComplete", user, "get", "/a-read"),
            line(
                "ResponseComplete",
                "system:admin",
                "create",
                "/someone-else",
            ),
            "not json".to_owned(),
            line(
                "ResponseComplete",
                user,
                "delete",
                "/apis/fedway.dev/v1alpha1/dnsrecords/b",
            ),
        ]
        .join("\n");
        assert_eq!(
            writes_by(&log, user),
            [
                (
                    "patch".to_owned(),
                    "/apis/fedway.dev/v1alpha1/works/a".to_owned()
                ),
                (
                    "delete".to_owned(),
                    "/apis/fedway.dev/v1alpha1/dnsrecords/b".to_owned()
                ),
            ]
        );
        assert!(writes_by("", user).is_empty());
    }

    #[test]
    fn node_container_is_kinds_name_for_the_control_plane() {
        assert_eq!(node_container("fedway-", "hub"), "fedway-hub-control-plane");
        assert_eq!(node_container("", "member-eu"), "member-eu-control-plane");
    }
}
