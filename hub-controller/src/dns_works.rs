//! How a member's DNS data (every DNSZone and DNSRecord) is cut into Works
//! that stay far from etcd's object limit (~1.5 MiB per request), and in
//! which order they are written so that no object is missing in the member
//! while it moves from one Work to another. Pure: `dns` does the I/O.
//!
//! Each object goes to Work `fedway-dns-<i>`, `i` a stable hash of its kind
//! and name modulo the chunk count, a power of two: the smallest at which
//! every Work holds at most [`MAX_BYTES`] and [`MAX_MANIFESTS`]. A changed
//! record therefore rewrites one Work, not all of them, and when the count
//! doubles (or halves) objects move only between the Works `i` and `i+k`.
//!
//! The agent deletes an object its Work no longer carries unless another
//! Work it has seen carries it. Writing the Works that gain objects before
//! those that lose them is not enough when one Work does both, so a plan
//! has two phases: first every Work as the union of what it holds and what
//! it will hold (nothing leaves), then every Work as wanted. The agent
//! sweeps a deleted Work's objects by what it has applied, so the Works no
//! longer needed are deleted in a later pass, once the agent reports every
//! Work that stays applied at its current generation (`dns`).

use std::{
    collections::{BTreeMap, BTreeSet},
    hash::Hasher,
};

use fedway_crds::work::{Manifest, ManifestStatus, ObjectIdentity, Work};

/// What every DNS Work's name starts with; the `i`th is
/// `fedway-dns-<i>`.
pub const PREFIX: &str = "fedway-dns-";
/// Most bytes of manifests one Work holds: under half of etcd's default
/// request limit (1.5 MiB), leaving room for the agent's per-manifest
/// status and the server's managedFields.
pub const MAX_BYTES: usize = 640 * 1024;
/// Most manifests one Work holds (the Work schema's bound).
pub const MAX_MANIFESTS: usize = 512;

/// The Work name of chunk `i`.
pub fn name(i: usize) -> String {
    format!("{PREFIX}{i}")
}

/// Whether a Work (of the hub's DNS label) is one of the DNS Works; the
/// single `fedway-dns` Work of earlier versions counts, so it is deleted
/// once the chunks replace it.
pub fn is_dns_work(name: &str) -> bool {
    name == "fedway-dns" || name.starts_with(PREFIX)
}

/// Most chunks: past this, objects that collide are left together (only
/// oversized objects, each near the DNSRecord schema's ~1 MiB, would get
/// here).
const MAX_CHUNKS: usize = 1 << 16;

/// DNS data cut into Works: chunk `i` goes to Work [`name`]`(i)`.
#[derive(Debug, Default, PartialEq)]
pub struct Chunks {
    pub chunks: Vec<Vec<Manifest>>,
    /// The manifests' bytes in all (see [`size`]).
    pub bytes: usize,
}

/// `manifests` cut into the fewest power-of-two chunks that each fit the
/// limits. An object larger than [`MAX_BYTES`] on its own (the DNSRecord
/// schema allows ~1 MiB) ends up alone in its chunk.
pub fn chunks(manifests: &[Manifest]) -> Chunks {
    let sized: Vec<(u64, usize)> = manifests.iter().map(|m| (hash(m), size(m))).collect();
    let mut count = 1;
    while count < MAX_CHUNKS && !fits(&sized, count) {
        count *= 2;
    }
    let mut chunks = vec![Vec::new(); count];
    for ((hash, _), manifest) in sized.iter().zip(manifests) {
        chunks[slot(*hash, count)].push(manifest.clone());
    }
    Chunks {
        chunks,
        bytes: sized.iter().map(|(_, size)| size).sum(),
    }
}

/// Whether `count` chunks hold objects of these hashes and sizes within
/// the limits.
fn fits(sized: &[(u64, usize)], count: usize) -> bool {
    let mut bytes = vec![0usize; count];
    let mut objects = vec![0usize; count];
    for (hash, size) in sized {
        let i = slot(*hash, count);
        bytes[i] += size;
        objects[i] += 1;
    }
    (0..count).all(|i| objects[i] <= 1 || (bytes[i] <= MAX_BYTES && objects[i] <= MAX_MANIFESTS))
}

