//! Fleet scale: one hub (real API server, the hub controller as its
//! binary) with M members, of which a few are real
//! (API server and agent) and the rest simulated (`fedway_e2e::fleet`: the
//! agent's own Work reconciler and heartbeat, joined with `fedway-hub
//! join` credentials, the member side simulated), and G Gateways with 5
//! HTTPRoutes each. Prints, asserts nothing:
//!
//! - route change: hub write -> the new route in all M Works (p50/p99),
//!   and applied in the real members;
//! - new Gateway: created -> its Work in all M members, and applied in the
//!   real members;
//! - hub CPU per route change and hub RSS (the `fedway-hub` binary, built
//!   on first use, runs as a process of its own); the bench process's RSS
//!   (the agents);
//! - API requests per route change: the hub's writes, and every request of
//!   the agents (audit log of the hub's API server);
//! - Lease renewals per second (audit log);
//! - a hub restart: time until a change made at restart is in every Work,
//!   and the hub's writes after restart besides that change's;
//! - Work bytes per member.
//!
//! Run:
//!
//!     cargo bench -p fedway-e2e --bench fleet
//!     FEDWAY_FLEET_MEMBERS=10,100,1000 FEDWAY_FLEET_GATEWAYS=10,100 \
//!     FEDWAY_FLEET_CHANGES=20 FEDWAY_FLEET_REAL=2 cargo bench ...
//!
//! Anchors: KubeFleet places on 1000 clusters with p90 20 s for a new
//! placement; Karmada reports ~200 Works/s as its Work-creation bottleneck
//! and p99 0.99 s at 100 clusters (pull mode).

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use fedway_crds::Work;
use fedway_e2e::cluster::AuditedRequest;
use fedway_e2e::{
    bench::{env_list, process_rss, quantile},
    federation::Federation,
    fleet::Fleet,
    manifests,
    pki::ADMIN_USER,
};
use futures::StreamExt;
use kube::{
    Api, ResourceExt,
    api::DynamicObject,
    core::{ApiResource, GroupVersionKind},
    runtime::{WatchStreamExt, watcher},
};
use serde_json::{Value, json};
use tokio::sync::Notify;

const ROUTES_PER_GATEWAY: usize = 5;
const NEW_GATEWAYS: usize = 5;
/// Ready flips in the storm.
const STORM_FLIPS: usize = 1000;
/// How long a restarted hub is watched for writes while nothing changes.
const RESTART_QUIET: Duration = Duration::from_secs(15);

fn main() -> anyhow::Result<()> {
    fedway_runtime::init(&fedway_runtime::LogArgs {
        log_format: fedway_runtime::LogFormat::Plain,
        log: "error,kube_client=off".into(),
    })?;
    let members = env_list("FEDWAY_FLEET_MEMBERS", "10,100");
    let gateways = env_list("FEDWAY_FLEET_GATEWAYS", "10");
    let changes = env_list("FEDWAY_FLEET_CHANGES", "20")[0];
    let real = env_list("FEDWAY_FLEET_REAL", "2")[0];
    println!(
        "fleet: M members ({real} real, the rest simulated) x G Gateways x {ROUTES_PER_GATEWAY} HTTPRoutes; {changes} route changes, {NEW_GATEWAYS} new Gateways"
    );
    let hub_binary = hub_binary()?;
    for &g in &gateways {
        for &m in &members {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(measure(m, g, changes, real.min(m), &hub_binary))?;
        }
    }
    println!(
        "anchors: KubeFleet 1000 clusters, p90 20 s for a new placement; Karmada ~200 Works/s, p99 0.99 s at 100 clusters (published)"
    );
    Ok(())
}

/// What the hub's Works hold, as a watch on all of them sees it.
#[derive(Default)]
struct Works {
    /// `(namespace, name)` -> the paths of its HTTPRoutes' first rules.
    paths: BTreeMap<(String, String), BTreeSet<String>>,
    /// `(namespace, name)` -> bytes of its spec.
    bytes: BTreeMap<(String, String), usize>,
    /// `(namespace, name)` -> whether its agent reported its current
    /// generation.
    applied: BTreeMap<(String, String), bool>,
}

impl Works {
    fn all_applied(&self) -> bool {
        self.applied.values().all(|a| *a)
    }

