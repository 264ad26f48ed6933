//! The hub's index, as linkerd2's policy-controller has one: every kind the
//! hub reads is watched once ([`fedway_runtime::mirror`]) into a store that
//! the Gateway controller and global DNS share, and each change is mapped
//! to what it affects — the Gateways to reconcile, and whether DNS must
//! recompute — so a change costs work for what it concerns only. A member's
//! Ready flip reconciles the Gateways that run there or would be placed
//! there, not every Gateway.
//!
//! Reconciles read these stores, never LIST the API server; the Work and
//! Secret-copy writes they make come back through the same watches.

use std::{
    collections::{HashMap, HashSet},
    hash::{Hash, Hasher},
    sync::Mutex,
};

use fedway_crds::{
    DNSPolicy, DNSRecord, DNSZone, MemberCluster, PlacementPolicy, Work,
    placement::{self, Member},
};
use fedway_runtime::mirror::{Change, Listed, Mirror, Touch};
use futures::Stream;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{
    Api, Client, ResourceExt,
    api::{DynamicObject, PartialObjectMeta},
    core::ApiResource,
    runtime::{
        reflector::{ObjectRef, Store},
        watcher,
    },
};
use serde_json::Value;

use crate::{
    dns::{MANAGED_LABEL, MANAGED_VALUE},
    gateways::{self, GATEWAY_ANNOTATION},
    join, listener_certificates, policy_attachment, route_kinds, status,
    work_builder::{self, ObjectKey},
};

/// What one change affects.
#[derive(Debug)]
pub struct Affected {
    pub gateways: Gateways,
    /// Global DNS reads the kind: it recomputes.
    pub dns: bool,
}

/// The Gateways a change concerns.
#[derive(Debug)]
pub enum Gateways {
    These(Vec<ObjectRef<DynamicObject>>),
    /// A kind every Gateway depends on (GatewayClasses, DNSZones,
    /// ReferenceGrants): rare changes, all reconciled.
    All,
}

impl Affected {
    fn these(gateways: impl IntoIterator<Item = ObjectRef<DynamicObject>>, dns: bool) -> Self {
        Self {
            gateways: Gateways::These(gateways.into_iter().collect()),
            dns,
        }
    }
    fn all(dns: bool) -> Self {
        Self {
            gateways: Gateways::All,
            dns,
        }
    }
}

/// The stores: what the hub knows of each kind.
#[derive(Clone)]
pub struct Index {
    pub gateways: Store<DynamicObject>,
    pub classes: Store<DynamicObject>,
    /// Each route kind the hub federates, with its resource.
    pub routes: Vec<(ApiResource, Store<DynamicObject>)>,
    /// ListenerSets, when the hub serves them.
    pub listener_sets: Option<Store<DynamicObject>>,
    /// The attachment policies the hub federates, each kind's store.
    pub policies: Vec<Store<DynamicObject>>,
    pub grants: Store<DynamicObject>,
    pub placement_policies: Store<PlacementPolicy>,
    pub dns_policies: Store<DNSPolicy>,
    pub zones: Store<DNSZone>,
    pub members: Store<MemberCluster>,
    pub works: Store<Work>,
    /// The DNSRecords the hub computed (labelled as its own).
    pub records: Store<DNSRecord>,
    /// By metadata only: the hub holds no keys or CA bundles in memory.
    pub secrets: Store<PartialObjectMeta<Secret>>,
    pub config_maps: Store<PartialObjectMeta<ConfigMap>>,
    listed: Listed,
}

