//! A hub and joined members with the hub controller and every agent
//! running in this process (as they would in their binaries), against real
//! API servers, each agent with the credential `fedway-hub join` minted.
//! For tests and benchmarks of placement and propagation.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use fedway_crds::{MemberCluster, Work};
use kube::Api;
use serde_json::json;
use tokio::task::JoinHandle;

use crate::{
    Cluster, ClusterOptions, Clusters, manifests, process::ManagedProcess, wait::eventually,
};

/// The user the agents' member clients authenticate as (audit log).
pub const AGENT_USER: &str = "fedway-agent";

pub struct Federation {
    pub hub: Cluster,
    pub members: Vec<Member>,
    hub_controller: Option<HubController>,
    /// When set, the hub controller runs as this `fedway-hub` binary, a
    /// process of its own (so its memory can be read too).
    hub_binary: Option<PathBuf>,
    /// The hub's `--policy-kind`s and the agents' `--managed-kind`s (set
    /// before restarting them: kinds are found at start-up).
    pub policy_kinds: Vec<fedway_crds::group_kind::GroupKind>,
}

/// The hub controller on a thread of its own (with its own runtime), so its
/// CPU time can be read apart from the agents', or as a process.
enum HubController {
    Thread {
        shutdown: tokio::sync::oneshot::Sender<()>,
        thread: std::thread::JoinHandle<()>,
        tid: u32,
    },
    Process(ManagedProcess),
}

pub struct Member {
    pub name: String,
    pub cluster: Cluster,
    /// The agent's hub kubeconfig, as `join` wrote it.
    pub hub_kubeconfig: PathBuf,
    agent: Option<JoinHandle<()>>,
}

impl Federation {
    /// A hub and members `(name, labels)`, joined, with the `fedway`
    /// GatewayClass, the hub controller and every agent running.
    pub async fn start(members: &[(&str, &[(&str, &str)])]) -> Federation {
        Self::start_with(members, &ClusterOptions::default()).await
    }

