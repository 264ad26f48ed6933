//! One simulated cluster: a real etcd and kube-apiserver on the cluster's
//! own loopback address, with real authentication and RBAC, and optionally
//! kube-controller-manager, kube-scheduler and kwok so Deployments become
//! Running Pods with local IPs.

use std::{
    net::{Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use k8s_openapi::api::core::v1::Node;
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use serde_json::json;
use tokio::net::TcpStream;

use crate::{
    Error, Result,
    address::{self, Slot},
    kubeconfig::{self, Credential},
    manifests,
    pki::ClusterPki,
    process::ManagedProcess,
    toolchain::Toolchain,
    wait,
};

const ETCD_CLIENT_PORT: u16 = 2379;
const ETCD_PEER_PORT: u16 = 2380;
/// The API server's port on the cluster's address.
pub const API_SERVER_PORT: u16 = 6443;
const KWOK_PORT: u16 = 10247;
const SERVICE_CIDR: &str = "10.96.0.0/16";
const AUDIT_LOG: &str = "audit.log";
/// Audit policy: metadata of every write, so tests can count the writes a
/// component makes, and of every request by a ServiceAccount (reads too),
/// so a component running with its own ServiceAccount's token can be
/// checked against the RBAC it is granted (`tests/deploy`). Reads by
/// anyone else (the harness) are not recorded.
const AUDIT_POLICY: &str = r#"{"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
 "rules": [{"level": "Metadata", "userGroups": ["system:serviceaccounts"]},
           {"level": "Metadata", "verbs": ["create", "update", "patch", "delete", "deletecollection"]}, {"level": "None"}]}"#;
/// The verbs [`writes_by`] counts.
const WRITE_VERBS: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// What to run besides etcd and kube-apiserver, and what to install.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// kube-controller-manager, kube-scheduler, kwok and one kwok node, so
    /// workloads run (as far as the API is concerned) and Services get
    /// EndpointSlices.
    pub workloads: bool,
    /// Gateway API standard-channel CRDs from the upstream module.
    pub gateway_api: bool,
    /// Fedway's CRDs.
    pub fedway_crds: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            workloads: false,
            gateway_api: true,
            fedway_crds: true,
        }
    }
}

impl ClusterOptions {
    pub fn with_workloads(mut self) -> Self {
        self.workloads = true;
        self
    }

    /// Only etcd and kube-apiserver, nothing installed.
    pub fn bare() -> Self {
        Self {
            workloads: false,
            gateway_api: false,
            fedway_crds: false,
        }
    }
}

/// A running cluster. Dropping it stops every process and frees its
/// addresses and directory (set `FEDWAY_E2E_KEEP=1` to keep the directory,
/// with logs, for debugging).
pub struct Cluster {
    name: String,
    slot: Slot,
    // Stopped in reverse start order by Drop: dependents before etcd.
    processes: Vec<ManagedProcess>,
    client: Client,
    admin_kubeconfig: PathBuf,
    apiserver_args: Vec<String>,
    dir: tempfile::TempDir,
    started_in: Duration,
}

