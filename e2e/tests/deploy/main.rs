//! The manifests in `deploy/` on real API servers (issue 6, "Deploy"):
//!
//! 1. every object is accepted by a server-side dry run (strict field
//!    validation) in the cluster it is meant for, after Fedway's CRDs from
//!    `crds/yaml` and the Gateway API CRDs;
//! 2. the RBAC is applied for real and each binary (`fedway-hub run`,
//!    `fedway-agent`, `fedway-dns` twice, `fedway-proxy`, built from this
//!    workspace) runs with nothing but a token of its own ServiceAccount,
//!    driving a whole workload: a hub Gateway and HTTPRoute placed into a
//!    member, applied there by the agent, programmed by fedway-proxy (a
//!    real request goes through it), reported back to the hub, published
//!    as a DNSRecord that both DNS servers answer, with DNSPolicy status
//!    from the one beside the hub. Any permission missing fails it: a 403
//!    in an audit log or "forbidden" in a log fails the test;
//! 3. from the audit logs, per ServiceAccount, the permissions granted but
//!    never used are printed (and written to
//!    `target/fedway-e2e-deploy-permissions.txt`); only a `*` anywhere
//!    fails.
//!
//! `fedway-hub join` runs as the administrator (the admin kubeconfig), as
//! the manifests' README says it must.

mod chart;
mod permissions;

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use fedway_crds::DNSRecord;
use fedway_e2e::{Cluster, ClusterOptions, manifests, process::ManagedProcess};
use hickory_proto::{
    op::{Edns, Message, MessageType, OpCode, Query, ResponseCode},
    rr::{Name, RecordType},
};
use k8s_openapi::api::{
    authentication::v1::{TokenRequest, TokenRequestSpec},
    core::v1::ServiceAccount,
};
use kube::{
    Api, Client,
    api::{DynamicObject, Patch, PatchParams, PostParams},
    core::{ApiResource, GroupVersionKind},
    discovery::Scope,
};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream, UdpSocket},
};

const NAMESPACE: &str = "fedway-system";
const MEMBER: &str = "east";
const HOSTNAME: &str = "shop.global.example.com";
/// The binaries this test runs, by package.
const BINARIES: [(&str, &str); 4] = [
    ("fedway-hub", "fedway-hub"),
    ("fedway-agent", "fedway-agent"),
    ("fedway-dns", "fedway-dns"),
    ("fedway-proxy", "fedway-proxy"),
];
/// Hosts of the member's slot: fedway-proxy's pool, the DNS servers.
const POOL: (u8, u8) = (100, 110);
const DNS_HOST: u8 = 53;
const DNS_PORT: u16 = 5353;
/// Metrics endpoints: host (last octet) in the component's cluster slot.
const HUB_METRICS_HOST: u8 = 90;
const AGENT_METRICS_HOST: u8 = 90;
const PROXY_METRICS_HOST: u8 = 91;
const METRICS_PORT: u16 = 9090;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("e2e/ is inside the repository")
        .to_owned()
}

/// Builds the binaries (`cargo test` builds a package's binaries only for
/// that package's own integration tests, so they may be missing or stale)
/// into this test's target directory and returns where they are. `cargo
/// build --workspace --bins --tests` resolves features as `cargo test
/// --workspace` does (dev-dependencies included), so under CI's `cargo
/// test --workspace` everything but the binaries' linking is already
/// built; run alone, this test builds the workspace's tests once.
fn build_binaries() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    // target/<profile>/deps/deploy-<hash>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from target/<profile>/deps")
        .to_owned();
    let target_dir = profile_dir.parent().expect("target/<profile>").to_owned();
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .current_dir(repository())
        .args(["build", "--workspace", "--bins", "--tests", "--target-dir"])
        .arg(&target_dir);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cargo.arg("--release");
    }
    let status = cargo
        .status()
        .unwrap_or_else(|e| panic!("running cargo build --workspace --bins --tests: {e}"));
    assert!(
        status.success(),
        "cargo build --workspace --bins --tests: {status}"
    );
    for (_, bin) in BINARIES {
        assert!(profile_dir.join(bin).is_file(), "{bin} was not built");
    }
    profile_dir
}

/// Every object in `deploy/<component>/*.yaml`, in file order.
fn component_objects(component: &str) -> Vec<(String, Value)> {
    let dir = repository().join("deploy").join(component);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|file| {
            let origin = format!(
                "deploy/{component}/{}",
                file.file_name().unwrap_or_default().to_string_lossy()
            );
            let text = std::fs::read_to_string(file)
                .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
            manifests::parse_yaml(&text, &origin)
                .unwrap_or_else(|e| panic!("{e}"))
                .into_iter()
                .map(move |object| (origin.clone(), object))
        })
        .collect()
}

