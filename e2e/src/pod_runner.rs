//! Runs the backends of a cluster's pods for real: every Running pod whose
//! container uses the Gateway API conformance echo image (`echo-basic`)
//! gets a local `echo-basic` process (built from the upstream module by
//! `control-plane.sh`) serving on the pod's IP, with the container's
//! environment, until the pod goes away.
//!
//! ```text
//!  host netns                                  pod netns (one per pod)
//!  198.18.S.H/32 dev fwpXXXXXXXX ──veth──▶ eth0 198.18.S.H/32
//!    (unicast, in table local,                default via 169.254.1.1
//!     beats `local 198.18.0.0/15`)            echo-basic on :3000 :3001 :8443
//!  169.254.1.1/32 on every host end
//! ```
//!
//! echo-basic listens on `:<port>` (every address), so two pods with the
//! same port cannot share the host's network namespace: each pod gets its
//! own, created by `unshare --net` when its process starts, so the
//! namespace (and the veth pair in it) lives exactly as long as the process.
//! A veth pair joins it to the host; a `/32` unicast route for the pod IP in
//! the `local` table is more specific than the harness's
//! `local 198.18.0.0/15 dev lo`, so the pod IP leaves through the veth while
//! every other pod-network address stays local (tests that bind a pod IP
//! on the host, without this runner, keep working). Host ends carry
//! `169.254.1.1/32` (the address Calico uses for the same purpose): the
//! source address host processes use towards pods and the pods' gateway.
//!
//! Teardown: a stopped pod's process is killed and its veth deleted at once
//! (so kwok may reuse the IP); dropping the [`PodRunner`] stops them all;
//! a killed test runner leaves nothing behind either, because every process
//! carries a parent-death signal and its network namespace, veth and route
//! die with it.
//!
//! The container's image is not run: only its environment (`value`,
//! `fieldRef`, `secretKeyRef`, `configMapKeyRef`) and its secret and
//! ConfigMap volumes matter. Volumes are written to a directory per pod and
//! environment values under a mount path are rewritten to it (echo-basic
//! reads its TLS certificate and key from paths given in its environment).
//! Only the first echo container of a pod runs; other images are ignored.

use std::{
    collections::BTreeMap,
    net::Ipv4Addr,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret};
use kube::{
    Api, Client, ResourceExt,
    runtime::{WatchStreamExt, watcher},
};

use crate::{Cluster, Error, Result, address, process::ManagedProcess, toolchain::Toolchain};

/// The address of every host-side veth end: pods' default gateway, and the
/// source address host processes reach pods from.
pub const HOST_GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);

/// How often pods that could not start yet (a Secret not created yet, say)
/// are tried again.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// Whether `image` is the Gateway API conformance echo server
/// (`registry.k8s.io/gateway-api/echo-basic:<tag>`, or plain `echo-basic`).
pub fn is_echo_image(image: &str) -> bool {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    let name = last.split(':').next().unwrap_or(last);
    name == "echo-basic"
}

/// A pod the runner serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunPod {
    pub namespace: String,
    pub name: String,
    pub ip: Ipv4Addr,
    pub pid: u32,
    /// echo-basic's output.
    pub log: PathBuf,
}

/// Watches one cluster's pods and runs their echo backends; dropping it
/// stops every backend.
pub struct PodRunner {
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

#[derive(Default)]
struct State {
    /// By pod UID.
    running: BTreeMap<String, Backend>,
    /// Why a pod could not start yet, by pod UID (logged once per reason).
    waiting: BTreeMap<String, String>,
}

impl PodRunner {
    /// Starts serving `cluster`'s echo pods (the cluster needs workloads).
    pub async fn start(cluster: &Cluster) -> Result<PodRunner> {
        let toolchain = Toolchain::get()?;
        Self::start_with(
            cluster.client(),
            cluster.name(),
            &toolchain.binary("echo-basic"),
        )
        .await
    }

    /// Starts serving the echo pods the API behind `client` reports,
    /// running `echo_basic`.
    pub async fn start_with(client: Client, cluster: &str, echo_basic: &Path) -> Result<PodRunner> {
        if !echo_basic.is_file() {
            return Err(Error::Toolchain(format!(
                "{} is missing (control-plane.sh builds it)",
                echo_basic.display()
            )));
        }
        address::ensure_pod_network()?;
        check_namespaces_allowed().await?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("fedway-e2e-pods-{cluster}-"))
            .tempdir()
            .map_err(crate::io_error("creating the pod runner's directory"))?;
        let state = Arc::new(Mutex::new(State::default()));
        let task = tokio::spawn(watch(
            Runner {
                client,
                cluster: cluster.to_owned(),
                echo_basic: echo_basic.to_owned(),
                dir: dir.path().to_owned(),
            },
            state.clone(),
        ));
        Ok(PodRunner {
            state,
            task,
            _dir: dir,
        })
    }

