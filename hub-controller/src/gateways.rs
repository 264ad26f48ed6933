//! The Gateway controller: for every hub Gateway of a class whose
//! controllerName is `fedway.dev/hub`, place it (PlacementPolicy), write one
//! Work per chosen member, remove Works of members no longer chosen, and
//! report in the hub what the members report.

use std::{
    borrow::Cow,
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use fedway_crds::{
    MemberCluster, PlacementPolicy, Work,
    placement::{self, Member},
    placement_policy::{CertificateSource, UnsupportedFeatures},
    work::{ObjectIdentity, Withheld, WorkSpec},
};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::{
    api::core::v1::ConfigMap,
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams},
    core::{ApiResource, GroupVersionKind},
    runtime::{
        controller::Action,
        events::{Event, EventType, Recorder},
        finalizer::{Event as Finalizer, finalizer},
        reflector::{ObjectRef, Store},
    },
};
use serde_json::{Value, json};

use crate::{
    Error, FIELD_MANAGER, api_error, certificate_copies, gateway_check,
    index::Index,
    join,
    listener_certificates::{self, Unresolved},
    listener_status::{self, ListenerStatus},
    metrics::HubMetrics,
    policy_attachment,
    route_features::{self, Lack},
    status::{self, MemberReport},
    work_builder::{self, ObjectKey, Parents, Sources},
};

/// The GatewayClass controllerName the hub implements.
pub const CONTROLLER_NAME: &str = "fedway.dev/hub";
/// Finalizer that cleans members up when a hub Gateway is deleted.
pub const FINALIZER: &str = "fedway.dev/cleanup";
/// Label on Works: the hub Gateway's UID (names can be too long for labels).
pub const GATEWAY_UID_LABEL: &str = "fedway.dev/gateway-uid";
/// Annotation on Works: the hub Gateway as `namespace/name`.
pub const GATEWAY_ANNOTATION: &str = "fedway.dev/gateway";
/// Most Work writes one reconcile has in flight.
pub(crate) const WRITES_AT_ONCE: usize = 32;

pub fn resource(kind: &str, version: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(work_builder::GATEWAY_API_GROUP, version, kind),
        plural,
    )
}

pub fn gateways() -> ApiResource {
    resource("Gateway", "v1", "gateways")
}
pub fn gateway_classes() -> ApiResource {
    resource("GatewayClass", "v1", "gatewayclasses")
}
pub fn reference_grants() -> ApiResource {
    resource("ReferenceGrant", "v1beta1", "referencegrants")
}

pub struct Context {
    pub client: Client,
    /// Publishes Kubernetes Events on status transitions.
    pub recorder: Recorder,
    pub metrics: Arc<HubMetrics>,
    /// The route kinds the hub serves ([`crate::route_kinds::served`]).
    pub routes: Vec<ApiResource>,
    /// The policy kinds the hub federates
    /// ([`crate::route_kinds::served_policies`]).
    pub policies: Vec<ApiResource>,
    /// ListenerSet, when the hub serves it.
    pub listener_sets: Option<ApiResource>,
    /// What the hub knows of every kind it reads (shared with global DNS).
    pub index: Index,
}