impl Index {
    /// Watches every kind; returns the stores, the changes (to be polled:
    /// they fill the stores) and what each affects.
    pub fn watch(
        client: &Client,
        routes: &[ApiResource],
        policies: &[ApiResource],
        listener_sets: Option<&ApiResource>,
    ) -> (Self, impl Stream<Item = Change<Affected>> + Send + 'static) {
        let config = watcher::Config::default;
        let all = |resource: &ApiResource| Api::<DynamicObject>::all_with(client.clone(), resource);
        let mut mirror = Mirror::default();

        // Most Work changes are a member's report on routes, or a new
        // spec: global DNS recomputes only when what it reads of a Work
        // changed (at a thousand members, a pass reads a hundred thousand
        // Works).
        let dns_views = DnsViews::default();
        let works = mirror.kind(Api::<Work>::all(client.clone()), config(), move |work| {
            let dns = dns_views.changed(&work);
            Affected::these(gateway_of_work(work.object()), dns)
        });
        let listener_sets = listener_sets.map(|resource| {
            let store = mirror.kind_with(all(resource), config(), resource.clone(), |set| {
                Affected::these(set_gateway(set.object()), true)
            });
            (resource.clone(), store)
        });
        let gateways = mirror.kind_with(
            all(&gateways::gateways()),
            config(),
            gateways::gateways(),
            |gateway| {
                let gateway = gateway.object();
                Affected::these([gateway_key(gateway)], true)
            },
        );
        let placement_policies = mirror.kind(
            Api::<PlacementPolicy>::all(client.clone()),
            config(),
            |policy| {
                let policy = policy.object();
                let namespace = policy.namespace().unwrap_or_default();
                Affected::these(
                    policy
                        .spec
                        .target_refs
                        .iter()
                        .map(|t| gateway_ref(&namespace, &t.name)),
                    false,
                )
            },
        );
        let members = {
            let (gateways, policies, works) =
                (gateways.clone(), placement_policies.clone(), works.clone());
            mirror.kind(
                Api::<MemberCluster>::all(client.clone()),
                config(),
                move |member| {
                    Affected::these(
                        gateways_of_member(&member, &gateways, &policies, &works),
                        true,
                    )
                },
            )
        };
        let classes = mirror.kind_with(
            all(&gateways::gateway_classes()),
            config(),
            gateways::gateway_classes(),
            |_| Affected::all(true),
        );
        let zones = mirror.kind(Api::<DNSZone>::all(client.clone()), config(), |_| {
            Affected::all(true)
        });
        let grants = mirror.kind_with(
            all(&gateways::reference_grants()),
            config(),
            gateways::reference_grants(),
            |_| Affected::all(false),
        );
        let routes = routes
            .iter()
            .map(|resource| {
                let sets = listener_sets.clone();
                let dns = route_kinds::has_hostnames(&resource.kind);
                let store =
                    mirror.kind_with(all(resource), config(), resource.clone(), move |route| {
                        Affected::these(parents_of(sets.as_ref(), route.object()), dns)
                    });
                (resource.clone(), store)
            })
            .collect();
        let policies: Vec<Store<DynamicObject>> = policies
            .iter()
            .map(|resource| {
                mirror.kind_with(all(resource), config(), resource.clone(), |policy| {
                    gateways_of_policy(policy.object())
                })
            })
            .collect();
        let config_maps = {
            let (gateways, policies) = (gateways.clone(), policies.clone());
            mirror.kind(
                Api::<PartialObjectMeta<ConfigMap>>::all(client.clone()),
                config(),
                move |config_map| gateways_of_config_map(&gateways, &policies, config_map.object()),
            )
        };
        let secrets = {
            let gateways = gateways.clone();
            mirror.kind(
                Api::<PartialObjectMeta<Secret>>::all(client.clone()),
                config(),
                move |secret| {
                    Affected::these(gateways_of_secret(&gateways, secret.object()), false)
                },
            )
        };
        let dns_policies = mirror.kind(Api::<DNSPolicy>::all(client.clone()), config(), |_| {
            Affected::these([], true)
        });
        let records = mirror.kind(
            Api::<DNSRecord>::all(client.clone()),
            config().labels(&format!("{MANAGED_LABEL}={MANAGED_VALUE}")),
            |_| Affected::these([], true),
        );
        let listener_sets = listener_sets.map(|(_, store)| store);
        let (changes, listed) = mirror.into_parts();
        let index = Self {
            gateways,
            classes,
            routes,
            listener_sets,
            policies,
            grants,
            placement_policies,
            dns_policies,
            zones,
            members,
            works,
            records,
            secrets,
            config_maps,
            listed,
        };
        (index, changes)
    }

    /// Resolves once every store has listed: nothing is computed from a
    /// partial picture (a store still filling would look like deleted
    /// members, and take their Works away).
    pub async fn ready(&self) {
        self.listed.wait().await;
    }