impl Cluster {
    /// Starts cluster `name` and waits until its API server is ready and the
    /// requested CRDs are served.
    pub async fn start(name: &str, options: &ClusterOptions) -> Result<Cluster> {
        let started = Instant::now();
        let toolchain = Toolchain::get()?;
        if options.workloads {
            address::ensure_pod_network()?;
        }
        let slot = Slot::lease()?;
        let ip = slot.control_plane();
        let dir = tempfile::Builder::new()
            .prefix(&format!("fedway-e2e-{name}-"))
            .tempdir()
            .map_err(crate::io_error("creating a cluster directory"))?;
        let files = ClusterFiles::write(name, dir.path(), ip)?;
        let server = format!("https://{ip}:{API_SERVER_PORT}");
        kubeconfig::write(
            &files.admin_kubeconfig,
            name,
            &server,
            &files.ca,
            Credential::ClientCertificate {
                cert: &files.admin_cert,
                key: &files.admin_key,
            },
        )?;
        let client = fedway_runtime::kube_client(Some(&files.admin_kubeconfig))
            .await
            .map_err(|e| Error::Cluster {
                cluster: name.to_owned(),
                message: e.to_string(),
            })?;

        let mut cluster = Cluster {
            name: name.to_owned(),
            slot,
            processes: Vec::new(),
            client,
            admin_kubeconfig: files.admin_kubeconfig.clone(),
            apiserver_args: apiserver_args(ip, &files),
            dir,
            started_in: Duration::ZERO,
        };
        // From here on, an early return drops `cluster` and stops whatever
        // was started.
        cluster.spawn(toolchain, "etcd", etcd_args(name, ip, &files))?;
        cluster.spawn(toolchain, "kube-apiserver", cluster.apiserver_args.clone())?;
        cluster.wait_ready().await?;
        if options.workloads {
            let kubeconfig = files.admin_kubeconfig.display().to_string();
            cluster.spawn(
                toolchain,
                "kube-controller-manager",
                controller_manager_args(&kubeconfig, &files),
            )?;
            cluster.spawn(toolchain, "kube-scheduler", scheduler_args(&kubeconfig))?;
            let stages = toolchain.kwok_stages()?;
            cluster.spawn(
                toolchain,
                "kwok",
                kwok_args(&kubeconfig, ip, &cluster.slot.pod_cidr(), &stages),
            )?;
            cluster.create_kwok_node().await?;
        }
        if options.gateway_api {
            cluster.install_gateway_api(toolchain).await?;
        }
        if options.fedway_crds {
            manifests::install_crds(&cluster.client, &fedway_crds::render::crds()).await?;
        }
        cluster.started_in = started.elapsed();
        tracing::info!(cluster = name, server, started_in = ?cluster.started_in, "cluster ready");
        Ok(cluster)
    }

    fn spawn(&mut self, toolchain: &Toolchain, binary: &str, args: Vec<String>) -> Result<()> {
        let process =
            ManagedProcess::spawn(binary, &toolchain.binary(binary), &args, self.dir.path())?;
        self.processes.push(process);
        Ok(())
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let what = format!("cluster {} API server /readyz", self.name);
        let client = self.client.clone();
        let cluster = self.name.clone();
        let processes = &mut self.processes;
        wait::until(&what, READY_TIMEOUT, Duration::from_millis(200), || {
            // A process that died will never become ready: say why at once.
            let alive: Result<()> = processes
                .iter_mut()
                .try_for_each(|p| p.check_running(&cluster));
            let client = client.clone();
            async move {
                alive?;
                let request = http::Request::get("/readyz")
                    .body(Vec::new())
                    .map_err(|e| Error::Cluster {
                        cluster: String::new(),
                        message: e.to_string(),
                    })?;
                Ok(client
                    .request_text(request)
                    .await
                    .ok()
                    .filter(|body| body.trim() == "ok"))
            }
        })
        .await
        .map(drop)
    }

    async fn install_gateway_api(&self, toolchain: &Toolchain) -> Result<()> {
        let files = toolchain.gateway_api_standard_crds()?;
        let applied = manifests::apply_files(&self.client, &files).await?;
        let crds: Vec<String> = applied
            .iter()
            .filter(|o| {
                o.types
                    .as_ref()
                    .is_some_and(|t| t.kind == "CustomResourceDefinition")
            })
            .filter_map(|o| o.metadata.name.clone())
            .collect();
        if crds.is_empty() {
            return Err(Error::Manifest {
                origin: toolchain.gateway_api_dir.display().to_string(),
                message: "no CRDs found in config/crd/standard".into(),
            });
        }
        manifests::wait_established(&self.client, &crds).await
    }