/// Reconciles one hub Gateway.
pub async fn reconcile(gateway: Arc<DynamicObject>, ctx: Arc<Context>) -> Result<Action, Error> {
    // Nothing is decided from stores still listing: an empty member store
    // would look like every member gone.
    ctx.index.ready().await;
    let _timer = ctx.metrics.gateways.start();
    let finalized = gateway.finalizers().iter().any(|f| f == FINALIZER);
    match owner(&ctx.index, &gateway) {
        // Its class is another controller's now: let go of it. (A deleted
        // Gateway goes through the finalizer's clean-up below instead.)
        Owner::Other if finalized && gateway.meta().deletion_timestamp.is_none() => {
            return release(&ctx, &gateway).await;
        }
        Owner::Other | Owner::Unknown if !finalized => return Ok(Action::await_change()),
        // The hub's; or one it runs whose class is missing (a hub being
        // reinstalled, say), which keeps running: nothing is deleted on a
        // guess.
        Owner::Hub | Owner::Other | Owner::Unknown => {}
    }
    let namespace = gateway.namespace().unwrap_or_default();
    let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), &namespace, &gateways());
    finalizer(&api, FINALIZER, gateway, |event| async {
        match event {
            Finalizer::Apply(gateway) => place(&ctx, &gateway).await,
            Finalizer::Cleanup(gateway) => clean_up(&ctx, &gateway).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

pub fn error_policy(gateway: Arc<DynamicObject>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.gateways.failed();
    tracing::warn!(gateway = %key(&gateway), %error, "reconcile failed; retrying");
    Action::requeue(std::time::Duration::from_secs(2))
}

fn key(gateway: &DynamicObject) -> String {
    format!(
        "{}/{}",
        gateway.namespace().unwrap_or_default(),
        gateway.name_any()
    )
}

/// Whose a Gateway is, by its GatewayClass.
enum Owner {
    /// The class's controllerName is the hub's.
    Hub,
    /// Another controller's class (or no class named).
    Other,
    /// The class does not exist.
    Unknown,
}

fn owner(index: &Index, gateway: &DynamicObject) -> Owner {
    let Some(class) = gateway.data["spec"]["gatewayClassName"].as_str() else {
        return Owner::Other;
    };
    match index
        .classes
        .get(&ObjectRef::new_with(class, gateway_classes()))
    {
        None => Owner::Unknown,
        Some(c) if c.data["spec"]["controllerName"] == CONTROLLER_NAME => Owner::Hub,
        Some(_) => Owner::Other,
    }
}

/// Lets go of a Gateway whose class is no longer the hub's: its Works go
/// (members' copies follow the deletion policy the Works carry), its
/// certificate copies and the hub's entries in its routes' status go, and
/// then the finalizer; its status is the new controller's to write.
async fn release(ctx: &Context, gateway: &DynamicObject) -> Result<Action, Error> {
    clean_up(ctx, gateway).await?;
    let gateway_value = serde_json::to_value(gateway).unwrap_or_default();
    let gateway_key = ObjectKey::of(&gateway_value);
    let listener_sets = Index::values(&ctx.index.listener_sets);
    let parents = Parents::of(&gateway_value, &listener_sets);
    let routes = routes_naming(&ctx.index, &parents);
    for route in work_builder::attached_routes(&parents, &routes) {
        put_entries(ctx, &PARENTS, &parents, route, Vec::new()).await?;
    }
    for policy in Index::values(&ctx.index.policies) {
        put_entries(ctx, &ANCESTORS, &parents, &policy, Vec::new()).await?;
    }
    let finalizers: Vec<&String> = gateway
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .collect();
    // Optimistic: another writer's finalizer added meanwhile fails this
    // patch (and the pass is retried) instead of being dropped.
    let patch = json!({"metadata": {"resourceVersion": gateway.resource_version(),
                                    "finalizers": finalizers}});
    let api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &gateway_key.namespace, &gateways());
    api.patch(
        &gateway_key.name,
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(api_error("releasing", format!("Gateway {}", key(gateway))))?;
    tracing::info!(gateway = %key(gateway), "released: its class is no longer Fedway's");
    Ok(Action::await_change())
}

/// The name of a Gateway's Work in each member namespace.
pub fn work_name(gateway: &DynamicObject) -> String {
    format!(
        "{}.{}",
        gateway.namespace().unwrap_or_default(),
        gateway.name_any()
    )
}

/// The Works the hub wrote for `gateway` (by its UID: a Gateway deleted
/// and created again under the same name has none yet).
fn works_of(index: &Index, gateway: &DynamicObject) -> Vec<Arc<Work>> {
    let uid = gateway.uid().unwrap_or_default();
    let name = work_name(gateway);
    index
        .works
        .state()
        .into_iter()
        .filter(|w| w.metadata.name.as_deref() == Some(name.as_str()))
        .filter(|w| w.labels().get(GATEWAY_UID_LABEL) == Some(&uid))
        .collect()
}

async fn place(ctx: &Context, gateway: &DynamicObject) -> Result<Action, Error> {
    let client = &ctx.client;
    let gateway_value = serde_json::to_value(gateway).unwrap_or_default();
    let index = &ctx.index;
    let existing = works_of(index, gateway);

    let zones: Vec<String> = index
        .zones
        .state()
        .iter()
        .map(|z| z.spec.zone.clone())
        .collect();
    let notes = match gateway_check::check(&gateway_value, &zones) {
        Ok(notes) => notes,
        Err(rejection) => {
            let kept = if existing.is_empty() {
                String::new()
            } else {
                format!(
                    "; its last accepted version keeps running in {} members",
                    existing.len()
                )
            };
            let conditions = [
                (
                    "Accepted",
                    false,
                    rejection.reason,
                    format!("{}{kept}", rejection.message),
                ),
                (
                    "Programmed",
                    false,
                    "Invalid",
                    "the Gateway is not accepted".to_owned(),
                ),
            ];
            write_gateway_status(ctx, gateway, &conditions, &[], None, None).await?;
            return Ok(Action::await_change());
        }
    };

    let placement_policies = index.placement_policies.state();
    let policy = policy_for(
        &placement_policies,
        &gateway.namespace().unwrap_or_default(),
        &gateway.name_any(),
    );
    let members: Vec<MemberCluster> = index
        .members
        .state()
        .iter()
        .map(|m| m.as_ref().clone())
        .collect();
    // Each member's Work of this Gateway, by member namespace.
    let by_namespace: BTreeMap<String, &Work> = existing
        .iter()
        .filter_map(|w| Some((w.namespace()?, w.as_ref())))
        .collect();
    let views: Vec<Member<'_>> = members
        .iter()
        .map(|m| Member {
            name: m.metadata.name.as_deref().unwrap_or_default(),
            labels: m.metadata.labels.as_ref().unwrap_or(&EMPTY),
            ready: m.is_ready(),
            placed: by_namespace
                .get(&join::member_namespace(
                    m.metadata.name.as_deref().unwrap_or_default(),
                ))
                // A Work whose Gateway names no class: placed, with no
                // class to keep.
                .map(|w| w.spec.gateway_class().unwrap_or_default()),
            classes: m
                .status
                .as_ref()
                .map(|s| s.gateway_classes.as_slice())
                .unwrap_or_default(),
        })
        .collect();
    let mut decisions = placement::place(policy.as_ref().map(|p| &p.spec), &views);

    // Capabilities: per attached route, the chosen members whose
    // implementation says it lacks a feature the route uses, and what the
    // policy does about it there.
    let listener_sets = Index::values(&index.listener_sets);
    let parents = Parents::of(&gateway_value, &listener_sets);
    let routes = routes_naming(index, &parents);
    let on_unsupported = policy
        .as_ref()
        .map(|p| p.spec.unsupported_features)
        .unwrap_or_default();
    let mut lacks: Vec<(&Value, Vec<Lack>)> = work_builder::attached_routes(&parents, &routes)
        .map(|route| (route, route_features::lacks(route, &decisions, &members)))
        .collect();
    if on_unsupported == UnsupportedFeatures::Fallback {
        route_features::fall_back(&mut decisions, &mut lacks, &members);
    }
    let lacking = |member: &str| -> Vec<(&Value, &Lack)> {
        lacks
            .iter()
            .filter_map(|(route, lacks)| Some((*route, lacks.iter().find(|l| l.member == member)?)))
            .collect()
    };
    let skipped = |member: &str| -> Vec<(&Value, &Lack)> {
        if on_unsupported == UnsupportedFeatures::Skip {
            lacking(member)
        } else {
            vec![]
        }
    };
    let grants = Index::values([&index.grants]);
    let policies = Index::values(&index.policies);
    let attached_routes: Vec<&Value> = lacks.iter().map(|(route, _)| *route).collect();
    let mut config_map_keys = policy_attachment::config_maps(&policy_attachment::attached(
        &parents.gateway,
        &attached_routes,
        &policies,
    ));
    config_map_keys.extend(work_builder::frontend_ca_config_maps(&gateway_value));
    let config_maps = read_config_maps(client, &config_map_keys).await?;
    let sources = Sources {
        gateway: &gateway_value,
        listener_sets: &listener_sets,
        routes: &routes,
        reference_grants: &grants,
        policies: &policies,
        config_maps: &config_maps,
    };
    let takeover = policy.as_ref().map(|p| p.spec.takeover).unwrap_or_default();
    let deletion = policy
        .as_ref()
        .map(|p| p.spec.deletion_policy)
        .unwrap_or_default();
    let uid = gateway.uid().unwrap_or_default();
    let gateway_key = key(gateway);
    // The listeners' certificates first, so that a Work never names a copy
    // its agent cannot find yet.
    let from_hub = policy.as_ref().map(|p| p.spec.certificates) != Some(CertificateSource::Member);
    let own_sets: Vec<&Value> =
        work_builder::listener_sets_of(&parents.gateway, &listener_sets).collect();
    let mut owner_certificates = Vec::new();
    for owner in std::iter::once(&gateway_value).chain(own_sets.iter().copied()) {
        let read = certificate_copies::read(client, owner, &grants, from_hub).await?;
        for (listener, unresolved) in &read.unresolved {
            tracing::warn!(gateway = %gateway_key, owner = owner["metadata"]["name"].as_str().unwrap_or_default(), listener, reason = unresolved.reason, "{}", unresolved.message);
        }
        if let Some(unresolved) = &read.backend_client {
            tracing::warn!(gateway = %gateway_key, reason = unresolved.reason, "backend client certificate: {}", unresolved.message);
        }
        owner_certificates.push(read);
    }
    let certificates = certificate_copies::Certificates::union(&owner_certificates);
    let copy_to: Vec<String> = if from_hub {
        decisions
            .iter()
            .map(|d| join::member_namespace(&d.cluster))
            .collect()
    } else {
        vec![]
    };
    let secrets =
        certificate_copies::sync(client, &uid, &gateway_key, &certificates, &copy_to).await?;
    let specs: Vec<WorkSpec> = decisions
        .iter()
        .map(|decision| {
            let skipped = skipped(&decision.cluster);
            WorkSpec {
                manifests: work_builder::manifests(&sources, &decision.gateway_class, |route| {
                    !skipped.iter().any(|(s, _)| std::ptr::eq(*s, route))
                }),
                withheld: skipped
                    .iter()
                    .filter_map(|(route, lack)| {
                        Some(Withheld {
                            identity: ObjectIdentity::of(route.as_object()?)?,
                            reason: format!("{} lacks {}", lack.class, lack.features.join(", ")),
                        })
                    })
                    .collect(),
                takeover,
                deletion_policy: deletion,
                secrets: secrets
                    .get(&join::member_namespace(&decision.cluster))
                    .cloned()
                    .unwrap_or_default(),
            }
        })
        .collect();
    // Members' Works written side by side: propagation then costs a few
    // writes' latency, not one per member; bounded, so a thousand members
    // are not a thousand requests at once.
    let writes: Vec<_> = decisions
        .iter()
        .zip(&specs)
        .filter(|(decision, spec)| {
            let current = by_namespace.get(&join::member_namespace(&decision.cluster));
            !work_up_to_date(current.copied(), &uid, &gateway_key, spec)
        })
        .map(|(decision, spec)| write_work(ctx, gateway, &decision.cluster, spec))
        .collect();
    futures::stream::iter(writes)
        .buffer_unordered(WRITES_AT_ONCE)
        .try_collect::<()>()
        .await?;
    let chosen: Vec<String> = decisions
        .iter()
        .map(|d| join::member_namespace(&d.cluster))
        .collect();
    for work in existing
        .iter()
        .filter(|w| !chosen.contains(&w.namespace().unwrap_or_default()))
    {
        let api: Api<Work> = Api::namespaced(client.clone(), &work.namespace().unwrap_or_default());
        delete_ignoring_missing(ctx, &api, &work.name_any()).await?;
    }

    // Status, from what members reported so far (fresh Works report later and
    // trigger another pass through the Work watch).
    let reports: Vec<MemberReport<'_>> = decisions
        .iter()
        .map(|d| MemberReport {
            cluster: &d.cluster,
            ready: views.iter().any(|m| m.name == d.cluster && m.ready),
            work: by_namespace
                .get(&join::member_namespace(&d.cluster))
                .and_then(|w| w.status.as_ref()),
        })
        .collect();
    let name = gateway.name_any();
    let programmed = status::gateway_programmed(&name, &reports);
    let degraded = status::gateway_degraded(&name, &reports);
    let placed_in: Vec<String> = decisions
        .iter()
        .map(|d| format!("{} ({})", d.cluster, d.gateway_class))
        .collect();
    let mut accepted_message = if placed_in.is_empty() {
        "accepted; placed in no member cluster".to_owned()
    } else {
        format!("accepted; placed in {}", status::listed(&placed_in))
    };
    for note in &notes {
        accepted_message.push_str("; ");
        accepted_message.push_str(note);
    }
    let mut conditions = vec![
        ("Accepted", true, "Accepted", accepted_message),
        programmed.condition("Programmed"),
        degraded.condition(status::DEGRADED),
    ];
    // The Gateway's own ResolvedRefs is about its backend client
    // certificate (listeners' references have theirs).
    if listener_certificates::client_certificate_ref(&gateway_value).is_some() {
        conditions.push(match &owner_certificates[0].backend_client {
            None => (
                "ResolvedRefs",
                true,
                "ResolvedRefs",
                "the backend client certificate resolved".to_owned(),
            ),
            Some(unresolved) => (
                "ResolvedRefs",
                false,
                unresolved.reason,
                unresolved.message.clone(),
            ),
        });
    }
    let listeners =
        listener_status::listeners(&gateway_value, &owner_certificates[0].unresolved, &reports);
    // A set counts once it is Accepted as its hub status rolls it up (in
    // every member that runs the Gateway).
    let attached_sets = ctx.listener_sets.as_ref().map(|_| {
        own_sets
            .iter()
            .filter(|set| {
                let key = ObjectKey::of(set);
                status::object_condition(
                    "ListenerSet",
                    &key.namespace,
                    &key.name,
                    "Accepted",
                    &reports,
                )
                .condition("Accepted")
                .1
            })
            .count()
    });
    write_gateway_status(
        ctx,
        gateway,
        &conditions,
        &status::gateway_addresses(&name, &reports),
        Some(&listeners),
        attached_sets,
    )
    .await?;
    for (route, lacks) in &lacks {
        // A member that does not run the route reports nothing of it.
        let route_reports: Vec<MemberReport<'_>> = reports
            .iter()
            .filter(|r| {
                !skipped(r.cluster)
                    .iter()
                    .any(|(s, _)| std::ptr::eq(*s, *route))
            })
            .cloned()
            .collect();
        let features = route_features::condition(lacks, on_unsupported);
        write_route_status(ctx, &parents, route, &route_reports, features).await?;
    }
    // Attached policies: an ancestor entry for this Gateway, from the
    // members whose Works carry the policy.
    for policy in &policies {
        let Some(identity) = policy.as_object().and_then(ObjectIdentity::of) else {
            continue;
        };
        let carried: Vec<MemberReport<'_>> = reports
            .iter()
            .zip(&specs)
            .filter(|(_, spec)| {
                spec.manifests
                    .iter()
                    .any(|m| ObjectIdentity::of(&m.0).as_ref() == Some(&identity))
            })
            .map(|(report, _)| report.clone())
            .collect();
        let ours = policy["status"]["ancestors"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| is_ours(&ANCESTORS, &parents, a));
        if !carried.is_empty() {
            write_policy_ancestors(ctx, &parents, policy, &carried).await?;
        } else if ours {
            put_entries(ctx, &ANCESTORS, &parents, policy, Vec::new()).await?;
        }
    }
    // ListenerSets: their conditions and listeners as the members report
    // them.
    for (set, certificates) in own_sets.iter().zip(&owner_certificates[1..]) {
        write_listener_set_status(ctx, set, &certificates.unresolved, &reports).await?;
    }
    if let Some(policy) = policy {
        write_policy_status(client, policy, &decisions).await?;
    }
    Ok(Action::await_change())
}

static EMPTY: BTreeMap<String, String> = BTreeMap::new();

/// The PlacementPolicy targeting the Gateway `namespace/name`: the oldest,
/// when several do.
pub fn policy_for<'a>(
    policies: &'a [Arc<PlacementPolicy>],
    namespace: &str,
    name: &str,
) -> Option<&'a PlacementPolicy> {
    policies
        .iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(namespace))
        .filter(|p| {
            p.spec
                .target_refs
                .iter()
                .any(|t| t.name == name && t.kind == "Gateway")
        })
        .min_by_key(|p| (p.creation_timestamp().map(|t| t.0), p.name_any()))
        .map(AsRef::as_ref)
}

