//! Fedway's core promise on real control planes: a Gateway and its routes
//! written once in the hub run in every chosen member, and the hub tells
//! the truth about where. The hub controller and the agents run in this
//! process (as they would in their binaries), against a real hub and real
//! members, each agent with the credential `fedway-hub join` minted.

mod define_once;
mod resilience;
mod safety;

use std::{collections::BTreeMap, path::PathBuf, sync::Arc, time::Duration};

use fedway_crds::{MemberCluster, Work};
use fedway_e2e::{Cluster, ClusterOptions, Clusters, manifests};
use kube::{
    Api, Client,
    api::{DynamicObject, Patch, PatchParams},
    core::{ApiResource, GroupVersionKind},
};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// The user the agents' member clients authenticate as (audit log).
pub const AGENT_USER: &str = "fedway-agent";

pub struct Federation {
    pub hub: Cluster,
    pub members: Vec<Member>,
    hub_controller: Option<JoinHandle<()>>,
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
        fedway_e2e::init_test_logging();
        let names: Vec<&str> = std::iter::once("hub")
            .chain(members.iter().map(|(n, _)| *n))
            .collect();
        let mut clusters = Clusters::start(&names, &ClusterOptions::default())
            .await
            .expect("starting hub and members")
            .into_vec()
            .into_iter();
        let hub = clusters.next().expect("the hub");
        apply(
            &hub.client(),
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
                   "metadata": {"name": "fedway"}, "spec": {"controllerName": "fedway.dev/hub"}}),
        )
        .await;
        let mut federation = Federation {
            hub,
            members: Vec::new(),
            hub_controller: None,
        };
        federation.start_hub_controller();
        for ((name, labels), cluster) in members.iter().zip(clusters) {
            let hub_kubeconfig = federation.join(name, labels, &cluster).await;
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

    /// `fedway-hub join`, as the CLI does it: returns the agent kubeconfig.
    async fn join(&self, name: &str, labels: &[(&str, &str)], member: &Cluster) -> PathBuf {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        let request = fedway_hub::join::JoinRequest {
            name,
            labels: &labels,
            token_ttl: Duration::from_secs(3600),
            rotate: false,
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
        let path = member.log_dir().join("hub-agent.kubeconfig");
        std::fs::write(&path, kubeconfig).expect("writing the agent kubeconfig");
        path
    }

    pub fn start_hub_controller(&mut self) {
        let client = self.hub.client();
        let leader = fedway_hub::leader::LeaderConfig {
            namespace: "fedway-system".into(),
            name: "fedway-hub".into(),
            identity: "test-hub".into(),
            lease_duration: Duration::from_secs(15),
        };
        self.hub_controller = Some(tokio::spawn(async move {
            if let Err(error) = fedway_hub::run::run(client, leader, std::future::pending()).await {
                tracing::error!(%error, "hub controller stopped");
            }
        }));
    }

    pub fn stop_hub_controller(&mut self) {
        if let Some(hub) = self.hub_controller.take() {
            hub.abort();
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
        let ctx = Arc::new(fedway_agent::reconcile::Context {
            hub,
            kinds: fedway_agent::kinds::Kinds::new(member_client.clone()),
            member: member_client,
            cluster: member.name.clone(),
            namespace: fedway_hub::join::member_namespace(&member.name),
        });
        let name = member.name.clone();
        member.agent = Some(tokio::spawn(async move {
            if let Err(error) = fedway_agent::run::run(ctx, std::future::pending()).await {
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

pub async fn apply(client: &Client, object: Value) -> DynamicObject {
    manifests::apply(client, object, "test")
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

pub fn resource(kind: &str, version: &str, plural: &str) -> ApiResource {
    let group = if kind == "MemberCluster" {
        "fedway.dev"
    } else {
        "gateway.networking.k8s.io"
    };
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

pub fn gateways(client: &Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        namespace,
        &resource("Gateway", "v1", "gateways"),
    )
}

pub fn http_routes(client: &Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        namespace,
        &resource("HTTPRoute", "v1", "httproutes"),
    )
}

/// Writes status as the member's Gateway API implementation would (there
/// is none in these members: this is the part a real one plays).
pub async fn implementation_reports(api: &Api<DynamicObject>, name: &str, status: Value) {
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(&json!({"status": status})),
    )
    .await
    .unwrap_or_else(|e| panic!("writing implementation status of {name}: {e}"));
}

pub use fedway_e2e::wait::eventually;

/// The condition `type_` of an object's `status.conditions`.
pub fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}