    /// Registers one node that kwok keeps Ready and whose pods get IPs from
    /// this cluster's pod CIDR.
    async fn create_kwok_node(&self) -> Result<()> {
        let name = format!("kwok-{}", self.name);
        let node = json!({
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": { "kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0" },
                "labels": {
                    "type": "kwok",
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "topology.kubernetes.io/zone": format!("{}-a", self.name),
                },
            },
            "spec": { "podCIDR": self.slot.pod_cidr(), "podCIDRs": [self.slot.pod_cidr()] },
            "status": {
                "allocatable": { "cpu": "32", "memory": "256Gi", "pods": "250" },
                "capacity": { "cpu": "32", "memory": "256Gi", "pods": "250" },
            },
        });
        let nodes: Api<Node> = Api::all(self.client.clone());
        nodes
            .patch(
                &name,
                &PatchParams::apply(manifests::FIELD_MANAGER),
                &Patch::Apply(&node),
            )
            .await
            .map_err(|source| self.kube_error(source))?;
        // Ready means kwok took the node over and serves its port: the
        // cluster is ready for workloads when `start` returns.
        let kwok = SocketAddr::from((self.slot.control_plane(), KWOK_PORT));
        wait::until(
            &format!("kwok node {name} to be Ready"),
            READY_TIMEOUT,
            Duration::from_millis(200),
            || async {
                let node = nodes
                    .get(&name)
                    .await
                    .map_err(|source| self.kube_error(source))?;
                let ready = node
                    .status
                    .and_then(|s| s.conditions)
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True");
                Ok((ready && TcpStream::connect(kwok).await.is_ok()).then_some(()))
            },
        )
        .await
    }

    pub fn kube_error(&self, source: kube::Error) -> Error {
        Error::Kube {
            cluster: self.name.clone(),
            source: Box::new(source),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// An admin (`system:masters`) client.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// An admin kubeconfig, for kubectl and for Fedway's binaries.
    pub fn admin_kubeconfig(&self) -> &Path {
        &self.admin_kubeconfig
    }

    /// `https://127.20.S.1:6443`.
    pub fn server_url(&self) -> String {
        format!("https://{}:{API_SERVER_PORT}", self.slot.control_plane())
    }

    /// The address the control plane listens on.
    pub fn control_plane_ip(&self) -> Ipv4Addr {
        self.slot.control_plane()
    }

    /// Another address of this cluster (`127.20.S.host`), for what a test
    /// runs "in" it. Hosts 1 to 9 are the harness's own.
    pub fn address(&self, host: u8) -> Ipv4Addr {
        self.slot.host(host)
    }

    /// The pod CIDR of its kwok node.
    pub fn pod_cidr(&self) -> String {
        self.slot.pod_cidr()
    }

    /// The CA certificate file clients verify the API server with.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join(ClusterFiles::CA)
    }

    /// Writes a kubeconfig that authenticates with `token`.
    pub fn token_kubeconfig(&self, file_name: &str, token: &str) -> Result<PathBuf> {
        let path = self.dir.path().join(file_name);
        kubeconfig::write(
            &path,
            &self.name,
            &self.server_url(),
            &self.ca_file(),
            Credential::Token(token),
        )?;
        Ok(path)
    }

    /// A client that authenticates with `token`.
    pub async fn token_client(&self, token: &str) -> Result<Client> {
        let path =
            self.token_kubeconfig(&format!("token-{}.kubeconfig", self.processes.len()), token)?;
        fedway_runtime::kube_client(Some(&path))
            .await
            .map_err(|e| Error::Cluster {
                cluster: self.name.clone(),
                message: e.to_string(),
            })
    }

    /// Process IDs of everything the cluster runs.
    pub fn pids(&self) -> Vec<u32> {
        self.processes.iter().map(ManagedProcess::pid).collect()
    }

    /// (address, port) pairs the cluster listens on.
    pub fn listen_addresses(&self) -> Vec<std::net::SocketAddr> {
        let ip = self.slot.control_plane();
        let mut ports = vec![ETCD_CLIENT_PORT, ETCD_PEER_PORT, API_SERVER_PORT];
        if self.processes.iter().any(|p| p.name() == "kwok") {
            ports.push(KWOK_PORT);
        }
        ports.into_iter().map(|port| (ip, port).into()).collect()
    }

    /// Resident memory of all its processes.
    pub fn rss_bytes(&self) -> u64 {
        self.processes
            .iter()
            .filter_map(ManagedProcess::rss_bytes)
            .sum()
    }

    /// How long `start` took.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// Where the processes' logs are.
    pub fn log_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the API server (etcd and the rest keep running): the cluster's
    /// API becomes unreachable, as when a cluster is lost.
    pub fn stop_api_server(&mut self) {
        if let Some(index) = self
            .processes
            .iter()
            .position(|p| p.name() == "kube-apiserver")
        {
            self.processes.remove(index).stop();
        }
    }

    /// Starts the API server again (same address, data and certificates)
    /// and waits until it is ready.
    pub async fn start_api_server(&mut self) -> Result<()> {
        let toolchain = Toolchain::get()?;
        let process = ManagedProcess::spawn(
            "kube-apiserver",
            &toolchain.binary("kube-apiserver"),
            &self.apiserver_args,
            self.dir.path(),
        )?;
        // Keep etcd first so teardown order stays reverse start order.
        self.processes.insert(1.min(self.processes.len()), process);
        self.wait_ready().await
    }

    /// A kubeconfig authenticating as `user` in `groups` (a client
    /// certificate from the cluster's CA), for components under test whose
    /// requests should be told apart from the harness's (audit log).
    pub fn user_kubeconfig(&self, user: &str, groups: &[&str]) -> Result<PathBuf> {
        let read = |file: &str| {
            let path = self.dir.path().join(file);
            std::fs::read_to_string(&path)
                .map_err(crate::io_error(format!("reading {}", path.display())))
        };
        let (cert, key) =
            crate::pki::client_certificate_from(&self.name, &read("ca.key")?, user, groups)
                .map_err(|source| Error::Pki {
                    cluster: self.name.clone(),
                    source,
                })?;
        let cert_path = self.dir.path().join(format!("{user}.crt"));
        let key_path = self.dir.path().join(format!("{user}.key"));
        for (path, pem) in [(&cert_path, cert), (&key_path, key)] {
            std::fs::write(path, pem)
                .map_err(crate::io_error(format!("writing {}", path.display())))?;
        }
        let path = self.dir.path().join(format!("{user}.kubeconfig"));
        kubeconfig::write(
            &path,
            &self.name,
            &self.server_url(),
            &self.ca_file(),
            Credential::ClientCertificate {
                cert: &cert_path,
                key: &key_path,
            },
        )?;
        Ok(path)
    }

    /// Write requests (create, update, patch, delete) by `user` recorded in
    /// the API server's audit log, as `(verb, request URI)`.
    pub fn audited_writes_by(&self, user: &str) -> Result<Vec<(String, String)>> {
        Ok(writes_by(&self.audit_log()?, user))
    }

    /// Every request by `user` the audit log recorded: all of them for
    /// ServiceAccounts (`system:serviceaccount:<namespace>:<name>`), only
    /// writes for other users. A watch still open counts from its
    /// `ResponseStarted` event; each request appears once.
    pub fn audited_requests_by(&self, user: &str) -> Result<Vec<AuditedRequest>> {
        Ok(self
            .audited_requests()?
            .into_iter()
            .filter(|request| request.user == user)
            .collect())
    }

    /// Every request the audit log recorded, in the order logged (see
    /// [`audited_requests_by`](Self::audited_requests_by)).
    pub fn audited_requests(&self) -> Result<Vec<AuditedRequest>> {
        let mut seen = std::collections::BTreeSet::new();
        Ok(self
            .audit_events()?
            .into_iter()
            // A watch is logged at ResponseStarted and again at
            // ResponseComplete, under one audit ID.
            .filter(|event| seen.insert(event["auditID"].to_string()))
            .map(|event| {
                let text =
                    |value: &serde_json::Value| value.as_str().unwrap_or_default().to_owned();
                let object = &event["objectRef"];
                AuditedRequest {
                    user: text(&event["user"]["username"]),
                    verb: text(&event["verb"]),
                    group: text(&object["apiGroup"]),
                    resource: text(&object["resource"]),
                    subresource: text(&object["subresource"]),
                    namespace: text(&object["namespace"]),
                    name: text(&object["name"]),
                    uri: text(&event["requestURI"]),
                    code: event["responseStatus"]["code"].as_u64().map(|c| c as u16),
                }
            })
            .collect())
    }

    fn audit_events(&self) -> Result<Vec<serde_json::Value>> {
        Ok(self
            .audit_log()?
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect())
    }

    /// The audit log's text (empty before the first event).
    fn audit_log(&self) -> Result<String> {
        let path = self.dir.path().join(AUDIT_LOG);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(crate::io_error(format!("reading {}", path.display()))(e)),
        }
    }

    /// Stops every process now (drop does the same).
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        while let Some(mut process) = self.processes.pop() {
            process.stop();
        }
        if std::env::var_os("FEDWAY_E2E_KEEP").is_some() {
            let kept = std::mem::replace(
                &mut self.dir,
                tempfile::Builder::new()
                    .prefix("fedway-e2e-empty-")
                    .tempdir()
                    .unwrap_or_else(|_| tempfile::TempDir::new().expect("a temporary directory")),
            )
            .keep();
            eprintln!(
                "fedway-e2e: kept cluster {} files in {}",
                self.name,
                kept.display()
            );
        }
    }
}