    /// [`start`](Self::start) with `member_options` for every member (the
    /// hub keeps the defaults): `ClusterOptions::default().with_workloads()`
    /// gives members running pods, for tests that send real traffic.
    pub async fn start_with(
        members: &[(&str, &[(&str, &str)])],
        member_options: &ClusterOptions,
    ) -> Federation {
        crate::init_test_logging();
        let names: Vec<&str> = members.iter().map(|(n, _)| *n).collect();
        let (hub, clusters) = futures::future::try_join(
            Cluster::start("hub", &ClusterOptions::default()),
            Clusters::start(&names, member_options),
        )
        .await
        .expect("starting hub and members");
        let clusters = clusters.into_vec().into_iter();
        manifests::apply(
            &hub.client(),
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
                   "metadata": {"name": "fedway"}, "spec": {"controllerName": "fedway.dev/hub"}}),
            "the fedway GatewayClass",
        )
        .await
        .expect("creating the fedway GatewayClass");
        let mut federation = Federation {
            hub,
            members: Vec::new(),
            hub_controller: None,
            hub_binary: None,
            policy_kinds: Vec::new(),
        };
        federation.start_hub_controller();
        for ((name, labels), cluster) in members.iter().zip(clusters) {
            let hub_kubeconfig = federation.join(name, labels, cluster.log_dir()).await;
            federation.members.push(Member {
                name: (*name).to_owned(),
                cluster,
                hub_kubeconfig,
                agent: None,
            });
        }
        for i in 0..federation.members.len() {
            federation.start_agent(i).await;
        }
        for member in &federation.members {
            federation.wait_member_ready(&member.name, true).await;
        }
        federation
    }

    /// `fedway-hub join`, as the CLI does it: returns the agent kubeconfig,
    /// written in `dir`.
    pub async fn join(&self, name: &str, labels: &[(&str, &str)], dir: &Path) -> PathBuf {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        let request = fedway_hub::join::JoinRequest {
            name,
            labels: &labels,
            token_ttl: Duration::from_secs(3600),
            rotate: false,
            serves_dns: true,
        };
        let token = fedway_hub::join::join(&self.hub.client(), &request)
            .await
            .expect("join");
        let config = fedway_runtime::kube_config(Some(self.hub.admin_kubeconfig()))
            .await
            .expect("hub config");
        let kubeconfig = fedway_hub::agent_kubeconfig::render(
            name,
            &self.hub.server_url(),
            &config.root_cert.unwrap_or_default(),
            &token,
        )
        .expect("agent kubeconfig");
        let path = dir.join(format!("{name}-hub-agent.kubeconfig"));
        std::fs::write(&path, kubeconfig).expect("writing the agent kubeconfig");
        path
    }

    /// Runs the hub controller as `binary` (`fedway-hub`) from now on,
    /// restarting it.
    pub fn use_hub_binary(&mut self, binary: PathBuf) {
        self.hub_binary = Some(binary);
        self.start_hub_controller();
    }

    /// Starts the hub controller (stopping a running one first).
    pub fn start_hub_controller(&mut self) {
        self.stop_hub_controller();
        if let Some(binary) = &self.hub_binary {
            let mut args: Vec<String> = [
                "run",
                "--kubeconfig",
                &self.hub.admin_kubeconfig().display().to_string(),
                "--identity",
                "test-hub",
                "--log",
                "warn",
            ]
            .map(str::to_owned)
            .into();
            for kind in &self.policy_kinds {
                args.extend(["--policy-kind".to_owned(), kind.to_string()]);
            }
            let process = ManagedProcess::spawn("fedway-hub", binary, &args, self.hub.log_dir())
                .expect("starting the fedway-hub binary");
            self.hub_controller = Some(HubController::Process(process));
            return;
        }
        // The client is built inside the hub's own runtime: a kube client's
        // connection worker runs on the runtime that built it, and the hub
        // must not depend on the test's runtime (which may be blocked
        // joining this very thread).
        let kubeconfig = self.hub.admin_kubeconfig().to_owned();
        let leader = fedway_hub::leader::LeaderConfig {
            namespace: "fedway-system".into(),
            name: "fedway-hub".into(),
            identity: "test-hub".into(),
            lease_duration: Duration::from_secs(15),
        };
        let policy_kinds = self.policy_kinds.clone();
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("fedway-hub".into())
            .spawn(move || {
                let _ = tid_tx.send(current_tid());
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        return tracing::error!(%error, "no runtime for the hub controller");
                    }
                };
                runtime.block_on(async move {
                    let stop = async move {
                        let _ = stop.await;
                    };
                    let client = match fedway_runtime::kube_client(Some(&kubeconfig)).await {
                        Ok(client) => client,
                        Err(error) => {
                            return tracing::error!(%error, "no hub client for the hub controller");
                        }
                    };
                    if let Err(error) = fedway_hub::run::run(
                        client,
                        leader,
                        &policy_kinds,
                        Default::default(),
                        stop,
                    )
                    .await
                    {
                        tracing::error!(%error, "hub controller stopped");
                    }
                });
            })
            .expect("starting the hub controller thread");
        let tid = tid_rx.recv().unwrap_or(0);
        self.hub_controller = Some(HubController::Thread {
            shutdown,
            thread,
            tid,
        });
    }

    /// CPU time (user + system) the hub controller (its thread or its
    /// process) has used.
    pub fn hub_controller_cpu(&self) -> Duration {
        let stat = match &self.hub_controller {
            Some(HubController::Thread { tid, .. }) => format!("/proc/self/task/{tid}/stat"),
            Some(HubController::Process(process)) => format!("/proc/{}/stat", process.pid()),
            None => return Duration::ZERO,
        };
        let stat = std::fs::read_to_string(stat).unwrap_or_default();
        // Fields after the parenthesised name; utime and stime are the 12th
        // and 13th of those, in clock ticks (100 per second on Linux).
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks: u64 = [11, 12]
            .iter()
            .filter_map(|i| fields.get(*i)?.parse::<u64>().ok())
            .sum();
        Duration::from_millis(ticks * 10)
    }

    /// The hub controller's resident memory, when it runs as a process.
    pub fn hub_controller_rss(&self) -> Option<u64> {
        let Some(HubController::Process(process)) = &self.hub_controller else {
            return None;
        };
        crate::bench::rss_of(&format!("/proc/{}/status", process.pid()))
    }

    /// Stops the hub controller (without releasing its lease, as a crash).
    pub fn stop_hub_controller(&mut self) {
        match self.hub_controller.take() {
            Some(HubController::Thread {
                shutdown, thread, ..
            }) => {
                let _ = shutdown.send(());
                let _ = thread.join();
            }
            Some(HubController::Process(mut process)) => process.stop(),
            None => {}
        }
    }

    /// Starts (or restarts) member `index`'s agent.
    pub async fn start_agent(&mut self, index: usize) {
        let member = &mut self.members[index];
        if let Some(agent) = member.agent.take() {
            agent.abort();
            let _ = agent.await;
        }
        let hub = fedway_runtime::kube_client(Some(&member.hub_kubeconfig))
            .await
            .expect("agent hub client");
        let member_kubeconfig = member
            .cluster
            .user_kubeconfig(AGENT_USER, &["system:masters"])
            .expect("agent member kubeconfig");
        let member_client = fedway_runtime::kube_client(Some(&member_kubeconfig))
            .await
            .expect("agent member client");
        let cluster = fedway_agent::member::Cluster::new(member_client, Default::default())
            .with_extra_kinds(self.policy_kinds.clone());
        let name = member.name.clone();
        member.agent = Some(tokio::spawn(async move {
            let run = fedway_agent::run::run(
                hub,
                std::sync::Arc::new(cluster),
                name.clone(),
                Default::default(),
                std::future::pending(),
            );
            if let Err(error) = run.await {
                tracing::error!(member = name, %error, "agent stopped");
            }
        }));
    }

    pub fn stop_agent(&mut self, index: usize) {
        if let Some(agent) = self.members[index].agent.take() {
            agent.abort();
        }
    }

    pub fn member(&self, name: &str) -> &Member {
        self.members
            .iter()
            .find(|m| m.name == name)
            .expect("a member of that name")
    }

    pub async fn wait_member_ready(&self, name: &str, ready: bool) {
        let members: Api<MemberCluster> = Api::all(self.hub.client());
        let want = if ready { "True" } else { "False" };
        eventually(&format!("member {name} Ready={want}"), 60, || async {
            let member = members
                .get(name)
                .await
                .map_err(|e| self.hub.kube_error(e))?;
            let is = member
                .status
                .and_then(|s| s.conditions.into_iter().find(|c| c.type_ == "Ready"))
                .is_some_and(|c| c.status == want);
            Ok(is.then_some(()))
        })
        .await
    }

    /// The Work for Gateway `namespace/name` in member `member`.
    pub async fn work(&self, member: &str, gateway: &str) -> Option<Work> {
        Api::<Work>::namespaced(
            self.hub.client(),
            &fedway_hub::join::member_namespace(member),
        )
        .get_opt(gateway)
        .await
        .expect("reading a Work")
    }
}

impl Drop for Federation {
    fn drop(&mut self) {
        self.stop_hub_controller();
        for member in &mut self.members {
            if let Some(agent) = member.agent.take() {
                agent.abort();
            }
        }
    }
}

fn current_tid() -> u32 {
    std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name()?.to_str()?.parse().ok())
        .unwrap_or(0)
}