/// The routes that may attach to `parents`: those naming the Gateway or one
/// of its ListenerSets (by name; `work_builder::attached_routes` decides
/// exactly), so a reconcile converts its own routes to JSON, not all.
fn routes_naming(index: &Index, parents: &Parents) -> Vec<Value> {
    let names: BTreeSet<&str> = std::iter::once(parents.gateway.name.as_str())
        .chain(parents.listener_sets.iter().map(|s| s.name.as_str()))
        .collect();
    index
        .route_stores()
        .flat_map(Store::state)
        .filter(|route| {
            route.data["spec"]["parentRefs"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["name"].as_str().is_some_and(|n| names.contains(n)))
        })
        .filter_map(|route| serde_json::to_value(route.as_ref()).ok())
        .collect()
}

/// The ConfigMaps of `keys` that exist (a missing one is the member
/// implementation's to report, as the policy's ResolvedRefs).
async fn read_config_maps(
    client: &Client,
    keys: &std::collections::BTreeSet<ObjectKey>,
) -> Result<Vec<Value>, Error> {
    let mut found = Vec::new();
    for key in keys {
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), &key.namespace);
        let config_map = api.get_opt(&key.name).await.map_err(api_error(
            "reading",
            format!("ConfigMap {}/{}", key.namespace, key.name),
        ))?;
        if let Some(mut value) = config_map.and_then(|c| serde_json::to_value(c).ok()) {
            value["apiVersion"] = "v1".into();
            value["kind"] = "ConfigMap".into();
            found.push(value);
        }
    }
    Ok(found)
}