    /// The Gateways a change names.
    pub fn gateway_refs(&self, gateways: Gateways) -> Vec<ObjectRef<DynamicObject>> {
        match gateways {
            Gateways::These(refs) => refs,
            Gateways::All => self
                .gateways
                .state()
                .iter()
                .map(|g| gateway_key(g))
                .collect(),
        }
    }

    /// The objects of `stores`, as JSON (what the pure modules read).
    pub fn values<'a>(stores: impl IntoIterator<Item = &'a Store<DynamicObject>>) -> Vec<Value> {
        stores
            .into_iter()
            .flat_map(Store::state)
            .filter_map(|object| serde_json::to_value(object.as_ref()).ok())
            .collect()
    }

    pub fn route_stores(&self) -> impl Iterator<Item = &Store<DynamicObject>> {
        self.routes.iter().map(|(_, store)| store)
    }
}

fn gateway_key(gateway: &DynamicObject) -> ObjectRef<DynamicObject> {
    ObjectRef::from_obj_with(gateway, gateways::gateways())
}

fn gateway_ref(namespace: &str, name: &str) -> ObjectRef<DynamicObject> {
    ObjectRef::new_with(name, gateways::gateways()).within(namespace)
}

/// The Gateway a Work carries (none for the DNS Works).
/// What global DNS last read of each Gateway's Work (a digest), to tell
/// the Work changes that matter to it.
#[derive(Default)]
struct DnsViews(Mutex<HashMap<(String, String), u64>>);

impl DnsViews {
    /// Whether global DNS should recompute after `touch`: a Work gone, one
    /// not of a Gateway (the DNS data's own), or one whose member report or
    /// withheld routes differ from what the last touch had.
    fn changed(&self, touch: &Touch<'_, Work>) -> bool {
        let work = touch.object();
        let key = (work.namespace().unwrap_or_default(), work.name_any());
        let Ok(mut views) = self.0.lock() else {
            return true;
        };
        let view = match touch {
            Touch::Applied(work) => dns_view(work),
            Touch::Deleted(_) => None,
        };
        match view {
            Some(view) => views.insert(key, view) != Some(view),
            None => {
                views.remove(&key);
                true
            }
        }
    }
}

/// A digest of what global DNS reads of a Gateway's Work (`dns`): the
/// member's report on the Gateway and the routes withheld from it. None
/// for a Work of no Gateway.
fn dns_view(work: &Work) -> Option<u64> {
    let (namespace, name) = work
        .annotations()
        .get(GATEWAY_ANNOTATION)?
        .split_once('/')?;
    let member = status::member_gateway("", (namespace, name), work.status.as_ref());
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    format!("{member:?} {:?}", work.spec.withheld).hash(&mut hasher);
    Some(hasher.finish())
}

fn gateway_of_work(work: &Work) -> Option<ObjectRef<DynamicObject>> {
    let (namespace, name) = work
        .annotations()
        .get(GATEWAY_ANNOTATION)?
        .split_once('/')?;
    Some(gateway_ref(namespace, name))
}

/// The Gateways a change to `member` concerns: those it runs (it has their
/// Works), and those whose placement would choose it now.
fn gateways_of_member(
    member: &Touch<'_, MemberCluster>,
    gateways: &Store<DynamicObject>,
    policies: &Store<PlacementPolicy>,
    works: &Store<Work>,
) -> Vec<ObjectRef<DynamicObject>> {
    let member = member.object();
    let namespace = join::member_namespace(&member.name_any());
    let mut concerned: HashSet<ObjectRef<DynamicObject>> = works
        .state()
        .iter()
        .filter(|w| w.metadata.namespace.as_deref() == Some(namespace.as_str()))
        .filter_map(|w| gateway_of_work(w))
        .collect();
    let policies = policies.state();
    let empty = Default::default();
    let view = Member {
        name: member.metadata.name.as_deref().unwrap_or_default(),
        labels: member.metadata.labels.as_ref().unwrap_or(&empty),
        ready: member.is_ready(),
        placed: None,
        classes: &[],
    };
    for gateway in gateways.state() {
        let key = gateway_key(&gateway);
        if concerned.contains(&key) {
            continue;
        }
        let namespace = gateway.namespace().unwrap_or_default();
        let policy = gateways::policy_for(&policies, &namespace, &gateway.name_any());
        if placement::eligible(policy.map(|p| &p.spec), &view) {
            concerned.insert(key);
        }
    }
    concerned.into_iter().collect()
}

