//! Objects that several Works carry into one member: a route attached to
//! two hub Gateways that both run here, a ReferenceGrant or a certificate
//! both need. The member has one such object, so every Work that carries it
//! must want the same thing, or each pass of one would undo the other's
//! (and flip Fedway's annotation back and forth). The agent applies one
//! merged object for all of them: the copy of the first Work by name, with
//! the parentRefs of every Work's copy (the hub narrows a route's
//! parentRefs to each Work's Gateway), Fedway's annotation naming every
//! Work that carries it, and `Orphan` as deletion policy when any of them
//! says so. Pure; the reconciler does the I/O.

use std::{collections::BTreeMap, sync::Arc};

use fedway_crds::work::{DeletionPolicy, ObjectIdentity, Work};
use serde_json::{Map, Value};

/// Separates Work names in the `fedway.dev/work` annotation (a Work's name
/// is `<namespace>.<name>` of its hub Gateway, or `fedway-dns-<i>`: never with
/// a comma).
const SEPARATOR: &str = ",";

/// The Works named by a `fedway.dev/work` annotation.
pub fn works_of(annotation: &str) -> impl Iterator<Item = &str> {
    annotation.split(SEPARATOR).filter(|w| !w.is_empty())
}

/// The member's copy of a certificate a Work names.
pub fn secret_identity(namespace: &str, name: &str) -> ObjectIdentity {
    ObjectIdentity {
        group: String::new(),
        version: "v1".into(),
        kind: "Secret".into(),
        namespace: Some(namespace.to_owned()),
        name: name.to_owned(),
    }
}

/// What one Work says of an object: the Work's name, its copy of the
/// object (None for a certificate, copied from a hub Secret whose content
/// every Work shares) and its deletion policy.
#[derive(Clone, Debug)]
pub struct Copy<'a> {
    pub work: &'a str,
    pub object: Option<&'a Map<String, Value>>,
    pub deletion: DeletionPolicy,
}

/// Every object the `works` carry, with each Work's copy, sorted by Work
/// name: built once per pass.
pub fn index(works: &[Arc<Work>]) -> BTreeMap<ObjectIdentity, Vec<Copy<'_>>> {
    let mut index: BTreeMap<ObjectIdentity, Vec<Copy<'_>>> = BTreeMap::new();
    for work in works {
        let name = work.metadata.name.as_deref().unwrap_or_default();
        let deletion = work.spec.deletion_policy;
        let manifests = work
            .spec
            .manifests
            .iter()
            .filter_map(|manifest| Some((ObjectIdentity::of(&manifest.0)?, Some(&manifest.0))));
        let secrets = work
            .spec
            .secrets
            .iter()
            .map(|copy| (secret_identity(&copy.namespace, &copy.name), None));
        for (identity, object) in manifests.chain(secrets) {
            index.entry(identity).or_default().push(Copy {
                work: name,
                object,
                deletion,
            });
        }
    }
    for copies in index.values_mut() {
        copies.sort_by(|a, b| a.work.cmp(b.work));
    }
    index
}

/// One object as every Work that carries it wants it.
#[derive(Clone, Debug, PartialEq)]
pub struct Merged {
    /// The object, without Fedway's markers.
    pub object: Value,
    /// The `fedway.dev/work` annotation: the Works that carry it, sorted.
    pub works: String,
    pub deletion: DeletionPolicy,
}

/// The object that Work `own.work` applies, given `others`: every Work's
/// copy of the same object as the agent last saw them (own's, if there,
/// is replaced by `own`).
pub fn merge(own: &Copy<'_>, others: &[Copy<'_>]) -> Merged {
    let mut copies: Vec<&Copy<'_>> = others.iter().filter(|c| c.work != own.work).collect();
    copies.push(own);
    copies.sort_by(|a, b| a.work.cmp(b.work));
    let mut object = Value::Object(
        copies
            .iter()
            .find_map(|c| c.object)
            .cloned()
            .unwrap_or_default(),
    );
    let mut parent_refs: Vec<&Value> = Vec::new();
    for parent in copies
        .iter()
        .filter_map(|c| c.object?.get("spec")?.get("parentRefs")?.as_array())
        .flatten()
    {
        if !parent_refs.contains(&parent) {
            parent_refs.push(parent);
        }
    }
    if !parent_refs.is_empty() {
        object["spec"]["parentRefs"] = parent_refs.into_iter().cloned().collect();
    }
    Merged {
        object,
        works: annotation(&copies.iter().map(|c| c.work).collect::<Vec<_>>()),
        deletion: if copies.iter().any(|c| c.deletion == DeletionPolicy::Orphan) {
            DeletionPolicy::Orphan
        } else {
            DeletionPolicy::Delete
        },
    }
}

/// The Works left to carry an object that `leaving` no longer carries,
/// from its annotation, kept only while the agent sees them carry it:
/// `None` when `leaving` is not among its Works (not this Work's to touch).
pub fn left_with<'a>(
    annotation: &'a str,
    leaving: &str,
    carriers: &[Copy<'_>],
) -> Option<Vec<&'a str>> {
    let works: Vec<&str> = works_of(annotation).collect();
    works.contains(&leaving).then(|| {
        works
            .into_iter()
            .filter(|w| *w != leaving && carriers.iter().any(|c| c.work == *w))
            .collect()
    })
}

/// The annotation for these Works.
pub fn annotation(works: &[&str]) -> String {
    works.join(SEPARATOR)
}

#[cfg(test)]
mod tests {
    use fedway_crds::work::{Manifest, SecretCopy, WorkSpec};
    use serde_json::json;