/// Whether `current` already says what the hub would write: then the write
/// (a no-op for etcd, but still a request per member per pass) is skipped,
/// so a restarted hub or a status-only change costs no Work writes.
fn work_up_to_date(current: Option<&Work>, uid: &str, gateway: &str, spec: &WorkSpec) -> bool {
    current.is_some_and(|w| {
        w.spec == *spec
            && w.labels().get(GATEWAY_UID_LABEL).map(String::as_str) == Some(uid)
            && w.annotations().get(GATEWAY_ANNOTATION).map(String::as_str) == Some(gateway)
    })
}

async fn write_work(
    ctx: &Context,
    gateway: &DynamicObject,
    cluster: &str,
    spec: &WorkSpec,
) -> Result<(), Error> {
    let namespace = join::member_namespace(cluster);
    let name = work_name(gateway);
    let work = json!({
        "apiVersion": "fedway.dev/v1alpha1", "kind": "Work",
        "metadata": {
            "name": name, "namespace": namespace,
            "labels": {GATEWAY_UID_LABEL: gateway.uid().unwrap_or_default()},
            "annotations": {GATEWAY_ANNOTATION: key(gateway)},
        },
        "spec": spec,
    });
    Api::<Work>::namespaced(ctx.client.clone(), &namespace)
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&work),
        )
        .await
        .map_err(api_error("writing", format!("Work {namespace}/{name}")))?;
    ctx.metrics.works_written.inc();
    Ok(())
}

async fn delete_ignoring_missing(ctx: &Context, api: &Api<Work>, name: &str) -> Result<(), Error> {
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => {
            ctx.metrics.works_deleted.inc();
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(api_error("deleting", format!("Work {name}"))(e)),
    }
}