/// One request from the audit log (level Metadata).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditedRequest {
    pub user: String,
    /// The RBAC verb: get, list, watch, create, update, patch, delete...
    pub verb: String,
    /// API group (empty for the core group and for non-resource URLs).
    pub group: String,
    /// Resource (plural); empty for non-resource URLs such as `/apis`.
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    pub uri: String,
    /// The response code, when the request got one (an open watch has
    /// 200 from `ResponseStarted`).
    pub code: Option<u16>,
}

/// Several clusters started together.
pub struct Clusters {
    clusters: Vec<Cluster>,
}

impl Clusters {
    /// Starts the named clusters concurrently, all with `options`.
    pub async fn start(names: &[&str], options: &ClusterOptions) -> Result<Clusters> {
        let clusters =
            futures::future::try_join_all(names.iter().map(|name| Cluster::start(name, options)))
                .await?;
        Ok(Clusters { clusters })
    }

    /// The cluster called `name`.
    ///
    /// # Panics
    /// When there is none: a test asked for a cluster it did not start.
    pub fn get(&self, name: &str) -> &Cluster {
        self.clusters
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no cluster named {name} was started"))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Cluster> {
        self.clusters.iter()
    }

    pub fn into_vec(self) -> Vec<Cluster> {
        self.clusters
    }
}