    use super::*;

    fn route(parents: &[&str], path: &str) -> Map<String, Value> {
        let parents: Vec<Value> = parents.iter().map(|p| json!({"name": p})).collect();
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
               "metadata": {"name": "cart", "namespace": "web"},
               "spec": {"parentRefs": parents, "rules": [{"matches": [{"path": {"value": path}}]}]}})
        .as_object()
        .cloned()
        .unwrap_or_default()
    }

    fn work(name: &str, deletion: DeletionPolicy, manifests: Vec<Map<String, Value>>) -> Arc<Work> {
        let mut work = Work::new(
            name,
            WorkSpec {
                manifests: manifests.into_iter().map(Manifest).collect(),
                deletion_policy: deletion,
                secrets: vec![SecretCopy {
                    from: format!("{name}-tls"),
                    namespace: "web".into(),
                    name: "shop-tls".into(),
                }],
                ..Default::default()
            },
        );
        work.metadata.namespace = Some("fedway-member-a".into());
        Arc::new(work)
    }

    fn route_identity() -> ObjectIdentity {
        ObjectIdentity::of(&route(&[], "/")).expect("an identity")
    }

    #[test]
    fn every_work_that_carries_an_object_wants_the_same_merged_object() {
        use DeletionPolicy::{Delete, Orphan};
        let works = [
            work("web.b", Delete, vec![route(&["b"], "/b-copy")]),
            work("web.a", Delete, vec![route(&["a"], "/a-copy")]),
            work("web.c", Orphan, vec![]),
        ];
        let index = index(&works);
        let carriers = &index[&route_identity()];
        assert_eq!(
            carriers.iter().map(|c| c.work).collect::<Vec<_>>(),
            ["web.a", "web.b"],
            "sorted by Work"
        );
        // Each Work's pass, from its own (possibly newer) copy.
        let a = route(&["a"], "/a-copy");
        let b = route(&["b"], "/b-copy");
        let merged_by = |work, object| {
            merge(
                &Copy {
                    work,
                    object: Some(object),
                    deletion: Delete,
                },
                carriers,
            )
        };
        let want = Merged {
            object: json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                           "metadata": {"name": "cart", "namespace": "web"},
                           "spec": {"parentRefs": [{"name": "a"}, {"name": "b"}],
                                    "rules": [{"matches": [{"path": {"value": "/a-copy"}}]}]}}),
            works: "web.a,web.b".into(),
            deletion: Delete,
        };
        assert_eq!(merged_by("web.a", &a), want);
        assert_eq!(merged_by("web.b", &b), want, "the same, whichever applies");

        // A Work alone with its object: its copy as it is.
        let alone = merge(
            &Copy {
                work: "web.c",
                object: Some(&a),
                deletion: Orphan,
            },
            &[],
        );
        assert_eq!(alone.object, Value::Object(a.clone()));
        assert_eq!((alone.works.as_str(), alone.deletion), ("web.c", Orphan));

        // A newer copy of its own replaces the one last seen; Orphan wins.
        let newer = route(&["a"], "/newer");
        let merged = merge(
            &Copy {
                work: "web.a",
                object: Some(&newer),
                deletion: Orphan,
            },
            carriers,
        );
        assert_eq!(
            merged.object["spec"]["rules"][0]["matches"][0]["path"]["value"],
            "/newer"
        );
        assert_eq!(merged.deletion, Orphan);

        // Certificates: every Work names its copy; the content is the one
        // this Work read.
        let secret = secret_identity("web", "shop-tls");
        assert_eq!(
            index[&secret].iter().map(|c| c.work).collect::<Vec<_>>(),
            ["web.a", "web.b", "web.c"]
        );
        let content = json!({"apiVersion": "v1", "kind": "Secret", "data": {"tls.crt": "eA=="}});
        let merged = merge(
            &Copy {
                work: "web.b",
                object: content.as_object(),
                deletion: Delete,
            },
            &index[&secret],
        );
        assert_eq!(merged.object, content);
        assert_eq!(
            (merged.works.as_str(), merged.deletion),
            ("web.a,web.b,web.c", Orphan)
        );
    }

    #[test]
    fn a_work_that_lets_go_leaves_the_object_to_the_works_that_still_carry_it() {
        let carriers = |works: &[&'static str]| -> Vec<Copy<'static>> {
            works
                .iter()
                .map(|work| Copy {
                    work,
                    object: None,
                    deletion: DeletionPolicy::Delete,
                })
                .collect()
        };
        // (annotation, the Work leaving, Works that carry it as seen, left)
        type Case = (
            &'static str,
            &'static str,
            &'static [&'static str],
            Option<Vec<&'static str>>,
        );
        let cases: [Case; 6] = [
            ("web.a", "web.a", &[], Some(vec![])),
            ("web.a,web.b", "web.a", &["web.b"], Some(vec!["web.b"])),
            (
                "web.a,web.b,web.c",
                "web.b",
                &["web.a", "web.b", "web.c"],
                Some(vec!["web.a", "web.c"]),
            ),
            // The annotation names a Work that no longer carries it.
            ("web.a,web.b", "web.a", &[], Some(vec![])),
            // Not this Work's object: untouched.
            ("web.b", "web.a", &["web.b"], None),
            ("", "web.a", &[], None),
        ];
        for (annotation, leaving, carrying, want) in cases {
            assert_eq!(
                left_with(annotation, leaving, &carriers(carrying)),
                want,
                "{annotation} without {leaving}"
            );
        }
    }
}
