//! A simulated fleet, as kwok simulates nodes: members joined to the real
//! hub with the credentials `fedway-hub join` mints, each running the
//! agent's own Work reconciler and heartbeat (`fedway_agent::run::
//! run_simulated`), with only the member side simulated ([`Simulated`]):
//! every object is applied at once and its status is what a conformant
//! Gateway API implementation writes (accepted, programmed, an address).
//! The hub sees the API traffic of a thousand agents (Work watches, Work
//! status, Lease renewals) without a thousand API servers.

use std::{net::Ipv4Addr, path::Path, sync::Arc};

use fedway_agent::{
    member::{Applied, Member, Report},
    shared::{Copy, Merged},
};
use fedway_crds::{
    member_cluster::DiscoveredGatewayClass,
    work::{ObjectIdentity, TakeoverPolicy},
};
use futures::future::BoxFuture;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::federation::Federation;

/// The GatewayClass every simulated member has.
pub const SIMULATED_CLASS: &str = "simulated";
const SIMULATED_CONTROLLER: &str = "fedway.dev/simulated";

/// A member cluster that applies everything and reports it programmed.
/// It keeps nothing: the agent's Work status says what it applied.
pub struct Simulated {
    /// The address its Gateways get.
    address: Ipv4Addr,
}

impl Simulated {
    pub fn new(address: Ipv4Addr) -> Self {
        Self { address }
    }

    /// `object` with the status a conformant implementation writes once it
    /// has programmed it.
    fn programmed(&self, mut object: Value) -> Value {
        let ok = |type_: &str| {
            json!({"type": type_, "status": "True", "reason": type_, "message": "",
                   "lastTransitionTime": "2026-01-01T00:00:00Z"})
        };
        match object["kind"].as_str().unwrap_or_default() {
            "Gateway" => {
                let listeners: Vec<Value> = object["spec"]["listeners"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|l| {
                        json!({"name": l["name"], "attachedRoutes": 0,
                               "conditions": [ok("Accepted"), ok("ResolvedRefs"), ok("Programmed")]})
                    })
                    .collect();
                object["status"] = json!({
                    "addresses": [{"type": "IPAddress", "value": self.address.to_string()}],
                    "conditions": [ok("Accepted"), ok("Programmed")],
                    "listeners": listeners,
                });
            }
            "HTTPRoute" | "GRPCRoute" | "TLSRoute" | "TCPRoute" | "UDPRoute" => {
                let parents: Vec<Value> = object["spec"]["parentRefs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|parent| {
                        json!({"parentRef": parent, "controllerName": SIMULATED_CONTROLLER,
                               "conditions": [ok("Accepted"), ok("ResolvedRefs")]})
                    })
                    .collect();
                object["status"] = json!({"parents": parents});
            }
            _ => {}
        }
        object
    }
}

impl Member for Simulated {
    fn apply<'a>(
        &'a self,
        merged: Merged,
        _identity: &'a ObjectIdentity,
        _policy: TakeoverPolicy,
    ) -> BoxFuture<'a, Result<Applied, fedway_agent::Error>> {
        let feedback = fedway_agent::feedback::extract(&self.programmed(merged.object));
        Box::pin(async move {
            Ok(Applied {
                conflict: None,
                feedback,
            })
        })
    }

    fn prune<'a>(
        &'a self,
        _work: &'a str,
        _identity: &'a ObjectIdentity,
        _carriers: &'a [Copy<'a>],
    ) -> BoxFuture<'a, Result<(), fedway_agent::Error>> {
        Box::pin(async { Ok(()) })
    }

    fn report(&self) -> BoxFuture<'_, Result<Report, fedway_agent::Error>> {
        Box::pin(async {
            Ok(Report {
                kubernetes_version: "v1.34.0-simulated".into(),
                gateway_classes: vec![DiscoveredGatewayClass {
                    name: SIMULATED_CLASS.into(),
                    controller_name: SIMULATED_CONTROLLER.into(),
                    accepted: true,
                    supported_features: vec![],
                }],
            })
        })
    }
}

/// Simulated members, joined and running; stopped on drop.
pub struct Fleet {
    pub names: Vec<String>,
    pub members: Vec<Arc<Simulated>>,
    agents: Vec<JoinHandle<()>>,
}

impl Fleet {
    /// Joins `count` simulated members `<prefix>-<i>` to `federation`'s hub
    /// (their kubeconfigs under `dir`) and starts their agents.
    pub async fn join(federation: &Federation, prefix: &str, count: usize, dir: &Path) -> Fleet {
        let mut fleet = Fleet {
            names: Vec::with_capacity(count),
            members: Vec::with_capacity(count),
            agents: Vec::with_capacity(count),
        };
        for i in 0..count {
            let name = format!("{prefix}-{i}");
            let kubeconfig = federation.join(&name, &[], dir).await;
            let hub = fedway_runtime::kube_client(Some(&kubeconfig))
                .await
                .expect("a simulated agent's hub client");
            let member = Arc::new(Simulated::new(Ipv4Addr::new(
                127,
                200,
                (i / 250) as u8,
                (i % 250 + 1) as u8,
            )));
            let ctx = fedway_agent::reconcile::Context::new(
                hub,
                member.clone(),
                name.clone(),
                Default::default(),
            );
            let agent_name = name.clone();
            fleet.agents.push(tokio::spawn(async move {
                if let Err(error) =
                    fedway_agent::run::run_simulated(ctx, std::future::pending()).await
                {
                    tracing::error!(member = agent_name, %error, "simulated agent stopped");
                }
            }));
            fleet.names.push(name);
            fleet.members.push(member);
        }
        fleet
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for agent in &self.agents {
            agent.abort();
        }
    }
}