    /// Members whose Work `gateway` exists and carries `path`.
    fn carrying(&self, gateway: &str, path: Option<&str>) -> usize {
        self.paths
            .iter()
            .filter(|((_, name), paths)| name == gateway && path.is_none_or(|p| paths.contains(p)))
            .count()
    }
}

/// The `fedway-hub` binary, built as this bench is (release), beside it.
fn hub_binary() -> anyhow::Result<std::path::PathBuf> {
    let status = std::process::Command::new(env!("CARGO"))
        .args([
            "build",
            "--release",
            "-p",
            "fedway-hub",
            "--bin",
            "fedway-hub",
        ])
        .status()?;
    anyhow::ensure!(status.success(), "building fedway-hub failed: {status}");
    // target/release/deps/fleet-<hash> -> target/release/fedway-hub
    let exe = std::env::current_exe()?;
    let release = exe
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or_else(|| anyhow::anyhow!("no target directory above {}", exe.display()))?;
    Ok(release.join("fedway-hub"))
}

async fn measure(
    m: usize,
    g: usize,
    changes: usize,
    real: usize,
    hub_binary: &std::path::Path,
) -> anyhow::Result<()> {
    println!("\n== {m} members x {g} Gateways ==");
    let started = Instant::now();
    let names: Vec<String> = (1..=real).map(|i| format!("real-{i}")).collect();
    let specs: Vec<(&str, &[(&str, &str)])> = names.iter().map(|n| (n.as_str(), &[][..])).collect();
    let mut fed = Federation::start(&specs).await;
    // The hub controller as its binary runs, so its memory is its own.
    fed.use_hub_binary(hub_binary.to_owned());
    let hub = fed.hub.client();
    let dir = tempfile::tempdir()?;
    let fleet = Fleet::join(&fed, "sim", m - real, dir.path()).await;
    let members = Api::<fedway_crds::MemberCluster>::all(hub.clone());
    wait_for(
        "every member Ready",
        Duration::from_secs(120 + m as u64 / 5),
        || async {
            let list = members.list(&Default::default()).await.ok()?;
            (list.items.iter().filter(|m| m.is_ready()).count() == m).then_some(())
        },
    )
    .await?;
    println!(
        "{m} members joined and Ready in {:.1} s ({} simulated)",
        started.elapsed().as_secs_f64(),
        fleet.names.len()
    );

    // Every Work in the hub, watched.
    let works = Arc::new(Mutex::new(Works::default()));
    let changed = Arc::new(Notify::new());
    {
        let (works, changed) = (works.clone(), changed.clone());
        let api: Api<Work> = Api::all(hub.clone());
        tokio::spawn(async move {
            let mut stream = watcher(api, watcher::Config::default()).boxed();
            while let Some(Ok(event)) = stream.next().await {
                if let Ok(mut works) = works.lock() {
                    match event {
                        watcher::Event::Apply(work) | watcher::Event::InitApply(work) => {
                            let key = (work.namespace().unwrap_or_default(), work.name_any());
                            works.paths.insert(key.clone(), route_paths(&work));
                            works.applied.insert(
                                key.clone(),
                                work.status.as_ref().and_then(|s| s.observed_generation)
                                    == work.metadata.generation,
                            );
                            works.bytes.insert(
                                key,
                                serde_json::to_vec(&work.spec).map(|v| v.len()).unwrap_or(0),
                            );
                        }
                        watcher::Event::Delete(work) => {
                            let key = (work.namespace().unwrap_or_default(), work.name_any());
                            works.paths.remove(&key);
                            works.applied.remove(&key);
                            works.bytes.remove(&key);
                        }
                        _ => {}
                    }
                }
                changed.notify_waiters();
            }
        });
    }
    // Each real member's HTTPRoutes and Gateways, watched: (kind/name, path) seen.
    let real_seen = Arc::new(Mutex::new(BTreeMap::<(usize, String), String>::new()));
    for (index, member) in fed.members.iter().enumerate() {
        for (kind, plural) in [("HTTPRoute", "httproutes"), ("Gateway", "gateways")] {
            let resource = ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", kind),
                plural,
            );
            let api: Api<DynamicObject> =
                Api::namespaced_with(member.cluster.client(), "bench", &resource);
            let (seen, changed) = (real_seen.clone(), changed.clone());
            tokio::spawn(async move {
                let mut stream = watcher(api, watcher::Config::default())
                    .applied_objects()
                    .boxed();
                while let Some(Ok(object)) = stream.next().await {
                    let path = first_path(&object.data).unwrap_or_default();
                    if let Ok(mut seen) = seen.lock() {
                        seen.insert((index, format!("{kind}/{}", object.name_any())), path);
                    }
                    changed.notify_waiters();
                }
            });
        }
    }

    manifests::apply(
        &hub,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}}),
        "bench",
    )
    .await?;
    let setup = Instant::now();
    for gw in 0..g {
        create_gateway(&hub, &format!("gw-{gw}")).await?;
    }
    let every_work = || {
        let works = works.lock().map(|w| w.paths.len()).unwrap_or(0);
        works >= m * g
    };
    wait_until(&changed, Duration::from_secs(600), every_work).await?;
    println!(
        "{g} Gateways x {ROUTES_PER_GATEWAY} routes placed: {} Works in {:.1} s",
        m * g,
        setup.elapsed().as_secs_f64()
    );
    let (per_member, largest) = {
        let works = works.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        let total: usize = works.bytes.values().sum();
        (
            total / m.max(1),
            works.bytes.values().max().copied().unwrap_or(0),
        )
    };
    println!("Work bytes per member {per_member} (largest Work {largest})");
    // Measured from a fleet at rest: every Work applied, the hub idle.
    wait_until(&changed, Duration::from_secs(600), || {
        works.lock().map(|w| w.all_applied()).unwrap_or(false)
    })
    .await?;
    hub_idle(&fed).await?;

    // Route changes.
    let audit_before = fed.hub.audited_requests()?;
    let cpu_before = fed.hub_controller_cpu();
    let phase = Instant::now();
    let (mut in_works, mut in_real) = (Vec::new(), Vec::new());
    for change in 1..=changes {
        let path = format!("/v{change}");
        let written = Instant::now();
        in_works.push(change_route(&hub, &works, &changed, m, "gw-0", &path).await?);
        wait_until(&changed, Duration::from_secs(120), || {
            real_seen
                .lock()
                .map(|s| {
                    (0..real).all(|i| {
                        s.get(&(i, "HTTPRoute/gw-0-r0".into())).map(String::as_str)
                            == Some(path.as_str())
                    })
                })
                .unwrap_or(false)
        })
        .await?;
        in_real.push(written.elapsed());
    }
    let phase_seconds = phase.elapsed().as_secs_f64();
    let cpu = fed.hub_controller_cpu().saturating_sub(cpu_before);
    let audit = fed.hub.audited_requests()?;
    let requests = &audit[audit_before.len().min(audit.len())..];
    let (_, hub_written) = hub_writes(&fed, audit_before.len())?;
    let agent_requests: Vec<_> = requests
        .iter()
        .filter(|r| r.user.starts_with("system:serviceaccount:"))
        .collect();
    let renewals = agent_requests
        .iter()
        .filter(|r| r.resource == "leases" && r.verb == "patch")
        .count();
    let agent_kinds = by_kind(agent_requests.iter().copied());
    println!(
        "route change -> all {m} Works: {}; applied in {real} real members: {}",
        quantiles(&mut in_works),
        quantiles(&mut in_real)
    );
    println!(
        "per route change: hub CPU {:.1} ms, hub writes {:.1}, agent requests {:.1}; Lease renewals {:.1}/s; hub RSS {} MiB; bench process (agents) RSS {} MiB",
        cpu.as_secs_f64() * 1e3 / changes as f64,
        hub_written.len() as f64 / changes as f64,
        (agent_requests.len() - renewals) as f64 / changes as f64,
        renewals as f64 / phase_seconds,
        fed.hub_controller_rss().unwrap_or(0) / (1024 * 1024),
        process_rss() / (1024 * 1024),
    );
    println!("agent requests in all, by verb and resource: {agent_kinds:?}");

    // A storm of Ready flips (each MemberCluster's Ready set False, which
    // the hub's member health sets back) while routes change: the changes
    // must not queue behind the flips.
    let mut flipped_members: Vec<String> = fleet.names.clone();
    flipped_members.extend(fed.members.iter().map(|m| m.name.clone()));
    let storm_started = Instant::now();
    let storm = tokio::spawn(flip_ready(hub.clone(), flipped_members, STORM_FLIPS));
    let mut during_storm = Vec::new();
    let mut change = 0;
    while !storm.is_finished() || during_storm.is_empty() {
        change += 1;
        let path = format!("/storm{change}");
        during_storm.push(change_route(&hub, &works, &changed, m, "gw-1", &path).await?);
    }
    let flips = storm.await??;
    println!(
        "during a storm of {flips} Ready=False writes in {:.1} s: route change -> all {m} Works: {} ({} changes)",
        storm_started.elapsed().as_secs_f64(),
        quantiles(&mut during_storm),
        during_storm.len()
    );
    wait_until(&changed, Duration::from_secs(600), || {
        works.lock().map(|w| w.all_applied()).unwrap_or(false)
    })
    .await?;

    // New Gateways.
    let (mut new_in_works, mut new_in_real) = (Vec::new(), Vec::new());
    for new in 0..NEW_GATEWAYS {
        let name = format!("new-{new}");
        let written = Instant::now();
        create_gateway(&hub, &name).await?;
        wait_until(&changed, Duration::from_secs(300), || {
            works
                .lock()
                .map(|w| w.carrying(&format!("bench.{name}"), None) >= m)
                .unwrap_or(false)
        })
        .await?;
        new_in_works.push(written.elapsed());
        wait_until(&changed, Duration::from_secs(120), || {
            real_seen
                .lock()
                .map(|s| (0..real).all(|i| s.contains_key(&(i, format!("Gateway/{name}")))))
                .unwrap_or(false)
        })
        .await?;
        new_in_real.push(written.elapsed());
    }
    println!(
        "new Gateway -> its Work in all {m} members: {}; applied in {real} real members: {}",
        quantiles(&mut new_in_works),
        quantiles(&mut new_in_real)
    );

    // A hub restart: what it writes while nothing changes, then how soon
    // a change made as it starts is in every Work.
    wait_until(&changed, Duration::from_secs(600), || {
        works.lock().map(|w| w.all_applied()).unwrap_or(false)
    })
    .await?;
    hub_idle(&fed).await?;
    fed.stop_hub_controller();
    let (audit_before, _) = hub_writes(&fed, usize::MAX)?;
    fed.start_hub_controller();
    tokio::time::sleep(RESTART_QUIET).await;
    let (_, after_restart) = hub_writes(&fed, audit_before)?;
    let written = by_kind(&after_restart);
    fed.stop_hub_controller();
    let restarted = Instant::now();
    fed.start_hub_controller();
    change_route(&hub, &works, &changed, m, "gw-0", "/after-restart").await?;
    println!(
        "hub restart: writes in the {} s after, nothing changed: {} {written:?}; a change made at restart in all {m} Works after {:.2} s",
        RESTART_QUIET.as_secs(),
        written.values().sum::<usize>(),
        restarted.elapsed().as_secs_f64(),
    );
    drop(fleet);
    drop(fed);
    Ok(())
}