fn describe(object: &Value) -> String {
    let meta = &object["metadata"];
    let name = match meta["namespace"].as_str() {
        Some(namespace) => format!("{namespace}/{}", meta["name"].as_str().unwrap_or_default()),
        None => meta["name"].as_str().unwrap_or_default().to_owned(),
    };
    format!("{} {name}", object["kind"].as_str().unwrap_or_default())
}

/// The Api for `object`'s kind, as the server serves it.
async fn api_for(client: &Client, object: &Value) -> Result<Api<DynamicObject>, String> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (resource, capabilities) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .map_err(|e| format!("{api_version} {kind} is not served: {e}"))?;
    Ok(match capabilities.scope {
        Scope::Namespaced => Api::namespaced_with(
            client.clone(),
            object["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default"),
            &resource,
        ),
        Scope::Cluster => Api::all_with(client.clone(), &resource),
    })
}

/// Server-side apply of `object` as an installer would (`kubectl apply
/// --server-side`), unknown fields refused; `dry_run` only validates.
async fn install(client: &Client, object: &Value, dry_run: bool) -> Result<(), String> {
    let api = api_for(client, object).await?;
    let mut params = PatchParams::apply("fedway-deploy")
        .force()
        .validation_strict();
    params.dry_run = dry_run;
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    api.patch(name, &params, &Patch::Apply(object))
        .await
        .map(drop)
        .map_err(|e| manifests::kube_message(&e))
}

/// Dry-runs every object of `components` in `cluster` (creating their
/// Namespaces for real first, as the objects in them need them), then
/// applies the ones a test can use without a kubelet: Namespaces,
/// ServiceAccounts, RBAC and GatewayClasses. Returns every object.
async fn deploy(cluster: &Cluster, components: &[&str]) -> Vec<Value> {
    let client = cluster.client();
    let objects: Vec<(String, Value)> = components
        .iter()
        .flat_map(|c| component_objects(c))
        .collect();
    let mut rejected = Vec::new();
    for (origin, object) in objects.iter().filter(|(_, o)| o["kind"] == "Namespace") {
        for dry_run in [true, false] {
            if let Err(message) = install(&client, object, dry_run).await {
                rejected.push(format!("{origin}: {}: {message}", describe(object)));
            }
        }
    }
    for (origin, object) in objects.iter().filter(|(_, o)| o["kind"] != "Namespace") {
        if let Err(message) = install(&client, object, true).await {
            rejected.push(format!("{origin}: {}: {message}", describe(object)));
        }
    }
    assert!(
        rejected.is_empty(),
        "cluster {} refused objects of deploy/ in a server-side dry run:\n{}",
        cluster.name(),
        rejected.join("\n")
    );
    const APPLIED: [&str; 6] = [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "GatewayClass",
    ];
    for (origin, object) in &objects {
        if APPLIED.contains(&object["kind"].as_str().unwrap_or_default()) {
            install(&client, object, false)
                .await
                .unwrap_or_else(|e| panic!("{origin}: applying {}: {e}", describe(object)));
        }
    }
    objects.into_iter().map(|(_, o)| o).collect()
}

/// A token of ServiceAccount fedway-system/`account`, in a kubeconfig.
async fn token_kubeconfig(cluster: &Cluster, account: &str) -> PathBuf {
    let accounts: Api<ServiceAccount> = Api::namespaced(cluster.client(), NAMESPACE);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![cluster.server_url()],
            expiration_seconds: Some(3600),
            ..Default::default()
        },
        ..Default::default()
    };
    let token = accounts
        .create_token_request(account, &PostParams::default(), &request)
        .await
        .unwrap_or_else(|e| panic!("TokenRequest for {account} in {}: {e}", cluster.name()))
        .status
        .expect("a token in the TokenRequest status")
        .token;
    cluster
        .token_kubeconfig(&format!("{account}.kubeconfig"), &token)
        .expect("writing a token kubeconfig")
}

fn user(account: &str) -> String {
    format!("system:serviceaccount:{NAMESPACE}:{account}")
}

/// A binary of this workspace as a process in `cluster`'s directory, with
/// an environment of its own (no FEDWAY_* or KUBECONFIG from the test's).
fn run(
    cluster: &Cluster,
    bin_dir: &Path,
    name: &str,
    bin: &str,
    args: &[String],
) -> ManagedProcess {
    let env = vec![("PATH".to_owned(), std::env::var("PATH").unwrap_or_default())];
    ManagedProcess::spawn_with_env(
        name,
        &bin_dir.join(bin),
        args,
        Some(&env),
        cluster.log_dir(),
    )
    .unwrap_or_else(|e| panic!("starting {name}: {e}"))
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

fn gateway_api(client: &Client, kind: &str, plural: &str, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        namespace,
        &resource("gateway.networking.k8s.io", "v1", kind, plural),
    )
}