/// Files of one cluster, in its directory.
struct ClusterFiles {
    dir: PathBuf,
    ca: PathBuf,
    admin_cert: PathBuf,
    admin_key: PathBuf,
    admin_kubeconfig: PathBuf,
}

impl ClusterFiles {
    const CA: &'static str = "ca.crt";

    fn write(name: &str, dir: &Path, ip: Ipv4Addr) -> Result<ClusterFiles> {
        let pki = ClusterPki::generate(name, ip.into()).map_err(|source| Error::Pki {
            cluster: name.to_owned(),
            source,
        })?;
        let contents = [
            (Self::CA, &pki.ca_cert),
            ("ca.key", &pki.ca_key),
            ("apiserver.crt", &pki.serving_cert),
            ("apiserver.key", &pki.serving_key),
            ("admin.crt", &pki.admin_cert),
            ("admin.key", &pki.admin_key),
            ("sa.key", &pki.service_account_key),
            ("sa.pub", &pki.service_account_public_key),
            ("audit-policy.json", &AUDIT_POLICY.to_owned()),
        ];
        for (file, pem) in contents {
            let path = dir.join(file);
            std::fs::write(&path, pem)
                .map_err(crate::io_error(format!("writing {}", path.display())))?;
        }
        Ok(ClusterFiles {
            dir: dir.to_owned(),
            ca: dir.join(Self::CA),
            admin_cert: dir.join("admin.crt"),
            admin_key: dir.join("admin.key"),
            admin_kubeconfig: dir.join("admin.kubeconfig"),
        })
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).display().to_string()
    }
}

fn etcd_args(name: &str, ip: Ipv4Addr, files: &ClusterFiles) -> Vec<String> {
    let client = format!("http://{ip}:{ETCD_CLIENT_PORT}");
    let peer = format!("http://{ip}:{ETCD_PEER_PORT}");
    vec![
        format!("--name={name}"),
        format!("--data-dir={}", files.path("etcd")),
        format!("--listen-client-urls={client}"),
        format!("--advertise-client-urls={client}"),
        format!("--listen-peer-urls={peer}"),
        format!("--initial-advertise-peer-urls={peer}"),
        format!("--initial-cluster={name}={peer}"),
        // Test data is thrown away: skip fsync, which dominates on slow disks.
        "--unsafe-no-fsync=true".into(),
        "--log-level=warn".into(),
    ]
}