    /// The pods served now, by namespace and name.
    pub fn pods(&self) -> Vec<RunPod> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut pods: Vec<RunPod> = state.running.values().map(Backend::describe).collect();
        pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        pods
    }

    /// Pods that could not start yet, with the reason (`namespace/name`).
    pub fn waiting(&self) -> Vec<String> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.waiting.values().cloned().collect()
    }
}

impl Drop for PodRunner {
    fn drop(&mut self) {
        self.task.abort();
        let running = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::take(&mut state.running)
        };
        drop(running);
    }
}

/// Checks that this process may create network namespaces and links.
async fn check_namespaces_allowed() -> Result<()> {
    let output = tokio::process::Command::new("unshare")
        .args(["--net", "--", "ip", "link", "set", "lo", "up"])
        .output()
        .await;
    match output {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(Error::Toolchain(format!(
            "the pod runner needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) for a network namespace per pod: `unshare --net ip link set lo up` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
        Err(e) => Err(Error::Toolchain(format!(
            "the pod runner needs `unshare` (util-linux) and `ip` (iproute2): {e}"
        ))),
    }
}

struct Runner {
    client: Client,
    cluster: String,
    echo_basic: PathBuf,
    dir: PathBuf,
}

async fn watch(runner: Runner, state: Arc<Mutex<State>>) {
    let api: Api<Pod> = Api::all(runner.client.clone());
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut pods: BTreeMap<String, Pod> = BTreeMap::new();
    let mut relist: Option<BTreeMap<String, Pod>> = None;
    let mut retry = tokio::time::interval(RETRY_EVERY);
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(watcher::Event::Apply(pod))) => {
                    pods.insert(uid(&pod), pod);
                }
                Some(Ok(watcher::Event::Delete(pod))) => {
                    pods.remove(&uid(&pod));
                }
                Some(Ok(watcher::Event::Init)) => relist = Some(BTreeMap::new()),
                Some(Ok(watcher::Event::InitApply(pod))) => {
                    relist.get_or_insert_default().insert(uid(&pod), pod);
                }
                Some(Ok(watcher::Event::InitDone)) => pods = relist.take().unwrap_or_default(),
                Some(Err(e)) => {
                    tracing::warn!(cluster = runner.cluster, error = %e, "pod runner: watching pods");
                    continue;
                }
                None => return,
            },
            _ = retry.tick() => {}
        }
        runner.reconcile(&pods, &state).await;
    }
}

fn uid(pod: &Pod) -> String {
    pod.metadata
        .uid
        .clone()
        .unwrap_or_else(|| format!("{}/{}", pod.namespace().unwrap_or_default(), pod.name_any()))
}

/// The pod's IP and echo container when it should be served now.
fn servable(pod: &Pod) -> Option<(Ipv4Addr, &Container)> {
    if pod.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let spec = pod.spec.as_ref()?;
    if spec.host_network == Some(true) {
        return None;
    }
    let status = pod.status.as_ref()?;
    if status.phase.as_deref() != Some("Running") {
        return None;
    }
    let ip = status.pod_ip.as_deref()?.parse().ok()?;
    let container = spec
        .containers
        .iter()
        .find(|c| c.image.as_deref().is_some_and(is_echo_image))?;
    Some((ip, container))
}

impl Runner {
    async fn reconcile(&self, pods: &BTreeMap<String, Pod>, state: &Mutex<State>) {
        let wanted: BTreeMap<&String, (Ipv4Addr, &Pod, &Container)> = pods
            .iter()
            .filter_map(|(uid, pod)| servable(pod).map(|(ip, c)| (uid, (ip, pod, c))))
            .collect();
        // Stop first, so an IP kwok hands to a new pod is free again.
        let stopped: Vec<Backend> = {
            let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
            state.waiting.retain(|uid, _| wanted.contains_key(uid));
            let gone: Vec<String> = state
                .running
                .iter()
                .filter(|(uid, b)| wanted.get(uid).is_none_or(|(ip, _, _)| *ip != b.ip))
                .map(|(uid, _)| uid.clone())
                .collect();
            gone.iter()
                .filter_map(|uid| state.running.remove(uid))
                .collect()
        };
        for backend in stopped {
            tracing::info!(cluster = self.cluster, pod = backend.pod, ip = %backend.ip, "pod runner: stopping");
            drop(backend);
        }
        for (uid, (ip, pod, container)) in wanted {
            if state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .running
                .contains_key(uid)
            {
                continue;
            }
            let name = format!("{}/{}", pod.namespace().unwrap_or_default(), pod.name_any());
            match self.start(pod, ip, container).await {
                Ok(backend) => {
                    tracing::info!(cluster = self.cluster, pod = name, %ip, pid = backend.process.pid(), "pod runner: serving");
                    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
                    state.waiting.remove(uid);
                    state.running.insert(uid.clone(), backend);
                }
                Err(e) => {
                    let reason = format!("{name}: {e}");
                    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
                    if state.waiting.get(uid) != Some(&reason) {
                        tracing::info!(cluster = self.cluster, pod = name, reason = %e, "pod runner: cannot start yet");
                        state.waiting.insert(uid.clone(), reason);
                    }
                }
            }
        }
    }

