//! Where inputs come from: DNSZones and DNSRecords watched on the API server
//! the DNS server runs beside (hub or member), or a YAML file.
//!
//! Either way a bad or unreachable source never empties what is served: the
//! last good state stays until a new good one arrives.

use std::{
    path::PathBuf,
    sync::{Arc, atomic::Ordering},
    time::{Duration, SystemTime},
};

use fedway_crds::{DNSRecord, DNSZone};
use fedway_runtime::mirror::{Mirror, Pass, Passes};
use kube::{Api, Client, ResourceExt, runtime::watcher};

use crate::{inputs::Inputs, state::Served};

/// How long to wait for more events before rebuilding, so a burst (the
/// initial list, a hub writing many records) rebuilds once.
const DEBOUNCE: Duration = Duration::from_millis(50);

/// Re-reads `path` whenever its modification time changes; keeps the last
/// good contents when it becomes invalid.
pub async fn watch_file(path: PathBuf, served: Arc<Served>, poll: Duration) {
    let mut seen: Option<SystemTime> = None;
    loop {
        let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        if modified != seen {
            seen = modified;
            match Inputs::read_file(&path) {
                Ok(inputs) => {
                    served.metrics.source_up.store(true, Ordering::Relaxed);
                    served.update(inputs);
                }
                Err(error) => {
                    served.metrics.source_up.store(false, Ordering::Relaxed);
                    tracing::error!(%error, "keeping the last good zones");
                }
            }
        }
        tokio::time::sleep(poll).await;
    }
}

/// Watches DNSZones and DNSRecords on `client`'s cluster and serves them.
/// Nothing is served from the API server until both lists completed, so a
/// half-listed state never replaces the cached one; a failing watch keeps
/// the last good state served while it retries.
pub async fn watch_cluster(client: Client, served: Arc<Served>) {
    let mut mirror = Mirror::default();
    let zones = mirror.kind(
        Api::<DNSZone>::all(client.clone()),
        watcher::Config::default(),
        |_| (),
    );
    let records = mirror.kind(
        Api::<DNSRecord>::all(client),
        watcher::Config::default(),
        |_| (),
    );
    let passes = Passes {
        debounce: DEBOUNCE,
        retry: DEBOUNCE,
    };
    let health = |failed: Option<&watcher::Error>| {
        served
            .metrics
            .source_up
            .store(failed.is_none(), Ordering::Relaxed);
        if let Some(error) = failed {
            tracing::warn!(%error, "watching DNSZones/DNSRecords failed; still serving the last good state");
        }
    };
    mirror
        .run(passes, health, || {
            served.update(Inputs {
                zones: zones
                    .state()
                    .iter()
                    .map(|zone| (zone.name_any(), zone.spec.clone()))
                    .collect(),
                records: records
                    .state()
                    .iter()
                    .map(|record| (record.name_any(), record.spec.clone()))
                    .collect(),
            });
            futures::future::ready(Pass::Done)
        })
        .await;
}