/// The writes that take the member's DNS Works from `current` (by name) to
/// `wanted` (chunk `i` in Work [`name`]`(i)`).
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// Works to write first: nothing any of them held is dropped.
    pub grow: Vec<(String, Vec<Manifest>)>,
    /// Then: the Works as wanted.
    pub settle: Vec<(String, Vec<Manifest>)>,
    /// Last: Works no longer needed.
    pub delete: Vec<String>,
}

pub fn plan(current: &BTreeMap<String, Vec<Manifest>>, wanted: &[Vec<Manifest>]) -> Plan {
    let mut plan = Plan::default();
    let names: BTreeSet<String> = (0..wanted.len())
        .filter(|i| !wanted[*i].is_empty())
        .map(name)
        .collect();
    for (i, manifests) in wanted.iter().enumerate() {
        let name = name(i);
        if manifests.is_empty() {
            continue;
        }
        let held = current.get(&name);
        let union = union(held.map(Vec::as_slice).unwrap_or_default(), manifests);
        if held != Some(&union) {
            plan.grow.push((name.clone(), union.clone()));
        }
        if &union != manifests {
            plan.settle.push((name, manifests.clone()));
        }
    }
    plan.delete = current
        .keys()
        .filter(|name| !names.contains(*name))
        .cloned()
        .collect();
    plan
}

/// `held`, each object as `wanted` has it, then the objects only `wanted`
/// carries: what a Work holds while nothing leaves it.
fn union(held: &[Manifest], wanted: &[Manifest]) -> Vec<Manifest> {
    let by_identity: BTreeMap<Option<ObjectIdentity>, &Manifest> = wanted
        .iter()
        .map(|m| (ObjectIdentity::of(&m.0), m))
        .collect();
    let held_identities: BTreeSet<Option<ObjectIdentity>> =
        held.iter().map(|m| ObjectIdentity::of(&m.0)).collect();
    let mut union: Vec<Manifest> = held
        .iter()
        .map(|m| (*by_identity.get(&ObjectIdentity::of(&m.0)).unwrap_or(&m)).clone())
        .collect();
    union.extend(
        wanted
            .iter()
            .filter(|m| !held_identities.contains(&ObjectIdentity::of(&m.0)))
            .cloned(),
    );
    union
}

/// FNV-1a of kind and name: stable across builds and Rust releases (the
/// standard hasher is not), so a new hub does not move every object.
fn hash(manifest: &Manifest) -> u64 {
    let mut hasher = fnv::FnvHasher::default();
    for field in [&manifest.0["kind"], &manifest.0["metadata"]["name"]] {
        hasher.write(field.as_str().unwrap_or_default().as_bytes());
        hasher.write_u8(0);
    }
    hasher.finish()
}

fn slot(hash: u64, count: usize) -> usize {
    // `count` is at most MAX_CHUNKS, so the remainder fits.
    (hash % count as u64) as usize
}

/// The manifest's size as JSON, which is about what etcd stores.
pub fn size(manifest: &Manifest) -> usize {
    serde_json::to_vec(&manifest.0).map_or(0, |bytes| bytes.len())
}