    async fn start(&self, pod: &Pod, ip: Ipv4Addr, container: &Container) -> Result<Backend> {
        let namespace = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        let pod_dir = self.dir.join(format!("{namespace}_{name}"));
        let mounts = self.write_volumes(pod, container, &pod_dir).await?;
        let env = self.environment(pod, ip, container, &mounts).await?;

        let link = host_link_name(ip);
        // A link of that name is left over only from a pod this runner
        // already stopped (its namespace is being destroyed): remove it.
        let _ = run("ip", &["link", "del", &link]).await;
        let process = ManagedProcess::spawn_with_env(
            &format!("pod_{namespace}_{name}"),
            Path::new("unshare"),
            &[
                "--net".into(),
                "--".into(),
                self.echo_basic.display().to_string(),
            ],
            Some(&env),
            &self.dir,
        )?;
        let mut backend = Backend {
            pod: format!("{namespace}/{name}"),
            namespace,
            name,
            ip,
            process,
            link,
            dir: pod_dir,
        };
        backend.connect().await?;
        Ok(backend)
    }

    /// Writes the container's secret and ConfigMap volumes under `pod_dir`;
    /// returns (mount path, host directory) pairs, longest mount path first.
    async fn write_volumes(
        &self,
        pod: &Pod,
        container: &Container,
        pod_dir: &Path,
    ) -> Result<Vec<(String, PathBuf)>> {
        let namespace = pod.namespace().unwrap_or_default();
        let volumes = pod
            .spec
            .as_ref()
            .and_then(|s| s.volumes.clone())
            .unwrap_or_default();
        let mut mounts = Vec::new();
        for mount in container.volume_mounts.iter().flatten() {
            let Some(volume) = volumes.iter().find(|v| v.name == mount.name) else {
                continue;
            };
            let (files, items) = if let Some(secret) = &volume.secret {
                let secret_name = secret.secret_name.clone().unwrap_or_default();
                let data = self.secret(&namespace, &secret_name).await?;
                (data, secret.items.clone())
            } else if let Some(config_map) = &volume.config_map {
                let data = self.config_map(&namespace, &config_map.name).await?;
                (data, config_map.items.clone())
            } else {
                continue; // emptyDir and the like: nothing to provide.
            };
            let dir = pod_dir.join("volumes").join(&volume.name);
            let selected: Vec<(String, &Vec<u8>)> = match &items {
                Some(items) => items
                    .iter()
                    .filter_map(|i| files.get(&i.key).map(|data| (i.path.clone(), data)))
                    .collect(),
                None => files.iter().map(|(k, v)| (k.clone(), v)).collect(),
            };
            for (path, data) in selected {
                let file = dir.join(&path);
                if let Some(parent) = file.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(crate::io_error(format!("creating {}", parent.display())))?;
                }
                std::fs::write(&file, data)
                    .map_err(crate::io_error(format!("writing {}", file.display())))?;
            }
            std::fs::create_dir_all(&dir)
                .map_err(crate::io_error(format!("creating {}", dir.display())))?;
            mounts.push((mount.mount_path.trim_end_matches('/').to_owned(), dir));
        }
        mounts.sort_by_key(|(path, _)| std::cmp::Reverse(path.len()));
        Ok(mounts)
    }

    async fn secret(&self, namespace: &str, name: &str) -> Result<BTreeMap<String, Vec<u8>>> {
        let secret = Api::<Secret>::namespaced(self.client.clone(), namespace)
            .get(name)
            .await
            .map_err(|e| self.missing("Secret", namespace, name, e))?;
        let mut data: BTreeMap<String, Vec<u8>> = secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        for (k, v) in secret.string_data.unwrap_or_default() {
            data.insert(k, v.into_bytes());
        }
        Ok(data)
    }

    async fn config_map(&self, namespace: &str, name: &str) -> Result<BTreeMap<String, Vec<u8>>> {
        let config_map = Api::<ConfigMap>::namespaced(self.client.clone(), namespace)
            .get(name)
            .await
            .map_err(|e| self.missing("ConfigMap", namespace, name, e))?;
        let mut data: BTreeMap<String, Vec<u8>> = config_map
            .binary_data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        for (k, v) in config_map.data.unwrap_or_default() {
            data.insert(k, v.into_bytes());
        }
        Ok(data)
    }

    fn missing(&self, kind: &str, namespace: &str, name: &str, e: kube::Error) -> Error {
        Error::Cluster {
            cluster: self.cluster.clone(),
            message: format!(
                "{kind} {namespace}/{name}: {}",
                crate::manifests::kube_message(&e)
            ),
        }
    }

    /// The container's environment as the kubelet would give it, plus PATH.
    async fn environment(
        &self,
        pod: &Pod,
        ip: Ipv4Addr,
        container: &Container,
        mounts: &[(String, PathBuf)],
    ) -> Result<Vec<(String, String)>> {
        let namespace = pod.namespace().unwrap_or_default();
        let mut env = vec![(
            "PATH".to_owned(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into()),
        )];
        if container.env_from.as_ref().is_some_and(|e| !e.is_empty()) {
            tracing::warn!(
                cluster = self.cluster,
                pod = pod.name_any(),
                "pod runner: envFrom is not supported, ignored"
            );
        }
        for var in container.env.iter().flatten() {
            let value = if let Some(value) = &var.value {
                Some(value.clone())
            } else if let Some(source) = &var.value_from {
                if let Some(field) = &source.field_ref {
                    field_value(pod, ip, &field.field_path)
                } else if let Some(key) = &source.secret_key_ref {
                    let data = self.secret(&namespace, &key.name).await;
                    optional_key(data, &key.key, key.optional)?
                } else if let Some(key) = &source.config_map_key_ref {
                    let data = self.config_map(&namespace, &key.name).await;
                    optional_key(data, &key.key, key.optional)?
                } else {
                    None
                }
            } else {
                Some(String::new())
            };
            if let Some(value) = value {
                env.push((var.name.clone(), rewrite_mount_paths(&value, mounts)));
            }
        }
        Ok(env)
    }
}

