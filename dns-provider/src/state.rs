//! The served state and its one writer: new inputs are compared with the
//! current ones, zones that changed get a new serial, the zones are rebuilt
//! and swapped in, probes are reconciled and the cache is written.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Arc, Mutex, atomic::Ordering},
    time::{SystemTime, UNIX_EPOCH},
};

use arc_swap::ArcSwap;

use crate::{
    inputs::{Cached, Inputs},
    metrics::{EndpointSample, Metrics, Snapshot},
    probe::{ProbeReport, Prober},
    zone::{self, ZoneSet},
};

pub struct Served {
    pub zones: Arc<ArcSwap<ZoneSet>>,
    pub prober: Arc<Prober>,
    pub metrics: Arc<Metrics>,
    cache: Option<PathBuf>,
    current: Mutex<Current>,
}

#[derive(Default)]
struct Current {
    cached: Cached,
    /// Per zone apex, what its serial was computed from.
    fingerprints: BTreeMap<String, String>,
    records: usize,
    skipped: usize,
}

impl Served {
    pub fn new(cache: Option<PathBuf>, metrics: Arc<Metrics>) -> Self {
        Self {
            zones: Arc::new(ArcSwap::from_pointee(ZoneSet::default())),
            prober: Arc::new(Prober::new()),
            metrics,
            cache,
            current: Mutex::new(Current::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Current> {
        match self.current.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Starts from the on-disk cache, if there is one: answers before (or
    /// without) the API server. Returns whether a cache was loaded.
    pub fn load_cache(&self) -> bool {
        let Some(path) = &self.cache else {
            return false;
        };
        match Cached::load(path) {
            Ok(Some(cached)) => {
                tracing::info!(path = %path.display(), zones = cached.inputs.zones.len(), records = cached.inputs.records.len(), "serving the cached state until the source answers");
                self.install(cached.inputs, Some(cached.serials));
                true
            }
            Ok(None) => false,
            Err(error) => {
                tracing::warn!(%error, "ignoring the DNS state cache");
                false
            }
        }
    }

    /// Serves `inputs`. Unchanged inputs change nothing (no serial bump, no
    /// cache write).
    pub fn update(&self, inputs: Inputs) {
        if self.lock().cached.inputs == inputs {
            return;
        }
        self.install(inputs, None);
    }

    /// Builds and swaps in `inputs`. `cached_serials` are the serials the
    /// cache recorded for them; otherwise a zone whose content changed gets
    /// max(previous + 1, now): it increases on every change, also across
    /// restarts, and instances that see a change at about the same time
    /// hand out about the same serial.
    fn install(&self, inputs: Inputs, cached_serials: Option<BTreeMap<String, u32>>) {
        let mut current = self.lock();
        let fingerprints = fingerprints(&inputs);
        let now = unix_now();
        let serials: BTreeMap<String, u32> = fingerprints
            .iter()
            .map(|(apex, fingerprint)| {
                let previous = match &cached_serials {
                    Some(cached) => cached.get(apex),
                    None => current.cached.serials.get(apex),
                };
                let unchanged =
                    cached_serials.is_some() || current.fingerprints.get(apex) == Some(fingerprint);
                let serial = match previous {
                    Some(&serial) if unchanged => serial,
                    Some(&serial) => serial.wrapping_add(1).max(now),
                    None => now,
                };
                (apex.clone(), serial)
            })
            .collect();
        let prober = self.prober.clone();
        let built = zone::build(&inputs.zones, &inputs.records, &serials, &mut |target| {
            prober.cell_for(target)
        });
        for skipped in &built.skipped {
            tracing::warn!(object = %skipped.object, reason = %skipped.reason, "not served");
        }
        self.prober.reconcile(&built.probes);
        current.records = built.zones.zones().iter().map(|z| z.hosts().count()).sum();
        self.zones.store(Arc::new(built.zones));
        self.metrics.input_updates.fetch_add(1, Ordering::Relaxed);
        current.skipped = built.skipped.len();
        current.fingerprints = fingerprints;
        current.cached = Cached { inputs, serials };
        tracing::info!(
            zones = current.cached.inputs.zones.len(),
            records = current.records,
            "serving"
        );
        if cached_serials.is_none()
            && let Some(path) = &self.cache
            && let Err(error) = current.cached.store(path)
        {
            tracing::warn!(%error, "could not write the DNS state cache");
        }
    }

    pub fn serials(&self) -> BTreeMap<String, u32> {
        self.lock().cached.serials.clone()
    }

    pub fn reports(&self) -> Vec<ProbeReport> {
        self.prober.reports()
    }

    /// What the metrics page shows beyond counters.
    pub fn snapshot(&self) -> Snapshot {
        let current = self.lock();
        Snapshot {
            serials: current.cached.serials.clone().into_iter().collect(),
            records: current.records,
            skipped: current.skipped,
            endpoints: self
                .prober
                .reports()
                .into_iter()
                .map(|report| EndpointSample {
                    hostname: report.target.hostname,
                    cluster: report.target.cluster,
                    address: report.target.address.to_string(),
                    state: report.health.as_str(),
                })
                .collect(),
        }
    }
}

/// What each zone's serial depends on: its spec and the records under it.
fn fingerprints(inputs: &Inputs) -> BTreeMap<String, String> {
    inputs
        .zones
        .values()
        .map(|spec| {
            let apex = zone::apex_key(&spec.zone);
            let suffix = format!(".{apex}");
            let records: Vec<_> = inputs
                .records
                .values()
                .filter(|record| {
                    let host = format!("{}.", record.hostname.to_ascii_lowercase());
                    host == apex || host.ends_with(&suffix)
                })
                .collect();
            let fingerprint = serde_json::to_string(&(spec, records)).unwrap_or_default();
            (apex, fingerprint)
        })
        .collect()
}

fn unix_now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(1)
}