/// Deletion of a hub Gateway: its Works go, and with them (through the
/// agents) its objects in the members, unless the policy says Orphan.
async fn clean_up(ctx: &Context, gateway: &DynamicObject) -> Result<Action, Error> {
    // Listed, not read from the store: the finalizer goes after this, and a
    // Work written a moment ago that the store has not seen yet must go too.
    let uid = gateway.uid().unwrap_or_default();
    let works = Api::<Work>::all(ctx.client.clone())
        .list(&ListParams::default().labels(&format!("{GATEWAY_UID_LABEL}={uid}")))
        .await
        .map_err(api_error(
            "listing",
            format!("Works of Gateway {}", key(gateway)),
        ))?;
    // The deletion policy is read fresh too: a policy changed a moment ago
    // (not in the store yet) decides whether members keep their copies, and
    // a deletion cannot be taken back. The agents act on the policy the
    // deleted Work last carried.
    let namespace = gateway.namespace().unwrap_or_default();
    let policies: Vec<Arc<PlacementPolicy>> =
        Api::<PlacementPolicy>::namespaced(ctx.client.clone(), &namespace)
            .list(&ListParams::default())
            .await
            .map_err(api_error(
                "listing",
                format!("PlacementPolicies in {namespace}"),
            ))?
            .into_iter()
            .map(Arc::new)
            .collect();
    let deletion = policy_for(&policies, &namespace, &gateway.name_any())
        .map(|p| p.spec.deletion_policy)
        .unwrap_or_default();
    for work in works {
        let api: Api<Work> =
            Api::namespaced(ctx.client.clone(), &work.namespace().unwrap_or_default());
        if work.spec.deletion_policy != deletion {
            let patch = json!({"spec": {"deletionPolicy": deletion}});
            api.patch(
                &work.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
            .map_err(api_error("writing", format!("Work {}", work.name_any())))?;
        }
        delete_ignoring_missing(ctx, &api, &work.name_any()).await?;
    }
    certificate_copies::remove_all(&ctx.client, &gateway.uid().unwrap_or_default()).await?;
    tracing::info!(gateway = %key(gateway), "deleted its Works");
    Ok(Action::await_change())
}

/// Conditions as `(type, status, reason, message)`.
type Conditions<'a> = [(&'a str, bool, &'a str, String)];

fn conditions(
    previous: &Value,
    generation: Option<i64>,
    wanted: &Conditions<'_>,
) -> Vec<Condition> {
    wanted
        .iter()
        .map(|(type_, status, reason, message)| {
            let status = if *status { "True" } else { "False" };
            let before = previous
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == *type_);
            // Keep the transition time unless the status itself changed.
            let since = before
                .filter(|c| c["status"] == status)
                .and_then(|c| serde_json::from_value::<Time>(c["lastTransitionTime"].clone()).ok())
                .unwrap_or_else(|| Time(k8s_openapi::jiff::Timestamp::now()));
            Condition {
                type_: (*type_).into(),
                status: status.into(),
                reason: (*reason).into(),
                message: message.chars().take(32_000).collect(),
                last_transition_time: since,
                observed_generation: generation,
            }
        })
        .collect()
}

fn same_conditions(before: &Value, after: &[Condition]) -> bool {
    let before = before.as_array().map(Vec::as_slice).unwrap_or_default();
    before.len() == after.len()
        && after.iter().all(|c| {
            before.iter().any(|b| {
                b["type"] == c.type_.as_str()
                    && b["status"] == c.status.as_str()
                    && b["reason"] == c.reason.as_str()
                    && b["message"] == c.message.as_str()
                    && b["observedGeneration"].as_i64() == c.observed_generation
            })
        })
}

/// `status.listeners` as the API wants them, keeping each condition's
/// transition time from `previous` (the current status's listeners).
fn listener_values(
    previous: &Value,
    generation: Option<i64>,
    listeners: &[ListenerStatus],
) -> Vec<Value> {
    listeners
        .iter()
        .map(|l| {
            let before = previous
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["name"] == l.name.as_str())
                .map(|p| p["conditions"].clone())
                .unwrap_or(Value::Null);
            let wanted = [
                l.accepted.condition("Accepted"),
                l.resolved_refs.condition("ResolvedRefs"),
                l.programmed.condition("Programmed"),
            ];
            json!({
                "name": l.name,
                "supportedKinds": l.supported_kinds.iter()
                    .map(|k| json!({"group": work_builder::GATEWAY_API_GROUP, "kind": k}))
                    .collect::<Vec<_>>(),
                "attachedRoutes": l.attached_routes,
                "conditions": conditions(&before, generation, &wanted),
            })
        })
        .collect()
}

/// Whether `before` (the current status's listeners) already says what
/// `after` would, transition times aside.
fn same_listeners(before: &Value, after: &[Value]) -> bool {
    let before = before.as_array().map(Vec::as_slice).unwrap_or_default();
    before.len() == after.len()
        && before.iter().zip(after).all(|(b, a)| {
            // An empty list may come back absent.
            let kinds = |l: &Value| l["supportedKinds"].as_array().cloned().unwrap_or_default();
            b["name"] == a["name"]
                && kinds(b) == kinds(a)
                && b["attachedRoutes"] == a["attachedRoutes"]
                && serde_json::from_value::<Vec<Condition>>(a["conditions"].clone())
                    .is_ok_and(|c| same_conditions(&b["conditions"], &c))
        })
}

/// Writes the Gateway's conditions, addresses and (for an accepted
/// Gateway) listeners, when they differ from what it has.
async fn write_gateway_status(
    ctx: &Context,
    gateway: &DynamicObject,
    wanted: &Conditions<'_>,
    addresses: &[String],
    listeners: Option<&[ListenerStatus]>,
    attached_listener_sets: Option<usize>,
) -> Result<(), Error> {
    let client = &ctx.client;
    let previous = &gateway.data["status"];
    let generation = gateway.metadata.generation;
    let conditions = conditions(&previous["conditions"], generation, wanted);
    let listeners = listener_values(
        &previous["listeners"],
        generation,
        listeners.unwrap_or_default(),
    );
    let addresses: Vec<Value> = addresses
        .iter()
        .map(|a| {
            let type_ = if a.parse::<std::net::IpAddr>().is_ok() {
                "IPAddress"
            } else {
                "Hostname"
            };
            json!({"type": type_, "value": a})
        })
        .collect();
    let unchanged_addresses = previous["addresses"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        == addresses.as_slice();
    let attached_listener_sets = attached_listener_sets.map(|n| json!(n));
    if same_conditions(&previous["conditions"], &conditions)
        && unchanged_addresses
        && same_listeners(&previous["listeners"], &listeners)
        && previous.get("attachedListenerSets") == attached_listener_sets.as_ref()
    {
        return Ok(());
    }
    let mut status = json!({"conditions": conditions});
    if let Some(count) = attached_listener_sets {
        status["attachedListenerSets"] = count;
    }
    if !addresses.is_empty() {
        status["addresses"] = addresses.into();
    }
    if !listeners.is_empty() {
        status["listeners"] = listeners.into();
    }
    let patch =
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "status": status});
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &gateway.namespace().unwrap_or_default(),
        &gateways(),
    );
    api.patch_status(
        &gateway.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(api_error(
        "writing status of",
        format!("Gateway {}", key(gateway)),
    ))?;
    publish_transitions(ctx, gateway, &previous["conditions"], &conditions).await;
    Ok(())
}

