//! Traefik (v3, upstream, unmodified) as one member cluster's Gateway API
//! implementation: the proof that Fedway delegates to an implementation it
//! did not write. It runs as a local process against the member's API
//! server with its Kubernetes Gateway provider, authenticating as its own
//! ServiceAccount with only the RBAC its provider needs (never admin), and
//! serves each Gateway listener on an entry point at one address of the
//! member's loopback slot, which it also publishes as the Gateway's status
//! address. Its backends are the member's pods (EndpointSlices), which the
//! [`PodRunner`](crate::PodRunner) serves.

use std::{
    net::Ipv4Addr,
    path::{Path, PathBuf},
};

use k8s_openapi::api::{
    authentication::v1::{TokenRequest, TokenRequestSpec},
    core::v1::ServiceAccount,
};
use kube::{Api, api::PostParams};
use serde_json::{Value, json};

use crate::{Cluster, Error, Result, manifests, process::ManagedProcess, toolchain};

/// The controllerName Traefik's Gateway provider implements (fixed in its
/// source; a GatewayClass naming anything else is ignored by it).
pub const CONTROLLER_NAME: &str = "traefik.io/gateway-controller";
/// Where its ServiceAccount lives.
pub const NAMESPACE: &str = "traefik";
pub const SERVICE_ACCOUNT: &str = "traefik";
/// Its ClusterRole (and binding): the provider watches every namespace.
pub const CLUSTER_ROLE: &str = "fedway-e2e-traefik";
const TOKEN_TTL_SECONDS: i64 = 3600;

/// Namespace, ServiceAccount, ClusterRole and binding for Traefik's
/// Kubernetes Gateway provider. What it needs, from its client's informers
/// and status writers: read namespaces, Services, EndpointSlices, Secrets
/// (listener certificates) and ConfigMaps (BackendTLSPolicy CA bundles);
/// read the Gateway API kinds it implements; update their status. Nothing
/// else, so a request beyond that fails loudly in its log.
pub fn rbac() -> Vec<Value> {
    const GATEWAY_KINDS: [&str; 8] = [
        "gatewayclasses",
        "gateways",
        "httproutes",
        "grpcroutes",
        "tcproutes",
        "tlsroutes",
        "referencegrants",
        "backendtlspolicies",
    ];
    let statuses: Vec<String> = GATEWAY_KINDS
        .iter()
        .filter(|kind| **kind != "referencegrants")
        .map(|kind| format!("{kind}/status"))
        .collect();
    let read = ["get", "list", "watch"];
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": SERVICE_ACCOUNT, "namespace": NAMESPACE}}),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": CLUSTER_ROLE},
            "rules": [
                {"apiGroups": [""], "resources": ["namespaces", "services", "secrets", "configmaps"], "verbs": read},
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
                {"apiGroups": ["gateway.networking.k8s.io"], "resources": GATEWAY_KINDS, "verbs": read},
                {"apiGroups": ["gateway.networking.k8s.io"], "resources": statuses, "verbs": ["update", "patch"]},
            ],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": CLUSTER_ROLE},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": CLUSTER_ROLE},
            "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}],
        }),
    ]
}

/// A GatewayClass `name` for Traefik.
pub fn gateway_class(name: &str) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
        "metadata": {"name": name},
        "spec": {"controllerName": CONTROLLER_NAME},
    })
}

/// Traefik's command line: one entry point per port on `address`, the
/// Gateway provider against `server` with the token in `token_file`, and
/// `address` as every Gateway's status address. No dashboard, API, ping or
/// metrics (they would open more ports), no phoning home.
pub fn args(
    server: &str,
    ca_file: &Path,
    token_file: &Path,
    address: Ipv4Addr,
    ports: &[u16],
) -> Vec<String> {
    let mut args = vec![
        "--global.checknewversion=false".to_owned(),
        "--global.sendanonymoususage=false".to_owned(),
        "--log.level=INFO".to_owned(),
        "--providers.kubernetesgateway=true".to_owned(),
        format!("--providers.kubernetesgateway.endpoint={server}"),
        // A path: Traefik reads the token from the file, so it is not on the
        // command line for every `ps` to see.
        format!(
            "--providers.kubernetesgateway.token={}",
            token_file.display()
        ),
        format!(
            "--providers.kubernetesgateway.certauthfilepath={}",
            ca_file.display()
        ),
        format!("--providers.kubernetesgateway.statusaddress.ip={address}"),
    ];
    // Traefik attaches a Gateway listener to the entry point with the same
    // port, so every listener port needs one.
    args.extend(
        ports
            .iter()
            .map(|port| format!("--entrypoints.port{port}.address={address}:{port}")),
    );
    args
}

/// Traefik running in one member cluster.
pub struct Traefik {
    cluster: String,
    binary: PathBuf,
    args: Vec<String>,
    log_dir: PathBuf,
    address: Ipv4Addr,
    process: Option<ManagedProcess>,
    /// Starts so far: each run logs to its own file (`traefik.log`,
    /// `traefik-2.log`...), so a restart keeps the earlier run's log.
    runs: u32,
}

