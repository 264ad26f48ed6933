//! Propagation latency: from a write in the hub to the change applied in
//! every member, over many changes, with the hub controller and the agents
//! as in production (in this process), against real API servers. Prints
//! p50/p99/max and the hub controller's CPU; asserts nothing.
//!
//!     cargo bench -p fedway-e2e --bench propagation
//!     FEDWAY_BENCH_MEMBERS=2,10 FEDWAY_BENCH_CHANGES=100 cargo bench ...
//!
//! Anchor: Karmada publishes p99 0.99 s (pull mode, 100 member clusters).

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use fedway_e2e::{
    bench::{env_list, process_rss, quantile},
    federation::Federation,
    manifests,
};
use futures::StreamExt;
use kube::{
    Api,
    api::DynamicObject,
    core::{ApiResource, GroupVersionKind},
    runtime::{WatchStreamExt, watcher},
};
use serde_json::json;
use tokio::sync::mpsc;

fn main() -> anyhow::Result<()> {
    // Quiet unless asked: the figures go to stdout, warnings to stderr.
    fedway_runtime::init(&fedway_runtime::LogArgs {
        log_format: fedway_runtime::LogFormat::Plain,
        log: "warn,kube_client=off".into(),
    })?;
    let members: Vec<usize> = env_list("FEDWAY_BENCH_MEMBERS", "2,8");
    let changes: usize = env_list("FEDWAY_BENCH_CHANGES", "100")[0];
    println!(
        "propagation: hub write -> applied in every member; {changes} sequential changes of an HTTPRoute"
    );
    println!(
        "{:>8} {:>9} {:>9} {:>9} {:>14} {:>12}",
        "members", "p50", "p99", "max", "hub CPU/change", "process RSS"
    );
    for count in members {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        runtime.block_on(measure(count, changes))?;
    }
    println!("anchor: Karmada p99 0.99 s (pull mode, 100 clusters, published)");
    Ok(())
}

async fn measure(count: usize, changes: usize) -> anyhow::Result<()> {
    let names: Vec<String> = (1..=count).map(|i| format!("member-{i}")).collect();
    let specs: Vec<(&str, &[(&str, &str)])> = names.iter().map(|n| (n.as_str(), &[][..])).collect();
    let fed = Federation::start(&specs).await;
    let hub = fed.hub.client();
    let route_resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute"),
        "httproutes",
    );
    manifests::apply(
        &hub,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}}),
        "bench",
    )
    .await?;
    manifests::apply(
        &hub,
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "gw", "namespace": "bench"},
               "spec": {"gatewayClassName": "fedway", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}}),
        "bench",
    )
    .await?;

    // Every member's copy of the route, watched: (member, path value, seen at).
    let (seen_tx, mut seen) = mpsc::unbounded_channel::<(usize, String, Instant)>();
    for (index, member) in fed.members.iter().enumerate() {
        let api: Api<DynamicObject> =
            Api::namespaced_with(member.cluster.client(), "bench", &route_resource);
        let tx = seen_tx.clone();
        tokio::spawn(async move {
            let mut stream = watcher(api, watcher::Config::default())
                .applied_objects()
                .boxed();
            while let Some(Ok(route)) = stream.next().await {
                if let Some(path) =
                    route.data["spec"]["rules"][0]["matches"][0]["path"]["value"].as_str()
                {
                    let _ = tx.send((index, path.to_owned(), Instant::now()));
                }
            }
        });
    }
    let route = |path: &str| {
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "r", "namespace": "bench"},
               "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": path}}],
                        "backendRefs": [{"name": "svc", "port": 80}]}]}})
    };
    let mut latencies = Vec::with_capacity(changes);
    let hub_cpu_before = fed.hub_controller_cpu();
    for change in 0..=changes {
        let path = format!("/v{change}");
        let written = Instant::now();
        manifests::apply(&hub, route(&path), "bench").await?;
        let mut arrived: BTreeMap<usize, Instant> = BTreeMap::new();
        let deadline = tokio::time::sleep(Duration::from_secs(60));
        tokio::pin!(deadline);
        while arrived.len() < count {
            tokio::select! {
                Some((member, value, at)) = seen.recv() => { if value == path { arrived.entry(member).or_insert(at); } }
                () = &mut deadline => anyhow::bail!("change {change} did not reach every member within 60 s"),
            }
        }
        // Change 0 also creates the Works: it is warm-up, not measured.
        if change > 0 {
            let last = arrived.values().max().copied().unwrap_or(written);
            latencies.push(last.duration_since(written));
        }
    }
    let hub_cpu = fed.hub_controller_cpu().saturating_sub(hub_cpu_before);
    latencies.sort();
    let at = |q: f64| quantile(&latencies, q);
    println!(
        "{:>8} {:>8.0}ms {:>8.0}ms {:>8.0}ms {:>12.2}ms {:>9} MiB",
        count,
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        hub_cpu.as_secs_f64() * 1e3 / changes as f64,
        process_rss() / (1024 * 1024),
    );
    Ok(())
}