/// Writes a ListenerSet's `Accepted` and `Programmed` (the members'
/// implementations decide whether the Gateway takes it) and its listeners,
/// when they differ from what it has.
async fn write_listener_set_status(
    ctx: &Context,
    set: &Value,
    unresolved: &[(String, Unresolved)],
    reports: &[MemberReport<'_>],
) -> Result<(), Error> {
    let Some(resource) = &ctx.listener_sets else {
        return Ok(()); // Listed from this kind: cannot happen.
    };
    let key = ObjectKey::of(set);
    let previous = &set["status"];
    let generation = set["metadata"]["generation"].as_i64();
    let summary =
        |type_| status::object_condition("ListenerSet", &key.namespace, &key.name, type_, reports);
    let (accepted, programmed) = (summary("Accepted"), summary("Programmed"));
    let conditions = conditions(
        &previous["conditions"],
        generation,
        &[
            accepted.condition("Accepted"),
            programmed.condition("Programmed"),
        ],
    );
    let listeners = listener_values(
        &previous["listeners"],
        generation,
        &listener_status::listeners(set, unresolved, reports),
    );
    if same_conditions(&previous["conditions"], &conditions)
        && same_listeners(&previous["listeners"], &listeners)
    {
        return Ok(());
    }
    let patch = json!({"apiVersion": set["apiVersion"], "kind": "ListenerSet",
                       "status": {"conditions": conditions, "listeners": listeners}});
    Api::<DynamicObject>::namespaced_with(ctx.client.clone(), &key.namespace, resource)
        .patch_status(
            &key.name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
        .map_err(api_error(
            "writing status of",
            format!("ListenerSet {}/{}", key.namespace, key.name),
        ))?;
    Ok(())
}

/// An Event for every condition whose status changed (or appeared).
async fn publish_transitions(
    ctx: &Context,
    gateway: &DynamicObject,
    before: &Value,
    after: &[Condition],
) {
    let reference = gateway.object_ref(&gateways());
    for condition in after {
        let was = before
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == condition.type_.as_str())
            .and_then(|c| c["status"].as_str());
        if was == Some(condition.status.as_str()) {
            continue;
        }
        let event = Event {
            type_: if condition.status == "True" {
                EventType::Normal
            } else {
                EventType::Warning
            },
            reason: condition.reason.clone(),
            note: Some(
                format!(
                    "{}={}: {}",
                    condition.type_, condition.status, condition.message
                )
                .chars()
                .take(1024)
                .collect(),
            ),
            action: "Place".into(),
            secondary: None,
        };
        if let Err(error) = ctx.recorder.publish(&event, &reference).await {
            tracing::warn!(%error, "publishing an event failed");
        }
    }
}

/// Sets the route's parent status for this Gateway (controller
/// `fedway.dev/hub`): one entry per parentRef to it, as the spec writes it
/// (a `sectionName` or `port` kept, two sections of one Gateway two
/// entries), keeping every other parent's entry.
async fn write_route_status(
    ctx: &Context,
    parents: &Parents,
    route: &Value,
    reports: &[MemberReport<'_>],
    (features_supported, features_reason, features_message): (bool, &str, String),
) -> Result<(), Error> {
    let kind = route["kind"].as_str().unwrap_or_default();
    let route_key = ObjectKey::of(route);
    let generation = route["metadata"]["generation"].as_i64();
    let current = route_parents(route);
    let mut entries = Vec::new();
    for spec_ref in work_builder::parent_refs_to(route, parents) {
        let parent_kind = spec_ref["kind"].as_str().unwrap_or("Gateway");
        let parent_namespace = spec_ref["namespace"]
            .as_str()
            .unwrap_or(&route_key.namespace);
        let parent_name = spec_ref["name"].as_str().unwrap_or_default();
        let parent = status::ParentRef {
            kind: parent_kind,
            namespace: parent_namespace,
            name: parent_name,
            section_name: spec_ref["sectionName"].as_str(),
            port: spec_ref["port"]
                .as_i64()
                .and_then(|p| i32::try_from(p).ok()),
        };
        let mut parent_ref = json!({"group": work_builder::GATEWAY_API_GROUP, "kind": parent_kind,
                                    "namespace": parent_namespace, "name": parent_name});
        for field in ["sectionName", "port"] {
            if !spec_ref[field].is_null() {
                parent_ref[field] = spec_ref[field].clone();
            }
        }
        let summary = |type_| {
            status::route_condition(
                kind,
                &route_key.namespace,
                &route_key.name,
                parent,
                type_,
                reports,
            )
        };
        let (accepted, resolved) = (summary("Accepted"), summary("ResolvedRefs"));
        let previous = current
            .iter()
            .find(|p| is_ours(&PARENTS, parents, p) && p["parentRef"] == parent_ref)
            .map(|p| p["conditions"].clone())
            .unwrap_or(Value::Null);
        let conditions = conditions(
            &previous,
            generation,
            &[
                accepted.condition("Accepted"),
                resolved.condition("ResolvedRefs"),
                (
                    route_features::FEATURES_SUPPORTED,
                    features_supported,
                    features_reason,
                    features_message.clone(),
                ),
            ],
        );
        entries.push(json!({"parentRef": parent_ref, "controllerName": CONTROLLER_NAME, "conditions": conditions}));
    }
    put_entries(ctx, &PARENTS, parents, route, entries).await
}

/// The route's `status.parents`, as they are.
fn route_parents(route: &Value) -> Vec<Value> {
    route["status"]["parents"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Sets the policy's ancestor status for this Gateway (controller
/// `fedway.dev/hub`), from the members that run the policy, keeping every
/// other ancestor's entry.
async fn write_policy_ancestors(
    ctx: &Context,
    parents: &Parents,
    policy: &Value,
    reports: &[MemberReport<'_>],
) -> Result<(), Error> {
    let gateway = &parents.gateway;
    let kind = policy["kind"].as_str().unwrap_or_default();
    let key = ObjectKey::of(policy);
    let ancestor_ref = json!({"group": work_builder::GATEWAY_API_GROUP, "kind": "Gateway",
                              "namespace": gateway.namespace, "name": gateway.name});
    let previous = policy["status"]["ancestors"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| is_ours(&ANCESTORS, parents, a) && a["ancestorRef"] == ancestor_ref)
        .map(|a| a["conditions"].clone())
        .unwrap_or(Value::Null);
    // BackendTLSPolicy's references (CA certificates) have a condition of
    // their own in the spec; other kinds say what they say in Accepted.
    let types: &[&str] = if kind == "BackendTLSPolicy" {
        &["Accepted", "ResolvedRefs"]
    } else {
        &["Accepted"]
    };
    let summaries: Vec<(&str, status::Summary)> = types
        .iter()
        .map(|type_| {
            let parent = status::ParentRef::gateway(&gateway.namespace, &gateway.name);
            let summary =
                status::route_condition(kind, &key.namespace, &key.name, parent, type_, reports);
            (*type_, summary)
        })
        .collect();
    let wanted: Vec<(&str, bool, &str, String)> = summaries
        .iter()
        .map(|(type_, s)| s.condition(type_))
        .collect();
    let conditions = conditions(
        &previous,
        policy["metadata"]["generation"].as_i64(),
        &wanted,
    );
    let entry = json!({"ancestorRef": ancestor_ref, "controllerName": CONTROLLER_NAME, "conditions": conditions});
    put_entries(ctx, &ANCESTORS, parents, policy, vec![entry]).await
}

/// A list in an object's status where each controller keeps an entry per
/// parent: routes' `status.parents`, policies' `status.ancestors`.
struct StatusList {
    /// The list's field in `status`.
    field: &'static str,
    /// The field of an entry naming the parent.
    reference: &'static str,
    /// How many entries the API allows.
    max: usize,
}

const PARENTS: StatusList = StatusList {
    field: "parents",
    reference: "parentRef",
    max: 32,
};
const ANCESTORS: StatusList = StatusList {
    field: "ancestors",
    reference: "ancestorRef",
    max: 16,
};

/// Whether a status entry is the hub's for the Gateway or one of its
/// ListenerSets.
fn is_ours(list: &StatusList, parents: &Parents, entry: &Value) -> bool {
    let parent = &entry[list.reference];
    let named = |key: &ObjectKey| {
        parent["namespace"] == key.namespace.as_str() && parent["name"] == key.name.as_str()
    };
    entry["controllerName"] == CONTROLLER_NAME
        && match parent["kind"].as_str() {
            Some("Gateway") => named(&parents.gateway),
            Some("ListenerSet") => parents.listener_sets.iter().any(named),
            _ => false,
        }
}

/// The object's status list with the hub's entries for the Gateway replaced
/// by `entries`, every other parent's kept; `None` when the list already
/// says that (transition times aside).
fn merged_entries(
    list: &StatusList,
    parents: &Parents,
    object: &Value,
    entries: &[Value],
) -> Option<Vec<Value>> {
    let current = object["status"][list.field]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let ours = |e: &&Value| is_ours(list, parents, e);
    let before: Vec<&Value> = current.iter().filter(ours).collect();
    let said = |entry: &Value| {
        before.iter().any(|b| {
            b[list.reference] == entry[list.reference]
                && serde_json::from_value::<Vec<Condition>>(entry["conditions"].clone())
                    .is_ok_and(|c| same_conditions(&b["conditions"], &c))
        })
    };
    if before.len() == entries.len() && entries.iter().all(said) {
        return None;
    }
    // Ours first: the entries the API allows never drop one of them (which
    // would make every pass rewrite the list).
    let mut updated = entries.to_vec();
    updated.extend(current.iter().filter(|e| !ours(e)).cloned());
    updated.truncate(list.max);
    Some(updated)
}

/// Replaces the hub's entries for the Gateway in the object's status list
/// with `entries`, keeping every other parent's; writes nothing when
/// nothing changed.
async fn put_entries(
    ctx: &Context,
    list: &StatusList,
    parents: &Parents,
    object: &Value,
    entries: Vec<Value>,
) -> Result<(), Error> {
    let kind = object["kind"].as_str().unwrap_or_default();
    let object_key = ObjectKey::of(object);
    let what = || format!("{kind} {}/{}", object_key.namespace, object_key.name);
    let group = object["apiVersion"]
        .as_str()
        .and_then(|v| v.split_once('/'))
        .map(|(group, _)| group)
        .unwrap_or_default();
    let Some(resource) = ctx
        .routes
        .iter()
        .chain(&ctx.policies)
        .find(|r| r.kind == kind && r.group == group)
    else {
        return Ok(()); // Listed from these kinds: cannot happen.
    };
    let api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &object_key.namespace, resource);
    let mut object = Cow::Borrowed(object);
    // The index's copy may lag this controller's own last write (or another
    // controller's): a conflict is answered by one fresh read and merge.
    for attempt in 0..2 {
        let Some(updated) = merged_entries(list, parents, &object, &entries) else {
            return Ok(());
        };
        // Optimistic: the resourceVersion makes a concurrent writer's change
        // fail this patch instead of being overwritten.
        let patch = json!({"metadata": {"resourceVersion": object["metadata"]["resourceVersion"]},
                           "status": {list.field: updated}});
        match api
            .patch_status(
                &object_key.name,
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Err(kube::Error::Api(response)) if response.code == 409 && attempt == 0 => {
                let fresh = api
                    .get_status(&object_key.name)
                    .await
                    .map_err(api_error("reading", what()))?;
                object = Cow::Owned(serde_json::to_value(fresh).unwrap_or_default());
            }
            result => {
                result.map_err(api_error("writing status of", what()))?;
                return Ok(());
            }
        }
    }
    Ok(())
}

async fn write_policy_status(
    client: &Client,
    policy: &PlacementPolicy,
    decisions: &[placement::Decision],
) -> Result<(), Error> {
    let decisions: Vec<Value> = decisions
        .iter()
        .map(|d| json!({"clusterName": d.cluster, "gatewayClassName": d.gateway_class}))
        .collect();
    let current =
        serde_json::to_value(policy.status.as_ref().map(|s| &s.decisions)).unwrap_or_default();
    if current == Value::Array(decisions.clone()) || (current.is_null() && decisions.is_empty()) {
        return Ok(());
    }
    crate::apply_status(client, policy, json!({"decisions": decisions})).await
}

#[cfg(test)]
mod tests {
    use fedway_crds::work::{DeletionPolicy, TakeoverPolicy};

    use super::*;

    fn work(spec: &WorkSpec, uid: &str, gateway: &str) -> Work {
        let mut w = Work::new("web.shop", spec.clone());
        w.metadata.labels = Some([(GATEWAY_UID_LABEL.to_owned(), uid.to_owned())].into());
        w.metadata.annotations = Some([(GATEWAY_ANNOTATION.to_owned(), gateway.to_owned())].into());
        w
    }

    /// The hub's entries replace its old ones for the Gateway, other
    /// parents' entries stay, and an unchanged list (transition times aside)
    /// is not written: also when compared with a fresh read after a 409.
    #[test]
    fn status_entries_merge_with_other_parents() {
        let parents = Parents::gateway(ObjectKey {
            namespace: "web".into(),
            name: "shop".into(),
        });
        let condition = |status: &str, time: &str| {
            json!({"type": "Accepted", "status": status, "reason": "Accepted",
                   "message": "", "observedGeneration": 1, "lastTransitionTime": time})
        };
        let entry =
            |controller: &str, name: &str, section: Option<&str>, status: &str, time: &str| {
                let mut parent = json!({"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                    "namespace": "web", "name": name});
                if let Some(section) = section {
                    parent["sectionName"] = json!(section);
                }
                json!({"parentRef": parent, "controllerName": controller,
                   "conditions": [condition(status, time)]})
            };
        let ours = |section, status| {
            entry(
                CONTROLLER_NAME,
                "shop",
                section,
                status,
                "2026-01-01T00:00:00Z",
            )
        };
        let traefik = entry(
            "traefik.io/gateway-controller",
            "shop",
            None,
            "True",
            "2026-01-01T00:00:00Z",
        );
        let other_gateway = entry(
            CONTROLLER_NAME,
            "other",
            None,
            "True",
            "2026-01-01T00:00:00Z",
        );
        let route = |list: Vec<Value>| json!({"status": {"parents": list}});
        let later = entry(
            CONTROLLER_NAME,
            "shop",
            None,
            "True",
            "2026-02-02T00:00:00Z",
        );
        /// A case: its name, the object, the hub's entries, the list written.
        type Case = (&'static str, Value, Vec<Value>, Option<Vec<Value>>);
        let cases: Vec<Case> = vec![
            (
                "unchanged",
                route(vec![traefik.clone(), ours(None, "True")]),
                vec![later.clone()],
                None,
            ),
            (
                "no status yet",
                json!({}),
                vec![ours(None, "True")],
                Some(vec![ours(None, "True")]),
            ),
            (
                "changed: ours first, others kept",
                route(vec![
                    traefik.clone(),
                    ours(None, "True"),
                    other_gateway.clone(),
                ]),
                vec![ours(None, "False")],
                Some(vec![
                    ours(None, "False"),
                    traefik.clone(),
                    other_gateway.clone(),
                ]),
            ),
            (
                "a section no longer named is dropped",
                route(vec![ours(Some("a"), "True"), ours(Some("b"), "True")]),
                vec![ours(Some("a"), "True")],
                Some(vec![ours(Some("a"), "True")]),
            ),
            (
                "a new section is added",
                route(vec![ours(Some("a"), "True")]),
                vec![ours(Some("a"), "True"), ours(Some("b"), "True")],
                Some(vec![ours(Some("a"), "True"), ours(Some("b"), "True")]),
            ),
        ];
        for (name, object, entries, want) in cases {
            assert_eq!(
                merged_entries(&PARENTS, &parents, &object, &entries),
                want,
                "{name}"
            );
        }
        let many: Vec<Value> = (0..40)
            .map(|i| {
                entry(
                    "other.example/controller",
                    &format!("g{i}"),
                    None,
                    "True",
                    "t",
                )
            })
            .collect();
        let merged = merged_entries(&PARENTS, &parents, &route(many), &[ours(None, "True")])
            .expect("changed");
        assert_eq!(merged.len(), PARENTS.max, "the API's maximum");
        assert_eq!(merged[0], ours(None, "True"), "ours never dropped");
    }

    /// A Work is rewritten only when what the hub would write differs.
    #[test]
    fn works_are_written_only_when_they_would_change() {
        let manifest = |port: u16| {
            serde_json::from_value(json!({"apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "Gateway", "metadata": {"name": "shop", "namespace": "web"},
                "spec": {"listeners": [{"name": "http", "port": port}]}}))
            .expect("manifest")
        };
        let spec = WorkSpec {
            manifests: vec![manifest(80)],
            takeover: TakeoverPolicy::default(),
            deletion_policy: DeletionPolicy::default(),
            secrets: vec![],
            withheld: vec![],
        };
        let current = work(&spec, "uid-1", "web/shop");
        assert!(work_up_to_date(Some(&current), "uid-1", "web/shop", &spec));
        assert!(
            !work_up_to_date(None, "uid-1", "web/shop", &spec),
            "missing"
        );
        assert!(
            !work_up_to_date(Some(&current), "uid-2", "web/shop", &spec),
            "a recreated Gateway (new uid)"
        );
        let changed = WorkSpec {
            manifests: vec![manifest(8080)],
            ..spec.clone()
        };
        assert!(!work_up_to_date(
            Some(&current),
            "uid-1",
            "web/shop",
            &changed
        ));
        let never = WorkSpec {
            takeover: TakeoverPolicy::Never,
            ..spec
        };
        assert!(!work_up_to_date(
            Some(&current),
            "uid-1",
            "web/shop",
            &never
        ));
    }
}