fn optional_key(
    data: Result<BTreeMap<String, Vec<u8>>>,
    key: &str,
    optional: Option<bool>,
) -> Result<Option<String>> {
    match data {
        Ok(data) => match data.get(key) {
            Some(v) => Ok(Some(String::from_utf8_lossy(v).into_owned())),
            None if optional == Some(true) => Ok(None),
            None => Err(Error::Cluster {
                cluster: String::new(),
                message: format!("no key {key}"),
            }),
        },
        Err(_) if optional == Some(true) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The downward API's `fieldRef` values.
fn field_value(pod: &Pod, ip: Ipv4Addr, path: &str) -> Option<String> {
    let meta = &pod.metadata;
    let keyed = |prefix: &str, map: Option<&BTreeMap<String, String>>| {
        let key = path
            .strip_prefix(prefix)?
            .strip_suffix("']")
            .or_else(|| path.strip_prefix(prefix)?.strip_suffix("\"]"))?;
        map?.get(key.trim_start_matches(['\'', '"'])).cloned()
    };
    match path {
        "metadata.name" => meta.name.clone(),
        "metadata.namespace" => meta.namespace.clone(),
        "metadata.uid" => meta.uid.clone(),
        "status.podIP" => Some(ip.to_string()),
        "status.podIPs" => Some(ip.to_string()),
        "status.hostIP" => pod.status.as_ref()?.host_ip.clone(),
        "spec.nodeName" => pod.spec.as_ref()?.node_name.clone(),
        "spec.serviceAccountName" => pod.spec.as_ref()?.service_account_name.clone(),
        _ if path.starts_with("metadata.labels[") => {
            keyed("metadata.labels[", meta.labels.as_ref())
        }
        _ if path.starts_with("metadata.annotations[") => {
            keyed("metadata.annotations[", meta.annotations.as_ref())
        }
        _ => None,
    }
}

/// Replaces a leading mount path in `value` with where its volume is on
/// this host.
fn rewrite_mount_paths(value: &str, mounts: &[(String, PathBuf)]) -> String {
    for (mount, dir) in mounts {
        if let Some(rest) = value.strip_prefix(mount.as_str())
            && (rest.is_empty() || rest.starts_with('/'))
        {
            return format!("{}{rest}", dir.display());
        }
    }
    value.to_owned()
}

/// `fwp` + the pod IP in hex: unique per pod IP, within IFNAMSIZ.
fn host_link_name(ip: Ipv4Addr) -> String {
    format!("fwp{:08x}", u32::from(ip))
}

/// One pod's echo-basic process and its link to the host.
struct Backend {
    pod: String,
    namespace: String,
    name: String,
    ip: Ipv4Addr,
    process: ManagedProcess,
    link: String,
    dir: PathBuf,
}

impl Backend {
    fn describe(&self) -> RunPod {
        RunPod {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            ip: self.ip,
            pid: self.process.pid(),
            log: self.process.log_path().to_owned(),
        }
    }

    /// Waits until the process is in its own network namespace, then
    /// plugs the namespace into the host with a veth pair and routes.
    async fn connect(&mut self) -> Result<()> {
        let pid = self.process.pid();
        let own = std::fs::read_link("/proc/self/ns/net")
            .map_err(crate::io_error("reading /proc/self/ns/net"))?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            self.process.check_running(&self.pod)?;
            match std::fs::read_link(format!("/proc/{pid}/ns/net")) {
                Ok(ns) if ns != own => break,
                _ if tokio::time::Instant::now() >= deadline => {
                    return Err(Error::Timeout {
                        what: format!("pod {} to enter its network namespace", self.pod),
                        after: Duration::from_secs(10),
                    });
                }
                _ => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
        let (link, ip, gw) = (
            self.link.as_str(),
            self.ip.to_string(),
            HOST_GATEWAY.to_string(),
        );
        let (pid, ip_cidr, gw_cidr) = (pid.to_string(), format!("{ip}/32"), format!("{gw}/32"));
        let host: [&[&str]; 4] = [
            &[
                "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", &pid,
            ],
            &["addr", "add", &gw_cidr, "dev", link],
            &["link", "set", link, "up"],
            // In `local`, so it beats `local 198.18.0.0/15 dev lo` whatever
            // the routing rules are.
            &[
                "route", "replace", &ip_cidr, "dev", link, "table", "local", "src", &gw,
            ],
        ];
        let pod: [&[&str]; 5] = [
            &["link", "set", "lo", "up"],
            &["addr", "add", &ip_cidr, "dev", "eth0"],
            &["link", "set", "eth0", "up"],
            &["route", "add", &gw_cidr, "dev", "eth0", "scope", "link"],
            &["route", "add", "default", "via", &gw, "dev", "eth0"],
        ];
        for args in &host[..3] {
            run("ip", args).await?;
        }
        for args in pod {
            let mut nsenter = vec!["--target", &pid, "--net", "--", "ip"];
            nsenter.extend_from_slice(args);
            run("nsenter", &nsenter).await?;
        }
        run("ip", host[3]).await
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.process.stop();
        // The namespace dies with the process, taking the veth pair and the
        // route along, but asynchronously: delete the link now so the IP is
        // free at once.
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.link])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `program args`; fails with its stderr.
async fn run(program: &str, args: &[&str]) -> Result<()> {
    let context = format!("{program} {}", args.join(" "));
    let output = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(crate::io_error(format!("running {context}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(Error::Toolchain(format!(
            "{context}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_images_are_recognised_by_name() {
        assert!(is_echo_image(
            "registry.k8s.io/gateway-api/echo-basic:v1.5.1"
        ));
        assert!(is_echo_image("echo-basic"));
        assert!(is_echo_image("localhost:5000/echo-basic@sha256:abc"));
        assert!(!is_echo_image("registry.k8s.io/coredns/coredns:v1.12.2"));
        assert!(!is_echo_image("echo-basic-ish"));
    }

    #[test]
    fn mount_paths_are_rewritten_to_the_volume_directory() {
        let mounts = vec![(
            "/etc/secret-volume".to_owned(),
            PathBuf::from("/tmp/p/volumes/v"),
        )];
        assert_eq!(
            rewrite_mount_paths("/etc/secret-volume/crt", &mounts),
            "/tmp/p/volumes/v/crt"
        );
        assert_eq!(
            rewrite_mount_paths("/etc/secret-volumes", &mounts),
            "/etc/secret-volumes"
        );
        assert_eq!(rewrite_mount_paths("1", &mounts), "1");
    }

    #[test]
    fn link_names_fit_ifnamsiz() {
        let name = host_link_name(Ipv4Addr::new(198, 19, 255, 254));
        assert_eq!(name, "fwpc613fffe");
        assert!(name.len() < 16);
    }
}