fn condition_is(object: &Value, type_: &str, status: &str) -> bool {
    object["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == type_ && c["status"] == status)
}

async fn apply(client: &Client, object: Value) {
    manifests::apply(client, object, "deploy test")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// The hub's workload: a Fedway Gateway, an HTTPRoute and a GRPCRoute in
/// namespace web, placed into the member, whose backend is in namespace
/// backend (so a ReferenceGrant travels too), in a DNSZone, with a
/// DNSPolicy probing it.
fn hub_workload() -> Vec<Value> {
    let backend = json!([{"name": "echo", "namespace": "backend", "port": 8080}]);
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "web"}}),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "backend"}}),
        json!({"apiVersion": "fedway.dev/v1alpha1", "kind": "DNSZone", "metadata": {"name": "global"},
               "spec": {"zone": "global.example.com",
                        "nameServers": [{"name": "ns1.global.example.com", "addresses": ["192.0.2.53"]}]}}),
        json!({"apiVersion": "fedway.dev/v1alpha1", "kind": "PlacementPolicy",
               "metadata": {"name": "shop", "namespace": "web"},
               "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shop"}],
                        "clusterNames": [MEMBER]}}),
        json!({"apiVersion": "fedway.dev/v1alpha1", "kind": "DNSPolicy",
               "metadata": {"name": "shop", "namespace": "web"},
               "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shop"}],
                        "strategy": "RoundRobin", "ttlSeconds": 5,
                        "healthCheck": {"protocol": "HTTP", "port": 80, "path": "/", "interval": "1s",
                                        "timeout": "500ms", "failureThreshold": 2, "successThreshold": 1}}}),
        json!({"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
               "metadata": {"name": "web-routes", "namespace": "backend"},
               "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "web"},
                                 {"group": "gateway.networking.k8s.io", "kind": "GRPCRoute", "namespace": "web"}],
                        "to": [{"group": "", "kind": "Service"}]}}),
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
               "metadata": {"name": "shop", "namespace": "web"},
               "spec": {"gatewayClassName": "fedway",
                        "listeners": [{"name": "http", "port": 80, "protocol": "HTTP", "hostname": HOSTNAME}]}}),
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
               "metadata": {"name": "shop", "namespace": "web"},
               "spec": {"parentRefs": [{"name": "shop"}], "rules": [{"backendRefs": backend}]}}),
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GRPCRoute",
               "metadata": {"name": "shop", "namespace": "web"},
               "spec": {"parentRefs": [{"name": "shop"}],
                        "rules": [{"matches": [{"method": {"service": "shop.Cart"}}], "backendRefs": backend}]}}),
    ]
}

/// The backend in the member: Service backend/echo and its EndpointSlice
/// (no controller-manager here) at `address`:8080, where the test serves
/// HTTP. The namespace is the agent's to create; applying it too only
/// makes the order not matter.
fn member_backend(address: Ipv4Addr) -> Vec<Value> {
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "backend"}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "echo", "namespace": "backend"},
               "spec": {"ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}}),
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "metadata": {"name": "echo-1", "namespace": "backend",
                            "labels": {"kubernetes.io/service-name": "echo"}},
               "addressType": "IPv4",
               "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
               "endpoints": [{"addresses": [address.to_string()], "conditions": {"ready": true}}]}),
    ]
}

/// Whether `object`'s status has a parent entry of fedway-proxy with
/// condition `type_` True.
fn proxy_parent_says(object: &DynamicObject, type_: &str) -> bool {
    object.data["status"]["parents"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| p["controllerName"] == "fedway.dev/lb-proxy" && condition_is(p, type_, "True"))
}

/// Answers every HTTP request on `address` with 200 `deploy-ok`.
async fn serve_backend(address: SocketAddr) -> tokio::task::JoinHandle<()> {
    let listener = TcpListener::bind(address)
        .await
        .unwrap_or_else(|e| panic!("binding the backend on {address}: {e}"));
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\nconnection: close\r\n\r\ndeploy-ok")
                    .await;
            });
        }
    })
}