/// The Gateways a policy concerns: those it targets, or (targeting a route
/// or Service) every Gateway — a needless reconcile changes nothing.
fn gateways_of_policy(policy: &DynamicObject) -> Affected {
    let value = serde_json::to_value(policy).unwrap_or_default();
    let targeted = policy_attachment::targeted_gateways(&value);
    let only_gateways = targeted.len()
        == value["spec"]["targetRefs"].as_array().map_or(
            usize::from(value["spec"]["targetRef"].is_object()),
            Vec::len,
        );
    if !only_gateways {
        return Affected::all(false);
    }
    Affected::these(
        targeted
            .into_iter()
            .map(|g| gateway_ref(&g.namespace, &g.name)),
        false,
    )
}

/// The Gateways a ConfigMap concerns: those whose frontend validation names
/// it, and those of the policies that name it.
fn gateways_of_config_map(
    gateways: &Store<DynamicObject>,
    policies: &[Store<DynamicObject>],
    config_map: &PartialObjectMeta<ConfigMap>,
) -> Affected {
    let key = ObjectKey {
        namespace: config_map.namespace().unwrap_or_default(),
        name: config_map.name_any(),
    };
    let mut concerned: Vec<ObjectRef<DynamicObject>> = gateways
        .state()
        .iter()
        .filter(|gateway| {
            let value = serde_json::to_value(gateway.as_ref()).unwrap_or_default();
            work_builder::frontend_ca_config_maps(&value).contains(&key)
        })
        .map(|gateway| gateway_key(gateway))
        .collect();
    for policy in policies.iter().flat_map(Store::state) {
        let value = serde_json::to_value(policy.as_ref()).unwrap_or_default();
        if policy_attachment::config_maps(&[&value]).contains(&key) {
            match gateways_of_policy(&policy).gateways {
                Gateways::All => return Affected::all(false),
                Gateways::These(refs) => concerned.extend(refs),
            }
        }
    }
    Affected::these(concerned, false)
}

/// The Gateways a Secret concerns: the one whose copy it is, or those with
/// a listener that references it (grants aside: a needless reconcile
/// changes nothing).
fn gateways_of_secret(
    store: &Store<DynamicObject>,
    secret: &PartialObjectMeta<Secret>,
) -> Vec<ObjectRef<DynamicObject>> {
    if let Some((namespace, name)) = secret
        .annotations()
        .get(GATEWAY_ANNOTATION)
        .and_then(|g| g.split_once('/'))
    {
        return vec![gateway_ref(namespace, name)];
    }
    let key = listener_certificates::SecretKey {
        namespace: secret.namespace().unwrap_or_default(),
        name: secret.name_any(),
    };
    store
        .state()
        .iter()
        .filter(|gateway| {
            let namespace = gateway.metadata.namespace.as_deref().unwrap_or_default();
            listener_certificates::named(namespace, &gateway.data).contains(&key)
        })
        .map(|gateway| gateway_key(gateway))
        .collect()
}

/// The Gateways a route names as parents, directly or through a
/// ListenerSet.
fn parents_of(
    listener_sets: Option<&(ApiResource, Store<DynamicObject>)>,
    route: &DynamicObject,
) -> Vec<ObjectRef<DynamicObject>> {
    let namespace = route.namespace().unwrap_or_default();
    route.data["spec"]["parentRefs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let name = p["name"].as_str()?;
            let ns = p["namespace"].as_str().unwrap_or(&namespace);
            match p["kind"].as_str().unwrap_or("Gateway") {
                "Gateway" => Some(gateway_ref(ns, name)),
                "ListenerSet" => {
                    let (resource, sets) = listener_sets?;
                    let key = ObjectRef::new_with(name, resource.clone()).within(ns);
                    set_gateway(sets.get(&key)?.as_ref())
                }
                _ => None,
            }
        })
        .collect()
}