/// The hub's writes (its own Lease aside) since `from` in the audit log.
fn hub_writes(fed: &Federation, from: usize) -> anyhow::Result<(usize, Vec<AuditedRequest>)> {
    let audit = fed.hub.audited_requests()?;
    let writes = audit[from.min(audit.len())..]
        .iter()
        .filter(|r| r.user == ADMIN_USER && !r.uri.contains("fieldManager=fedway-e2e"))
        .filter(|r| r.resource != "leases")
        .cloned()
        .collect();
    Ok((audit.len(), writes))
}

/// How many `requests` of each verb and resource.
fn by_kind<'a>(requests: impl IntoIterator<Item = &'a AuditedRequest>) -> BTreeMap<String, usize> {
    let mut counted = BTreeMap::new();
    for request in requests {
        let what = format!(
            "{} {}/{}",
            request.verb, request.resource, request.subresource
        );
        *counted.entry(what).or_default() += 1;
    }
    counted
}

/// Waits until the hub has written nothing for 5 s.
async fn hub_idle(fed: &Federation) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    let (mut from, _) = hub_writes(fed, usize::MAX)?;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (now, writes) = hub_writes(fed, from)?;
        if writes.is_empty() {
            return Ok(());
        }
        from = now;
    }
    anyhow::bail!("the hub kept writing for 10 minutes")
}