/// One GET through the proxy at `address`:80 for [`HOSTNAME`]: the status
/// line and body.
async fn get_through(address: Ipv4Addr) -> Result<String, String> {
    let exchange = async {
        let mut stream = TcpStream::connect((address, 80))
            .await
            .map_err(|e| e.to_string())?;
        stream
            .write_all(
                format!("GET / HTTP/1.1\r\nhost: {HOSTNAME}\r\nconnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .map_err(|e| e.to_string())?;
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(String::from_utf8_lossy(&response).into_owned())
    };
    tokio::time::timeout(Duration::from_secs(2), exchange)
        .await
        .map_err(|_| "no response within 2 s".to_owned())?
}

/// The A records `server` answers for [`HOSTNAME`].
async fn resolve(server: SocketAddr) -> Result<Vec<IpAddr>, String> {
    let mut message = Message::new(next_query_id(), MessageType::Query, OpCode::Query);
    message.add_query(Query::query(
        Name::from_ascii(format!("{HOSTNAME}.")).expect("a valid name"),
        RecordType::A,
    ));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    message.edns = Some(edns);
    let bytes = message.to_vec().expect("encoding a query");
    let exchange = async {
        let socket = UdpSocket::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        socket
            .send_to(&bytes, server)
            .await
            .map_err(|e| e.to_string())?;
        let mut reply = vec![0u8; 65_535];
        loop {
            let (n, _) = socket
                .recv_from(&mut reply)
                .await
                .map_err(|e| e.to_string())?;
            let reply = Message::from_vec(&reply[..n]).map_err(|e| e.to_string())?;
            if reply.id == message.id {
                return Ok::<Message, String>(reply);
            }
        }
    };
    let reply = tokio::time::timeout(Duration::from_secs(1), exchange)
        .await
        .map_err(|_| "no reply within 1 s".to_owned())??;
    if reply.response_code != ResponseCode::NoError {
        return Err(format!("rcode {}", reply.response_code));
    }
    Ok(reply
        .answers
        .iter()
        .filter_map(|r| r.data.ip_addr())
        .collect())
}

fn next_query_id() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static ID: AtomicU16 = AtomicU16::new(1);
    ID.fetch_add(1, Ordering::Relaxed)
}

/// Lines of the logs `(name, path)` that say a request was refused.
fn refusals(logs: &[(String, PathBuf)]) -> Vec<String> {
    logs.iter()
        .flat_map(|(name, path)| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            text.lines()
                .filter(|line| {
                    let lower = line.to_lowercase();
                    lower.contains("forbidden") || lower.contains(" 403")
                })
                .map(|line| format!("{name}: {line}"))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// [`fedway_e2e::wait::eventually`], but a timeout names the refusals in the components'
/// logs, the likely cause here.
async fn converge<T, F, Fut>(what: &str, secs: u64, logs: &[(String, PathBuf)], check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = fedway_e2e::Result<Option<T>>>,
{
    match fedway_e2e::wait::until(
        what,
        Duration::from_secs(secs),
        Duration::from_millis(100),
        check,
    )
    .await
    {
        Ok(value) => value,
        Err(error) => {
            let refused = refusals(logs);
            let shown: Vec<&String> = refused.iter().take(10).collect();
            panic!(
                "{error}; refusals in the components' logs ({}): {shown:#?}",
                refused.len()
            )
        }
    }
}

/// What a dry run cannot see: every workload's non-root containers can read
/// the Secrets they mount (the agent's hub kubeconfig once could not).
#[test]
fn every_workload_can_read_its_secrets() {
    let components = std::fs::read_dir(repository().join("deploy"))
        .expect("reading deploy/")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_dir() && path.file_name().is_some_and(|n| n != "docker"))
        .map(|path| {
            path.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        });
    let mut workloads = 0;
    for component in components {
        for (origin, object) in component_objects(&component) {
            let spec = &object["spec"]["template"]["spec"];
            if spec.is_null() {
                continue;
            }
            workloads += 1;
            let unreadable = fedway_e2e::pod_spec::unreadable_secret_mounts(spec);
            assert!(
                unreadable.is_empty(),
                "{origin} {}: {unreadable:?}",
                describe(&object)
            );
        }
    }
    assert!(
        workloads >= 5,
        "found only {workloads} workloads in deploy/"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_manifests_are_valid_and_their_rbac_is_enough_to_run_fedway() {
    fedway_e2e::init_test_logging();
    fedway_e2e::address::ensure_pod_network().expect("the pod network route (needs root)");
    let binaries = tokio::task::spawn_blocking(build_binaries);
    // Gateway API CRDs from the harness; Fedway's from crds/yaml below,
    // the files an operator applies.
    let options = ClusterOptions {
        fedway_crds: false,
        ..ClusterOptions::default()
    };
    let (hub, member) = futures::future::try_join(
        Cluster::start("deploy-hub", &options),
        Cluster::start("deploy-east", &options),
    )
    .await
    .expect("starting the hub and the member");
    let crd_files: Vec<PathBuf> = {
        let dir = repository().join("crds/yaml");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("reading crds/yaml")
            .map(|e| e.expect("a directory entry").path())
            .collect();
        files.sort();
        files
    };
    let crds = manifests::read_crds(&crd_files).expect("reading crds/yaml");
    assert_eq!(
        crds.len(),
        fedway_crds::render::crds().len(),
        "crds/yaml holds every CRD of fedway-crds"
    );
    for cluster in [&hub, &member] {
        manifests::install_crds(&cluster.client(), &crds)
            .await
            .expect("installing crds/yaml");
    }

    // 1. Dry run of everything; RBAC and classes for real.
    // Every directory of deploy/ with manifests is checked in one cluster
    // or the other: a new one must be added here.
    let mut directories: Vec<String> = std::fs::read_dir(repository().join("deploy"))
        .expect("reading deploy/")
        .map(|e| e.expect("a directory entry").path())
        .filter(|dir| {
            std::fs::read_dir(dir).is_ok_and(|mut files| {
                files.any(|f| f.is_ok_and(|f| f.path().extension().is_some_and(|e| e == "yaml")))
            })
        })
        .filter_map(|dir| Some(dir.file_name()?.to_string_lossy().into_owned()))
        .collect();
    directories.sort();
    assert_eq!(directories, ["agent", "dns", "dns-hub", "hub", "proxy"]);
    let hub_objects = deploy(&hub, &["hub", "dns-hub"]).await;
    let member_objects = deploy(&member, &["agent", "dns", "proxy"]).await;
    let all: Vec<Value> = hub_objects.iter().chain(&member_objects).cloned().collect();
    let wildcards = permissions::wildcards(&all);
    assert!(
        wildcards.is_empty(),
        "deploy/ grants '*':\n{}",
        wildcards.join("\n")
    );

    let bin_dir = binaries.await.expect("building the binaries");
    let admin = hub.client();
    let east = member.client();

    // 2. Join, as the administrator.
    let agent_hub_kubeconfig = member.log_dir().join("agent-hub.kubeconfig");
    let join = Command::new(bin_dir.join("fedway-hub"))
        .env_clear()
        .arg("join")
        .arg(MEMBER)
        .args([
            "--label",
            "topology.kubernetes.io/region=eu-west",
            "--token-ttl",
            "1h",
        ])
        .arg("--output")
        .arg(&agent_hub_kubeconfig)
        .arg("--kubeconfig")
        .arg(hub.admin_kubeconfig())
        .output()
        .expect("running fedway-hub join");
    assert!(
        join.status.success(),
        "fedway-hub join: {}",
        String::from_utf8_lossy(&join.stderr)
    );

    // Each component with its own ServiceAccount's token only.
    let hub_dns_address = SocketAddr::from((hub.address(DNS_HOST), DNS_PORT));
    let member_dns_address = SocketAddr::from((member.address(DNS_HOST), DNS_PORT));
    let pool = format!("{}-{}", member.address(POOL.0), member.address(POOL.1));
    let hub_metrics = SocketAddr::from((hub.address(HUB_METRICS_HOST), METRICS_PORT));
    let agent_metrics = SocketAddr::from((member.address(AGENT_METRICS_HOST), METRICS_PORT));
    let proxy_metrics = SocketAddr::from((member.address(PROXY_METRICS_HOST), METRICS_PORT));
    let path = |p: PathBuf| p.display().to_string();
    let processes = vec![
        run(
            &hub,
            &bin_dir,
            "fedway-hub",
            "fedway-hub",
            &[
                "run".into(),
                "--kubeconfig".into(),
                path(token_kubeconfig(&hub, "fedway-hub").await),
                "--identity".into(),
                "deploy-test".into(),
                "--metrics-listen".into(),
                hub_metrics.to_string(),
            ],
        ),
        run(
            &hub,
            &bin_dir,
            "fedway-dns",
            "fedway-dns",
            &[
                "--kubeconfig".into(),
                path(token_kubeconfig(&hub, "fedway-dns").await),
                "--listen".into(),
                hub_dns_address.to_string(),
                "--udp-sockets".into(),
                "1".into(),
                "--threads".into(),
                "1".into(),
                "--report-policy-status".into(),
            ],
        ),
        run(
            &member,
            &bin_dir,
            "fedway-agent",
            "fedway-agent",
            &[
                "--hub-kubeconfig".into(),
                path(agent_hub_kubeconfig.clone()),
                "--cluster".into(),
                MEMBER.into(),
                "--metrics-listen".into(),
                agent_metrics.to_string(),
                "--kubeconfig".into(),
                path(token_kubeconfig(&member, "fedway-agent").await),
            ],
        ),
        run(
            &member,
            &bin_dir,
            "fedway-dns",
            "fedway-dns",
            &[
                "--kubeconfig".into(),
                path(token_kubeconfig(&member, "fedway-dns").await),
                "--listen".into(),
                member_dns_address.to_string(),
                "--udp-sockets".into(),
                "1".into(),
                "--threads".into(),
                "1".into(),
            ],
        ),
        run(
            &member,
            &bin_dir,
            "fedway-proxy",
            "fedway-proxy",
            &[
                "--kubeconfig".into(),
                path(token_kubeconfig(&member, "fedway-proxy").await),
                // As deploy/proxy/deployment.yaml: the class is a manifest.
                "--gateway-class=".into(),
                "--address-pool".into(),
                pool,
                "--threads".into(),
                "1".into(),
                "--metrics-listen".into(),
                proxy_metrics.to_string(),
            ],
        ),
    ];

    let logs: Vec<(String, PathBuf)> = processes
        .iter()
        .zip([&hub, &hub, &member, &member, &member])
        .map(|(p, c)| {
            (
                format!("{} ({})", p.name(), c.name()),
                p.log_path().to_owned(),
            )
        })
        .collect();

    for object in hub_workload() {
        apply(&admin, object).await;
    }

    // The agent places the Gateway (creating namespace web) and fedway-proxy
    // programs it at an address of its pool.
    let member_gateways = gateway_api(&east, "Gateway", "gateways", "web");
    let proxy_address: Ipv4Addr = converge(
        "the member's Gateway Programmed by fedway-proxy",
        60,
        &logs,
        || async {
            let Some(gateway) = member_gateways
                .get_opt("shop")
                .await
                .map_err(|e| member.kube_error(e))?
            else {
                return Ok(None);
            };
            let status = &gateway.data["status"];
            let address = status["addresses"][0]["value"]
                .as_str()
                .and_then(|a| a.parse().ok());
            Ok(address.filter(|_| condition_is(status, "Programmed", "True")))
        },
    )
    .await;
    assert_eq!(
        member_gateways
            .get("shop")
            .await
            .expect("member Gateway")
            .data["spec"]["gatewayClassName"],
        "fedway-proxy"
    );

    // The backend appears after the route: fedway-proxy resolves it from
    // its watches, and a request goes through.
    let backend_ip: Ipv4Addr = member
        .pod_cidr()
        .split('/')
        .next()
        .and_then(|net| net.parse::<Ipv4Addr>().ok())
        .map(|net| Ipv4Addr::from(u32::from(net) + 50))
        .expect("the member's pod CIDR");
    let backend = serve_backend((backend_ip, 8080).into()).await;
    for object in member_backend(backend_ip) {
        apply(&east, object).await;
    }
    let member_routes = gateway_api(&east, "HTTPRoute", "httproutes", "web");
    let member_grpc_routes = gateway_api(&east, "GRPCRoute", "grpcroutes", "web");
    converge(
        "the member's HTTPRoute (through the ReferenceGrant) and GRPCRoute accepted by fedway-proxy",
        30,
        &logs,
        || async {
            let route = member_routes
                .get_opt("shop")
                .await
                .map_err(|e| member.kube_error(e))?;
            let grpc_route = member_grpc_routes
                .get_opt("shop")
                .await
                .map_err(|e| member.kube_error(e))?;
            let http_ok = route.is_some_and(|r| {
                proxy_parent_says(&r, "Accepted") && proxy_parent_says(&r, "ResolvedRefs")
            });
            // Accepted or not (fedway-proxy may not serve gRPC yet): what
            // counts here is that its status was written.
            let grpc_reported = grpc_route.is_some_and(|r| {
                r.data["status"]["parents"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p["controllerName"] == "fedway.dev/lb-proxy")
            });
            Ok((http_ok && grpc_reported).then_some(()))
        },
    )
    .await;
    let mut last = String::new();
    for _ in 0..100 {
        match get_through(proxy_address).await {
            Ok(response)
                if response.starts_with("HTTP/1.1 200") && response.ends_with("deploy-ok") =>
            {
                last.clear();
                break;
            }
            Ok(response) => last = response,
            Err(error) => last = error,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        last.is_empty(),
        "GET through fedway-proxy at {proxy_address}: {last}"
    );

    // The hub says where it runs, the member is Ready, and the hostname is
    // in both DNS servers (the member's from the DNSRecord the agent
    // applied).
    let hub_gateways = gateway_api(&admin, "Gateway", "gateways", "web");
    converge("the hub Gateway Programmed", 60, &logs, || async {
        let gateway = hub_gateways
            .get("shop")
            .await
            .map_err(|e| hub.kube_error(e))?;
        Ok(condition_is(&gateway.data["status"], "Programmed", "True").then_some(()))
    })
    .await;
    let members: Api<DynamicObject> = Api::all_with(
        admin.clone(),
        &resource("fedway.dev", "v1alpha1", "MemberCluster", "memberclusters"),
    );
    converge("MemberCluster east Ready", 60, &logs, || async {
        let east = members.get(MEMBER).await.map_err(|e| hub.kube_error(e))?;
        Ok(condition_is(&east.data["status"], "Ready", "True").then_some(()))
    })
    .await;
    let classes: Api<DynamicObject> = Api::all_with(
        admin.clone(),
        &resource(
            "gateway.networking.k8s.io",
            "v1",
            "GatewayClass",
            "gatewayclasses",
        ),
    );
    let class = classes.get("fedway").await.expect("GatewayClass fedway");
    assert!(
        condition_is(&class.data["status"], "Accepted", "True"),
        "{:?}",
        class.data["status"]
    );
    let records: Api<DNSRecord> = Api::all(east.clone());
    converge("the DNSRecord in the member", 60, &logs, || async {
        let record = records
            .get_opt(&fedway_crds::record_name(HOSTNAME))
            .await
            .map_err(|e| member.kube_error(e))?;
        Ok(record
            .filter(|r| {
                serde_json::to_string(&r.spec)
                    .unwrap_or_default()
                    .contains(&proxy_address.to_string())
            })
            .map(drop))
    })
    .await;
    for server in [member_dns_address, hub_dns_address] {
        converge(
            &format!("{HOSTNAME} A {proxy_address} from fedway-dns at {server}"),
            30,
            &logs,
            || async {
                Ok(resolve(server)
                    .await
                    .ok()
                    .filter(|ips| ips == &[IpAddr::V4(proxy_address)])
                    .map(drop))
            },
        )
        .await;
    }
    let policies: Api<DynamicObject> = Api::namespaced_with(
        admin.clone(),
        "web",
        &resource("fedway.dev", "v1alpha1", "DNSPolicy", "dnspolicies"),
    );
    converge(
        "DNSPolicy endpoints reported by the hub's fedway-dns",
        30,
        &logs,
        || async {
            let policy = policies.get("shop").await.map_err(|e| hub.kube_error(e))?;
            let reported = policy.data["status"]["endpoints"]
                .as_array()
                .is_some_and(|e| !e.is_empty());
            Ok(
                (reported && condition_is(&policy.data["status"], "Accepted", "True"))
                    .then_some(()),
            )
        },
    )
    .await;
    backend.abort();

    // Each binary's metrics say what it did, and its Events tell the story
    // where people look (the ServiceAccounts' RBAC allows both).
    for (component, address, wanted) in [
        (
            "fedway-hub",
            hub_metrics,
            &[
                "fedway_hub_leader ",
                "fedway_hub_member_ready{member=\"east\"} ",
                "fedway_hub_works_written_total ",
                "fedway_hub_reconcile_runs_total{controller=\"gateway\"} ",
            ][..],
        ),
        (
            "fedway-agent",
            agent_metrics,
            &[
                "fedway_agent_objects_applied_total ",
                "fedway_agent_lease_renewals_total ",
                "fedway_agent_reconcile_runs_total{controller=\"work\"} ",
            ][..],
        ),
        (
            "fedway-proxy",
            proxy_metrics,
            &[
                "fedway_proxy_responses_total{code=\"2xx\"} ",
                "fedway_proxy_connections_total ",
                "fedway_proxy_status_writes_total ",
                "fedway_proxy_reconcile_runs_total{controller=\"gateway\"} ",
            ][..],
        ),
    ] {
        let page = fedway_e2e::traffic::get(address, "metrics", "/metrics", &[])
            .await
            .unwrap_or_else(|e| panic!("{component} metrics at {address}: {e}"));
        assert_eq!(page.status, 200, "{component} metrics: {}", page.body);
        for prefix in wanted {
            // Each series must have counted (or, for the gauges: leader,
            // member Ready) say 1: a value above zero.
            let value = page
                .body
                .lines()
                .find_map(|line| line.strip_prefix(prefix))
                .and_then(|rest| rest.trim().parse::<f64>().ok());
            assert!(
                value.is_some_and(|v| v > 0.0),
                "{component}: {prefix}… above 0 wanted, got {value:?} in:\n{}",
                page.body
            );
        }
    }
    for (cluster, client, namespace, wanted) in [
        (
            &hub,
            &admin,
            format!("fedway-member-{MEMBER}"),
            ("fedway-agent", "Work", "Applied"),
        ),
        (
            &member,
            &east,
            "web".to_owned(),
            ("fedway-proxy", "Gateway", "Programmed"),
        ),
    ] {
        let events =
            Api::<k8s_openapi::api::events::v1::Event>::namespaced(client.clone(), &namespace);
        let (by, kind, reason) = wanted;
        converge(
            &format!(
                "{by}'s {reason} Event on a {kind} in {}/{namespace}",
                cluster.name()
            ),
            30,
            &logs,
            || async {
                let list = events
                    .list(&Default::default())
                    .await
                    .map_err(|e| cluster.kube_error(e))?;
                Ok(list
                    .items
                    .iter()
                    .any(|e| {
                        e.reporting_controller.as_deref() == Some(by)
                            && e.regarding.as_ref().and_then(|r| r.kind.as_deref()) == Some(kind)
                            && e.reason.as_deref() == Some(reason)
                    })
                    .then_some(()))
            },
        )
        .await;
    }

    // Deleting the hub Gateway removes everything placed for it: the Work
    // and the DNSRecord in the hub, and the member's copies (the agent
    // prunes) — so the delete rules are used too.
    hub_gateways
        .delete("shop", &Default::default())
        .await
        .expect("deleting the hub Gateway");
    converge(
        "the Gateway, its routes and its DNSRecord gone from the member",
        30,
        &logs,
        || async {
            let gateway = member_gateways
                .get_opt("shop")
                .await
                .map_err(|e| member.kube_error(e))?;
            let route = member_routes
                .get_opt("shop")
                .await
                .map_err(|e| member.kube_error(e))?;
            let record = records
                .get_opt(&fedway_crds::record_name(HOSTNAME))
                .await
                .map_err(|e| member.kube_error(e))?;
            Ok((gateway.is_none() && route.is_none() && record.is_none()).then_some(()))
        },
    )
    .await;
    converge(
        "the hub Gateway gone (finalizer done)",
        30,
        &logs,
        || async {
            let gateway = hub_gateways
                .get_opt("shop")
                .await
                .map_err(|e| hub.kube_error(e))?;
            Ok(gateway.is_none().then_some(()))
        },
    )
    .await;

    // Nothing was refused, by the API servers' account or the components'.
    let accounts: [(&Cluster, &str, &[Value]); 5] = [
        (&hub, "fedway-hub", &hub_objects),
        (&hub, "fedway-dns", &hub_objects),
        (&member, "fedway-agent", &member_objects),
        (&member, "fedway-dns", &member_objects),
        (&member, "fedway-proxy", &member_objects),
    ];
    let mut forbidden = refusals(&logs);
    let mut report = String::from(
        "Permissions granted by deploy/ and never used in the deploy e2e test (printed, not asserted):\n",
    );
    for (cluster, account, objects) in accounts {
        let requests = cluster
            .audited_requests_by(&user(account))
            .expect("reading the audit log");
        assert!(
            !requests.is_empty(),
            "{account} made no request to {}",
            cluster.name()
        );
        forbidden.extend(requests.iter().filter(|r| r.code == Some(403)).map(|r| {
            format!(
                "{account} in {}: 403 for {} {}",
                cluster.name(),
                r.verb,
                r.uri
            )
        }));
        let grants = permissions::granted_to(objects, NAMESPACE, account);
        let comparison = permissions::compare(
            &format!("{} ({} cluster)", user(account), cluster.name()),
            &grants,
            &permissions::used(&requests),
        );
        report.push_str(&comparison.to_string());
    }
    // The agent's hub credential, which `fedway-hub join` mints: its Role
    // and ClusterRole as join wrote them.
    let join_namespace = fedway_hub::join::member_namespace(MEMBER);
    let mut join_roles = Vec::new();
    for (kind, plural, namespace) in [
        ("Role", "roles", Some(join_namespace.as_str())),
        ("ClusterRole", "clusterroles", None),
    ] {
        let resource = resource("rbac.authorization.k8s.io", "v1", kind, plural);
        let api: Api<DynamicObject> = match namespace {
            Some(namespace) => Api::namespaced_with(admin.clone(), namespace, &resource),
            None => Api::all_with(admin.clone(), &resource),
        };
        let name = if namespace.is_some() {
            "fedway-agent".to_owned()
        } else {
            join_namespace.clone()
        };
        let role = api
            .get(&name)
            .await
            .unwrap_or_else(|e| panic!("{kind} {name} from join: {e}"));
        join_roles.extend(permissions::grants_of(
            &serde_json::to_value(role).expect("a role as JSON"),
        ));
    }
    let join_user = format!("system:serviceaccount:{join_namespace}:fedway-agent");
    let join_requests = hub
        .audited_requests_by(&join_user)
        .expect("reading the audit log");
    forbidden.extend(
        join_requests
            .iter()
            .filter(|r| r.code == Some(403))
            .map(|r| format!("agent's hub credential: 403 for {} {}", r.verb, r.uri)),
    );
    report.push_str(
        &permissions::compare(
            &format!("{join_user} (hub cluster; minted by fedway-hub join, not in deploy/)"),
            &join_roles,
            &permissions::used(&join_requests),
        )
        .to_string(),
    );
    println!("{report}");
    let report_file = bin_dir
        .parent()
        .unwrap_or(&bin_dir)
        .join("fedway-e2e-deploy-permissions.txt");
    if let Err(error) = std::fs::write(&report_file, &report) {
        println!("could not write {}: {error}", report_file.display());
    }
    assert!(
        forbidden.is_empty(),
        "requests were refused with the RBAC of deploy/:\n{}",
        forbidden.join("\n")
    );
    drop(processes);
}