/// The Gateway a ListenerSet's parentRef names.
fn set_gateway(set: &DynamicObject) -> Option<ObjectRef<DynamicObject>> {
    let parent = &set.data["spec"]["parentRef"];
    if parent["kind"].as_str().unwrap_or("Gateway") != "Gateway" {
        return None;
    }
    let namespace = set.namespace().unwrap_or_default();
    let ns = parent["namespace"].as_str().unwrap_or(&namespace);
    Some(gateway_ref(ns, parent["name"].as_str()?))
}

#[cfg(test)]
mod tests {
    use kube::runtime::{reflector::store::Writer, watcher::Event};
    use serde::de::DeserializeOwned;
    use serde_json::json;

    use super::*;

    fn store<K>(dyntype: K::DynamicType, objects: &[Value]) -> Store<K>
    where
        K: kube::Resource + Clone + DeserializeOwned + 'static,
        K::DynamicType: Eq + std::hash::Hash + Clone,
    {
        let mut writer = Writer::new(dyntype);
        for object in objects {
            let object: K = serde_json::from_value(object.clone()).expect("a valid object");
            writer.apply_watcher_event(&Event::Apply(object));
        }
        writer.as_reader()
    }

    fn gateway(name: &str) -> Value {
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
               "metadata": {"namespace": "web", "name": name}, "spec": {}})
    }

    fn policy(name: &str, target: &str, spec: Value) -> Value {
        let mut spec = spec;
        spec["targetRefs"] =
            json!([{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": target}]);
        json!({"apiVersion": "fedway.dev/v1alpha1", "kind": "PlacementPolicy",
               "metadata": {"namespace": "web", "name": name}, "spec": spec})
    }

    fn work(member: &str, gateway: &str) -> Value {
        json!({"apiVersion": "fedway.dev/v1alpha1", "kind": "Work",
               "metadata": {"namespace": join::member_namespace(member), "name": format!("web.{gateway}"),
                            "annotations": {GATEWAY_ANNOTATION: format!("web/{gateway}")}},
               "spec": {"manifests": []}})
    }

    /// Global DNS recomputes after a Work change only when what it reads
    /// of the Work changed.
    #[test]
    fn only_work_changes_that_dns_reads_wake_it() {
        let reported = |addresses: &[&str], route_accepted: &str| -> Work {
            let mut work = work("m1", "gw");
            work["status"] = json!({"manifests": [
                {"identity": {"group": "gateway.networking.k8s.io", "version": "v1", "kind": "Gateway",
                              "namespace": "web", "name": "gw"},
                 "feedback": {"addresses": addresses}},
                {"identity": {"group": "gateway.networking.k8s.io", "version": "v1", "kind": "HTTPRoute",
                              "namespace": "web", "name": "r"},
                 "feedback": {"parents": [{"gateway": "gw", "conditions": [
                     {"type": "Accepted", "status": route_accepted, "reason": "r", "message": "m"}]}]}},
            ]});
            serde_json::from_value(work).expect("a valid Work")
        };
        let mut with_spec = reported(&["10.0.0.1"], "True");
        with_spec.spec.takeover = fedway_crds::work::TakeoverPolicy::Always;
        let mut dns_work = reported(&[], "True");
        dns_work.annotations_mut().clear();
        let views = DnsViews::default();
        for (touch, want, why) in [
            (
                Touch::Applied(&reported(&["10.0.0.1"], "True")),
                true,
                "first seen",
            ),
            (
                Touch::Applied(&reported(&["10.0.0.1"], "True")),
                false,
                "the same again",
            ),
            (
                Touch::Applied(&with_spec),
                false,
                "a spec change DNS does not read",
            ),
            (
                Touch::Applied(&reported(&["10.0.0.2"], "True")),
                true,
                "another address",
            ),
            (
                Touch::Applied(&reported(&["10.0.0.2"], "False")),
                true,
                "a route refused there",
            ),
            (
                Touch::Deleted(&reported(&["10.0.0.2"], "False")),
                true,
                "deleted",
            ),
            (
                Touch::Applied(&reported(&["10.0.0.2"], "False")),
                true,
                "back",
            ),
            (Touch::Applied(&dns_work), true, "not a Gateway's Work"),
            (
                Touch::Applied(&dns_work),
                true,
                "not a Gateway's Work, again",
            ),
        ] {
            assert_eq!(views.changed(&touch), want, "{why}");
        }
    }

    fn member(name: &str, region: &str, ready: bool) -> MemberCluster {
        serde_json::from_value(json!({
            "apiVersion": "fedway.dev/v1alpha1", "kind": "MemberCluster",
            "metadata": {"name": name, "labels": {"region": region}},
            "spec": {},
            "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" },
                                       "reason": "r", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}]},
        }))
        .expect("a valid MemberCluster")
    }

    /// A member's change reconciles the Gateways it runs and those whose
    /// placement would choose it — never the others.
    #[test]
    fn a_member_change_concerns_its_gateways_only() {
        let gateways = store(
            gateways::gateways(),
            &[
                gateway("everywhere"),
                gateway("us-only"),
                gateway("eu-only"),
                gateway("named-other"),
                gateway("runs-in-eu"),
            ],
        );
        let policies = store(
            (),
            &[
                policy(
                    "us",
                    "us-only",
                    json!({"clusterSelector": {"matchLabels": {"region": "us"}}}),
                ),
                policy(
                    "eu",
                    "eu-only",
                    json!({"clusterSelector": {"matchLabels": {"region": "eu"}}}),
                ),
                policy("other", "named-other", json!({"clusterNames": ["other"]})),
                policy("pinned", "runs-in-eu", json!({"clusterNames": ["other"]})),
            ],
        );
        let works = store((), &[work("eu-1", "runs-in-eu"), work("us-1", "us-only")]);
        let concerned = |member: &MemberCluster| {
            let mut names: Vec<String> =
                gateways_of_member(&Touch::Applied(member), &gateways, &policies, &works)
                    .into_iter()
                    .map(|r| r.name)
                    .collect();
            names.sort();
            names
        };
        let cases = [
            // Ready: every Gateway that would place there, and the one it runs.
            (
                member("eu-1", "eu", true),
                vec!["eu-only", "everywhere", "runs-in-eu"],
            ),
            // NotReady: placement keeps only what it runs, so only that.
            (member("eu-1", "eu", false), vec!["runs-in-eu"]),
            // A member with nothing placed and not Ready: nothing.
            (member("ap-1", "ap", false), vec![]),
            (member("ap-1", "ap", true), vec!["everywhere"]),
        ];
        for (member, expected) in cases {
            assert_eq!(concerned(&member), expected, "{}", member.name_any());
        }
    }

    /// A route names its Gateway directly or through a ListenerSet; a
    /// policy its targets, or (targeting routes) every Gateway.
    #[test]
    fn routes_and_policies_name_their_gateways() {
        let set_resource = gateways::resource("ListenerSet", "v1", "listenersets");
        let sets = store(
            set_resource.clone(),
            &[
                json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "ListenerSet",
                     "metadata": {"namespace": "team", "name": "extra"},
                     "spec": {"parentRef": {"name": "shared", "namespace": "web"}}}),
            ],
        );
        let route: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"namespace": "team", "name": "r"},
        "spec": {"parentRefs": [
            {"name": "own"},
            {"kind": "ListenerSet", "name": "extra"},
            {"kind": "ListenerSet", "name": "missing"},
            {"kind": "Service", "name": "mesh"},
        ]}}))
        .expect("a valid route");
        let names: Vec<(Option<String>, String)> = parents_of(Some(&(set_resource, sets)), &route)
            .into_iter()
            .map(|r| (r.namespace, r.name))
            .collect();
        assert_eq!(
            names,
            [
                (Some("team".into()), "own".into()),
                (Some("web".into()), "shared".into())
            ]
        );

        let policy = |targets: Value| -> DynamicObject {
            serde_json::from_value(json!({
                "apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
                "metadata": {"namespace": "web", "name": "p"},
                "spec": {"targetRefs": targets}}))
            .expect("a valid policy")
        };
        let on_gateway = gateways_of_policy(&policy(
            json!([{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "g"}]),
        ));
        assert!(
            matches!(&on_gateway.gateways, Gateways::These(refs) if refs.len() == 1 && refs[0].name == "g")
        );
        let on_service = gateways_of_policy(&policy(
            json!([{"group": "", "kind": "Service", "name": "s"}]),
        ));
        assert!(matches!(on_service.gateways, Gateways::All));
    }
}