/// Whether the agent has applied a Work as it is now: it reported the
/// current generation and no apply that failed and will be tried again. A
/// Work leaving is deleted only when every Work that stays is applied, or
/// the objects moving out of it would be swept and made again.
pub fn applied(work: &Work) -> bool {
    work.status.as_ref().is_some_and(|status| {
        status.observed_generation == work.metadata.generation
            && !status.manifests.iter().any(ManifestStatus::apply_failed)
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(name: &str, bytes: usize) -> Manifest {
        let value = json!({"apiVersion": "fedway.dev/v1alpha1", "kind": "DNSRecord",
                           "metadata": {"name": name},
                           "spec": {"hostname": name, "padding": "x".repeat(bytes)}});
        Manifest(value.as_object().cloned().unwrap_or_default())
    }

    fn names(manifests: &[Manifest]) -> Vec<String> {
        manifests
            .iter()
            .map(|m| {
                m.0["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }

    /// Chunks fit the limits, lose and duplicate nothing, and half as many
    /// would not fit.
    #[test]
    fn chunks_fit_the_limits() {
        for (records, bytes) in [
            (0, 0),
            (3, 100),
            (512, 100),
            (513, 100),
            (100, 10_000),
            (1000, 10_000),
            (5, 700 * 1024),
        ] {
            let manifests: Vec<Manifest> = (0..records)
                .map(|i| record(&format!("r{i}.example.com"), bytes))
                .collect();
            let Chunks {
                chunks,
                bytes: total,
            } = chunks(&manifests);
            assert_eq!(total, manifests.iter().map(size).sum::<usize>());
            let case = format!(
                "{records} records of {bytes} bytes: {} chunks",
                chunks.len()
            );
            assert!(chunks.len().is_power_of_two(), "{case}");
            for chunk in &chunks {
                let total: usize = chunk.iter().map(size).sum();
                assert!(
                    chunk.len() == 1 || (total <= MAX_BYTES && chunk.len() <= MAX_MANIFESTS),
                    "{case}: one of {} objects, {total} bytes",
                    chunk.len()
                );
            }
            let sized: Vec<(u64, usize)> = manifests.iter().map(|m| (hash(m), size(m))).collect();
            assert!(
                chunks.len() == 1 || !fits(&sized, chunks.len() / 2),
                "{case}: fewer would do"
            );
            let mut all: Vec<String> = chunks.iter().flat_map(|c| names(c)).collect();
            all.sort();
            let mut want = names(&manifests);
            want.sort();
            assert_eq!(all, want, "{case}");
        }
    }

    /// A record keeps its Work while the chunk count stays, and moves only
    /// between Works `i` and `i + k` when it doubles.
    #[test]
    fn objects_stay_in_their_work() {
        let manifests: Vec<Manifest> = (0..600)
            .map(|i| record(&format!("r{i}.example.com"), 100))
            .collect();
        let chunk_of = |chunks: &[Vec<Manifest>], name: &str| {
            chunks
                .iter()
                .position(|c| names(c).iter().any(|n| n == name))
                .expect("carried")
        };
        let before = chunks(&manifests[..500]).chunks;
        let after = chunks(&manifests[..501]).chunks;
        assert_eq!((before.len(), after.len()), (1, 1));
        let grown = chunks(&manifests).chunks;
        assert_eq!(grown.len(), 2);
        let more = chunks(&[&manifests[..], &[record("new.example.com", 100)]].concat()).chunks;
        for name in names(&manifests) {
            assert_eq!(chunk_of(&grown, &name), chunk_of(&more, &name), "{name}");
        }
    }

    #[test]
    fn plans_never_drop_an_object_before_its_new_work_holds_it() {
        let [a, b, c, d] = ["a", "b", "c", "d"].map(|n| record(n, 10));
        let a2 = record("a", 20);
        let current = |works: Vec<(&str, Vec<Manifest>)>| -> BTreeMap<String, Vec<Manifest>> {
            works.into_iter().map(|(n, m)| (n.to_owned(), m)).collect()
        };
        let named = |i: usize, m: Vec<Manifest>| (name(i), m);
        // Nothing to do.
        assert_eq!(
            plan(
                &current(vec![("fedway-dns-0", vec![a.clone(), b.clone()])]),
                &[vec![a.clone(), b.clone()]]
            ),
            Plan::default()
        );
        // A first write, zones before records as wanted (one write); a
        // changed record (one write, in the first phase).
        let zone = Manifest(
            json!({"apiVersion": "fedway.dev/v1alpha1", "kind": "DNSZone", "metadata": {"name": "z"}})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        assert_eq!(
            plan(&BTreeMap::new(), &[vec![zone.clone(), a.clone()]]),
            Plan {
                grow: vec![named(0, vec![zone.clone(), a.clone()])],
                ..Plan::default()
            }
        );
        assert_eq!(
            plan(&BTreeMap::new(), &[vec![a.clone()]]),
            Plan {
                grow: vec![named(0, vec![a.clone()])],
                ..Plan::default()
            }
        );
        assert_eq!(
            plan(
                &current(vec![("fedway-dns-0", vec![a.clone(), b.clone()])]),
                &[vec![a2.clone(), b.clone()]]
            ),
            Plan {
                grow: vec![named(0, vec![a2.clone(), b.clone()])],
                ..Plan::default()
            }
        );
        // A record gone: dropped in the second phase only.
        assert_eq!(
            plan(
                &current(vec![("fedway-dns-0", vec![a.clone(), b.clone()])]),
                &[vec![a.clone()]]
            ),
            Plan {
                settle: vec![named(0, vec![a.clone()])],
                ..Plan::default()
            }
        );
        // The count doubles: 1 keeps what moves to 2 until 2 holds it.
        assert_eq!(
            plan(
                &current(vec![(
                    "fedway-dns-0",
                    vec![a.clone(), b.clone(), c.clone()]
                )]),
                &[vec![a.clone(), c.clone()], vec![b.clone(), d.clone()]]
            ),
            Plan {
                grow: vec![named(1, vec![b.clone(), d.clone()])],
                settle: vec![named(0, vec![a.clone(), c.clone()])],
                delete: vec![],
            }
        );
        // The count halves, and the single Work of earlier versions goes.
        assert_eq!(
            plan(
                &current(vec![
                    ("fedway-dns", vec![a.clone()]),
                    ("fedway-dns-0", vec![a.clone()]),
                    ("fedway-dns-1", vec![b.clone()]),
                ]),
                &[vec![a.clone(), b.clone()]]
            ),
            Plan {
                grow: vec![named(0, vec![a.clone(), b.clone()])],
                settle: vec![],
                delete: vec!["fedway-dns".into(), "fedway-dns-1".into()],
            }
        );
        // No data at all: every Work goes.
        assert_eq!(
            plan(&current(vec![("fedway-dns-0", vec![a.clone()])]), &[vec![]]),
            Plan {
                delete: vec!["fedway-dns-0".into()],
                ..Plan::default()
            }
        );
    }

    /// A Work counts as applied only at its current generation and with no
    /// failed apply pending; a refused takeover does not hold it back.
    #[test]
    fn applied_only_at_the_current_generation_without_failed_applies() {
        let manifest = |reason: &str| {
            json!({"identity": {"group": "", "version": "v1", "kind": "DNSRecord", "name": "r"},
                   "conditions": [{"type": "Applied", "status": if reason == "Applied" {"True"} else {"False"},
                                   "reason": reason, "message": "",
                                   "lastTransitionTime": "2026-12-07T00:00:00Z"}]})
        };
        let work = |generation: i64, status: Option<serde_json::Value>| -> Work {
            serde_json::from_value(json!({
                "apiVersion": "fedway.dev/v1alpha1", "kind": "Work",
                "metadata": {"name": "fedway-dns-0", "generation": generation},
                "spec": {"manifests": []},
                "status": status,
            }))
            .expect("a valid Work")
        };
        for (generation, status, want) in [
            (2, None, false),
            (2, Some(json!({"observedGeneration": 1})), false),
            (2, Some(json!({"observedGeneration": 2})), true),
            (
                2,
                Some(json!({"observedGeneration": 2, "manifests": [manifest("Applied")]})),
                true,
            ),
            (
                2,
                Some(json!({"observedGeneration": 2, "manifests": [manifest("Conflict")]})),
                true,
            ),
            (
                2,
                Some(
                    json!({"observedGeneration": 2, "manifests": [manifest("Applied"), manifest("ApplyFailed")]}),
                ),
                false,
            ),
            (
                3,
                Some(json!({"observedGeneration": 2, "manifests": [manifest("Applied")]})),
                false,
            ),
        ] {
            assert_eq!(
                applied(&work(generation, status.clone())),
                want,
                "{generation} {status:?}"
            );
        }
    }
}