/// Sets the path of `gateway`'s first route and waits until all `m`
/// Works of the Gateway carry it; returns how long that took.
async fn change_route(
    hub: &kube::Client,
    works: &Mutex<Works>,
    changed: &Notify,
    m: usize,
    gateway: &str,
    path: &str,
) -> anyhow::Result<Duration> {
    let written = Instant::now();
    manifests::apply(hub, route(gateway, 0, path), "bench").await?;
    let work = format!("bench.{gateway}");
    wait_until(changed, Duration::from_secs(300), || {
        works
            .lock()
            .map(|w| w.carrying(&work, Some(path)) >= m)
            .unwrap_or(false)
    })
    .await?;
    Ok(written.elapsed())
}

/// Sets Ready=False on `members` in turn, `flips` times in all, as fast as
/// the API server takes it; returns how many writes it took.
async fn flip_ready(
    hub: kube::Client,
    members: Vec<String>,
    flips: usize,
) -> anyhow::Result<usize> {
    let api = Api::<fedway_crds::MemberCluster>::all(hub);
    let mut done = 0;
    for name in members.iter().cycle().take(flips) {
        let Ok(mut member) = api.get_status(name).await else {
            continue;
        };
        let Some(status) = member.status.as_mut() else {
            continue;
        };
        for condition in status.conditions.iter_mut().filter(|c| c.type_ == "Ready") {
            condition.status = "False".into();
            condition.reason = "Storm".into();
            condition.message = "set by the fleet bench".into();
        }
        // A conflict (the hub set it back meanwhile) is a flip all the same.
        let _ = api.replace_status(name, &Default::default(), &member).await;
        done += 1;
    }
    Ok(done)
}