impl Traefik {
    /// Installs Traefik's RBAC and GatewayClass `class` in `cluster`, mints
    /// its ServiceAccount a token, and starts it serving `ports` on
    /// `address` (one of the cluster's own).
    pub async fn start(
        cluster: &Cluster,
        class: &str,
        address: Ipv4Addr,
        ports: &[u16],
    ) -> Result<Traefik> {
        let binary = toolchain::traefik()?.to_owned();
        let client = cluster.client();
        for object in rbac().into_iter().chain([gateway_class(class)]) {
            manifests::apply(&client, object, "Traefik's RBAC and GatewayClass").await?;
        }
        let accounts: Api<ServiceAccount> = Api::namespaced(client, NAMESPACE);
        let request = TokenRequest {
            spec: TokenRequestSpec {
                audiences: vec![],
                expiration_seconds: Some(TOKEN_TTL_SECONDS),
                ..Default::default()
            },
            ..Default::default()
        };
        let token = accounts
            .create_token_request(SERVICE_ACCOUNT, &PostParams::default(), &request)
            .await
            .map_err(|source| cluster.kube_error(source))?
            .status
            .map(|s| s.token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::Cluster {
                cluster: cluster.name().to_owned(),
                message: format!(
                    "TokenRequest for {NAMESPACE}/{SERVICE_ACCOUNT} returned no token"
                ),
            })?;
        let token_file = cluster.log_dir().join("traefik.token");
        write_private(&token_file, &token)?;
        let mut traefik = Traefik {
            cluster: cluster.name().to_owned(),
            binary,
            args: args(
                &cluster.server_url(),
                &cluster.ca_file(),
                &token_file,
                address,
                ports,
            ),
            log_dir: cluster.log_dir().to_owned(),
            address,
            process: None,
            runs: 0,
        };
        traefik.resume()?;
        Ok(traefik)
    }

    /// Starts the process again after [`stop`](Self::stop), with the same
    /// arguments and token.
    pub fn resume(&mut self) -> Result<()> {
        if self.process.is_some() {
            return Ok(());
        }
        // Exactly this environment: Traefik prefers in-cluster settings and
        // $KUBECONFIG over its flags when it finds them.
        let env: Vec<(String, String)> = ["PATH", "HOME"]
            .iter()
            .filter_map(|k| Some(((*k).to_owned(), std::env::var(k).ok()?)))
            .collect();
        self.runs += 1;
        let name = match self.runs {
            1 => "traefik".to_owned(),
            n => format!("traefik-{n}"),
        };
        self.process = Some(ManagedProcess::spawn_with_env(
            &name,
            &self.binary,
            &self.args,
            Some(&env),
            &self.log_dir,
        )?);
        Ok(())
    }

    /// Kills the process (as a crash: it withdraws nothing it published).
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.stop();
        }
    }

    /// The address its entry points listen on and Gateways report.
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// Fails with the end of its log when it has exited.
    pub fn check_running(&mut self) -> Result<()> {
        match &mut self.process {
            Some(process) => process.check_running(&self.cluster),
            None => Err(Error::Cluster {
                cluster: self.cluster.clone(),
                message: "traefik is stopped".into(),
            }),
        }
    }

    /// The last lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        self.process
            .as_ref()
            .map(|p| p.log_tail(lines))
            .unwrap_or_default()
    }
}

fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(crate::io_error(format!("creating {}", path.display())))?;
    file.write_all(contents.as_bytes())
        .map_err(crate::io_error(format!("writing {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rbac_grants_reads_and_status_writes_only() {
        let objects = rbac();
        let role = objects
            .iter()
            .find(|o| o["kind"] == "ClusterRole")
            .expect("a ClusterRole");
        let rules = role["rules"].as_array().expect("rules");
        for rule in rules {
            let verbs: Vec<&str> = rule["verbs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let resources: Vec<&str> = rule["resources"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let writes = verbs.iter().any(|v| !["get", "list", "watch"].contains(v));
            // Writes only to status subresources; never create/delete/"*".
            assert!(
                !writes || resources.iter().all(|r| r.ends_with("/status")),
                "{rule}"
            );
            assert!(!verbs.contains(&"*") && !resources.contains(&"*"), "{rule}");
        }
        let binding = objects
            .iter()
            .find(|o| o["kind"] == "ClusterRoleBinding")
            .expect("a binding");
        assert_eq!(binding["subjects"][0]["name"], SERVICE_ACCOUNT);
    }

    #[test]
    fn one_entry_point_per_listener_port_on_the_status_address() {
        let ip = Ipv4Addr::new(127, 20, 3, 20);
        let args = args(
            "https://127.20.3.1:6443",
            Path::new("/d/ca.crt"),
            Path::new("/d/traefik.token"),
            ip,
            &[80, 8080],
        );
        for want in [
            "--entrypoints.port80.address=127.20.3.20:80",
            "--entrypoints.port8080.address=127.20.3.20:8080",
            "--providers.kubernetesgateway.statusaddress.ip=127.20.3.20",
            "--providers.kubernetesgateway.token=/d/traefik.token",
        ] {
            assert!(args.iter().any(|a| a == want), "{want} in {args:?}");
        }
    }
}