fn apiserver_args(ip: Ipv4Addr, files: &ClusterFiles) -> Vec<String> {
    let issuer = format!("https://{ip}:{API_SERVER_PORT}");
    vec![
        format!("--etcd-servers=http://{ip}:{ETCD_CLIENT_PORT}"),
        format!("--bind-address={ip}"),
        format!("--advertise-address={ip}"),
        format!("--secure-port={API_SERVER_PORT}"),
        format!("--cert-dir={}", files.path("apiserver-certs")),
        format!("--tls-cert-file={}", files.path("apiserver.crt")),
        format!("--tls-private-key-file={}", files.path("apiserver.key")),
        format!("--client-ca-file={}", files.path(ClusterFiles::CA)),
        "--anonymous-auth=false".into(),
        "--authorization-mode=RBAC".into(),
        format!("--service-account-issuer={issuer}"),
        format!("--api-audiences={issuer}"),
        format!("--service-account-key-file={}", files.path("sa.pub")),
        format!(
            "--service-account-signing-key-file={}",
            files.path("sa.key")
        ),
        format!("--service-cluster-ip-range={SERVICE_CIDR}"),
        // The `kubernetes` Service's endpoints would be the loopback address,
        // which Endpoints validation refuses; nothing in-cluster needs them.
        "--endpoint-reconciler-type=none".into(),
        "--allow-privileged=true".into(),
        "--profiling=false".into(),
        format!("--audit-policy-file={}", files.path("audit-policy.json")),
        format!("--audit-log-path={}", files.path(AUDIT_LOG)),
        "--audit-log-format=json".into(),
        "--audit-log-mode=blocking".into(),
    ]
}

fn controller_manager_args(kubeconfig: &str, files: &ClusterFiles) -> Vec<String> {
    vec![
        format!("--kubeconfig={kubeconfig}"),
        "--secure-port=0".into(),
        "--leader-elect=false".into(),
        "--use-service-account-credentials=false".into(),
        format!("--root-ca-file={}", files.path(ClusterFiles::CA)),
        format!(
            "--service-account-private-key-file={}",
            files.path("sa.key")
        ),
        format!("--service-cluster-ip-range={SERVICE_CIDR}"),
        "--allocate-node-cidrs=false".into(),
        "--profiling=false".into(),
        // kwok simulates the node. When a starved 2-core machine delays its
        // heartbeat past the default 50 s, the node lifecycle controller
        // marks every pod NotReady and kwok's stages never mark them Ready
        // again (seen in the conformance run: EndpointSlices emptied
        // mid-suite). Tests here never simulate node loss.
        "--node-monitor-grace-period=10m".into(),
    ]
}

fn scheduler_args(kubeconfig: &str) -> Vec<String> {
    vec![
        format!("--kubeconfig={kubeconfig}"),
        format!("--authentication-kubeconfig={kubeconfig}"),
        format!("--authorization-kubeconfig={kubeconfig}"),
        "--secure-port=0".into(),
        "--leader-elect=false".into(),
        "--profiling=false".into(),
    ]
}

fn kwok_args(kubeconfig: &str, ip: Ipv4Addr, pod_cidr: &str, stages: &[PathBuf]) -> Vec<String> {
    let mut args = vec![
        format!("--kubeconfig={kubeconfig}"),
        "--manage-all-nodes=false".into(),
        "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake".into(),
        format!("--cidr={pod_cidr}"),
        format!("--node-ip={ip}"),
        format!("--server-address={ip}:{KWOK_PORT}"),
    ];
    args.extend(
        stages
            .iter()
            .map(|stage| format!("--config={}", stage.display())),
    );
    args
}

/// `(verb, request URI)` of every completed write by `user` in an audit
/// log (one JSON event a line; lines that are not events are skipped).
pub fn writes_by(log: &str, user: &str) -> Vec<(String, String)> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| {
            event["stage"] == "ResponseComplete"
                && event["user"]["username"] == user
                && WRITE_VERBS.contains(&event["verb"].as_str().unwrap_or_default())
        })
        .map(|event| {
            (
                event["verb"].as_str().unwrap_or_default().to_owned(),
                event["requestURI"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}