async fn create_gateway(hub: &kube::Client, name: &str) -> anyhow::Result<()> {
    manifests::apply(
        hub,
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
               "metadata": {"name": name, "namespace": "bench"},
               "spec": {"gatewayClassName": "fedway",
                        "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}}),
        "bench",
    )
    .await?;
    for r in 0..ROUTES_PER_GATEWAY {
        manifests::apply(hub, route(name, r, &format!("/r{r}")), "bench").await?;
    }
    Ok(())
}

fn route(gateway: &str, index: usize, path: &str) -> Value {
    json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
           "metadata": {"name": format!("{gateway}-r{index}"), "namespace": "bench"},
           "spec": {"parentRefs": [{"name": gateway}],
                    "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": path}}],
                               "backendRefs": [{"name": "svc", "port": 80}]}]}})
}

/// The first rule's path of an HTTPRoute.
fn first_path(object: &Value) -> Option<String> {
    object["spec"]["rules"][0]["matches"][0]["path"]["value"]
        .as_str()
        .map(str::to_owned)
}

/// The paths of the HTTPRoutes a Work carries.
fn route_paths(work: &Work) -> BTreeSet<String> {
    work.spec
        .manifests
        .iter()
        .filter(|m| m.0.get("kind").and_then(Value::as_str) == Some("HTTPRoute"))
        .filter_map(|m| first_path(&Value::Object(m.0.clone())))
        .collect()
}

/// Waits until `done`, woken by `changed`; an error after `timeout`.
async fn wait_until(
    changed: &Notify,
    timeout: Duration,
    done: impl Fn() -> bool,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let notified = changed.notified();
        if done() {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            anyhow::bail!("not done within {timeout:?}");
        }
        // A notification between `done` and here is not lost: `notified`
        // was created before.
        let _ = tokio::time::timeout(left.min(Duration::from_millis(500)), notified).await;
    }
}

async fn wait_for<F, Fut>(what: &str, timeout: Duration, check: F) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<()>>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check().await.is_some() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    anyhow::bail!("{what}: not within {timeout:?}")
}

fn quantiles(samples: &mut [Duration]) -> String {
    if samples.is_empty() {
        return "none".into();
    }
    samples.sort();
    let at = |q: f64| quantile(samples, q);
    format!(
        "p50 {:.0} ms, p99 {:.0} ms",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3
    )
}
