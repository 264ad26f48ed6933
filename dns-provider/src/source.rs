//! Where inputs come from: DNSZones and DNSRecords watched on the API server
//! the DNS server runs beside (hub or member), or a YAML file.
//!
//! Either way a bad or unreachable source never empties what is served: the
//! last good state stays until a new good one arrives.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Arc, atomic::Ordering},
    time::{Duration, SystemTime},
};

use fedway_crds::{DNSRecord, DNSZone};
use futures::{Stream, StreamExt};
use kube::{
    Api, Client, Resource, ResourceExt,
    runtime::{WatchStreamExt, watcher},
};

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

/// The objects of one kind, as the watch last listed them.
struct Mirror<K> {
    objects: BTreeMap<String, K>,
    /// Objects of a relist in progress, swapped in when it completes.
    relisting: Option<BTreeMap<String, K>>,
    complete: bool,
}

impl<K: Clone> Mirror<K> {
    fn new() -> Self {
        Self {
            objects: BTreeMap::new(),
            relisting: None,
            complete: false,
        }
    }

    /// Applies one watch event; returns whether the mirror changed.
    fn apply(&mut self, event: watcher::Event<K>) -> bool
    where
        K: Resource,
    {
        match event {
            watcher::Event::Init => {
                self.relisting = Some(BTreeMap::new());
                false
            }
            watcher::Event::InitApply(object) => {
                if let Some(relisting) = &mut self.relisting {
                    relisting.insert(object.name_any(), object);
                }
                false
            }
            watcher::Event::InitDone => {
                if let Some(relisting) = self.relisting.take() {
                    self.objects = relisting;
                }
                self.complete = true;
                true
            }
            watcher::Event::Apply(object) => {
                self.objects.insert(object.name_any(), object);
                true
            }
            watcher::Event::Delete(object) => {
                self.objects.remove(&object.name_any());
                true
            }
        }
    }
}

/// Watches DNSZones and DNSRecords on `client`'s cluster and serves them.
/// Nothing is served from the API server until both lists completed, so a
/// half-listed state never replaces the cached one.
pub async fn watch_cluster(client: Client, served: Arc<Served>) {
    let zones = watcher(
        Api::<DNSZone>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .map(Change::Zone);
    let records = watcher(Api::<DNSRecord>::all(client), watcher::Config::default())
        .default_backoff()
        .map(Change::Record);
    run_watches(futures::stream::select(zones, records), served).await;
}

enum Change {
    Zone(Result<watcher::Event<DNSZone>, watcher::Error>),
    Record(Result<watcher::Event<DNSRecord>, watcher::Error>),
}

async fn run_watches(changes: impl Stream<Item = Change>, served: Arc<Served>) {
    let mut zones = Mirror::<DNSZone>::new();
    let mut records = Mirror::<DNSRecord>::new();
    let mut changes = std::pin::pin!(changes);
    loop {
        let Some(first) = changes.next().await else {
            return;
        };
        let mut dirty = apply(first, &mut zones, &mut records, &served);
        // Drain whatever else arrives within the debounce window.
        let deadline = tokio::time::sleep(DEBOUNCE);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                next = changes.next() => match next {
                    Some(change) => dirty |= apply(change, &mut zones, &mut records, &served),
                    None => return,
                },
                () = &mut deadline => break,
            }
        }
        if dirty && zones.complete && records.complete {
            served.update(Inputs {
                zones: zones
                    .objects
                    .iter()
                    .map(|(name, zone)| (name.clone(), zone.spec.clone()))
                    .collect(),
                records: records
                    .objects
                    .iter()
                    .map(|(name, record)| (name.clone(), record.spec.clone()))
                    .collect(),
            });
        }
    }
}

fn apply(
    change: Change,
    zones: &mut Mirror<DNSZone>,
    records: &mut Mirror<DNSRecord>,
    served: &Served,
) -> bool {
    let result = match change {
        Change::Zone(event) => event.map(|event| zones.apply(event)),
        Change::Record(event) => event.map(|event| records.apply(event)),
    };
    match result {
        Ok(changed) => {
            served.metrics.source_up.store(true, Ordering::Relaxed);
            changed
        }
        Err(error) => {
            // The watcher retries with backoff; meanwhile the last good
            // state is served.
            served.metrics.source_up.store(false, Ordering::Relaxed);
            tracing::warn!(%error, "watching DNSZones/DNSRecords failed; still serving the last good state");
            false
        }
    }
}
