//! Wiring of the hub: leader election, then the GatewayClass, Gateway,
//! global DNS and member-health loops, until shutdown or lost leadership.

use std::{future::Future, sync::Arc};

use fedway_crds::{DNSZone, MemberCluster, PlacementPolicy, Work, group_kind::GroupKind};
use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::{
    Api, Client, ResourceExt,
    api::{DynamicObject, PartialObjectMeta, Patch, PatchParams},
    core::ApiResource,
    runtime::{
        Controller, WatchStreamExt,
        controller::Action,
        events::{Recorder, Reporter},
        reflector::{self, ObjectRef, Store},
        watcher,
    },
};
use serde_json::json;

use crate::{
    Error, FIELD_MANAGER, api_error, dns,
    gateways::{self, CONTROLLER_NAME, Context, GATEWAY_ANNOTATION},
    leader::{self, LeaderConfig},
    listener_certificates, member_health,
    metrics::HubMetrics,
    policy_attachment, route_kinds,
    work_builder::{self, ObjectKey},
};

/// Runs the hub until `shutdown` resolves (Ok) or leadership is lost (Err).
pub async fn run(
    client: Client,
    leader: LeaderConfig,
    policy_kinds: &[GroupKind],
    metrics: Arc<HubMetrics>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), Error> {
    ensure_namespace(&client, &leader.namespace).await?;
    // A replica waiting for the lease still stops when asked to.
    let mut shutdown = Box::pin(shutdown);
    let held_since = tokio::select! {
        acquired = leader::acquire(&client, &leader) => acquired,
        () = &mut shutdown => return Ok(()),
    };

    metrics.leader.set(1);
    // The lease is renewed from the moment it is won, beside everything
    // the leader does; losing it drops `lead`, which stops every writer.
    let outcome = tokio::select! {
        led = lead(client.clone(), &leader.identity, policy_kinds, metrics.clone(), shutdown) => led,
        lost = leader::hold(&client, &leader, held_since) => Err(lost),
    };
    metrics.leader.set(0);
    outcome
}

/// What the leader runs: member health, GatewayClass acceptance, global
/// DNS and the Gateway controller, until `shutdown`.
async fn lead(
    client: Client,
    identity: &str,
    policy_kinds: &[GroupKind],
    metrics: Arc<HubMetrics>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), Error> {
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: "fedway-hub".into(),
            instance: Some(identity.to_owned()),
        },
    );
    // Stopped with the leader: dropping `lead` aborts them.
    let mut tasks = fedway_runtime::Tasks::default();
    tasks.spawn(member_health::run(
        client.clone(),
        recorder.clone(),
        metrics.clone(),
    ));
    tasks.spawn(accept_classes(client.clone()));
    let routes = route_kinds::served(&client).await?;
    tracing::info!(kinds = ?routes.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>(), "route kinds federated");
    let policies = route_kinds::served_policies(&client, policy_kinds).await?;
    let listener_sets = route_kinds::served_listener_sets(&client).await?;
    tracing::info!(kinds = ?policies.iter().map(|r| format!("{}.{}", r.kind, r.group)).collect::<Vec<_>>(), "policy kinds federated");
    tasks.spawn(dns::run(
        client.clone(),
        metrics.clone(),
        routes.clone(),
        listener_sets.clone(),
    ));
    gateway_controller(client.clone(), &routes, &policies, listener_sets.as_ref())
        .graceful_shutdown_on(shutdown)
        .run(
            gateways::reconcile,
            gateways::error_policy,
            Arc::new(Context {
                client,
                recorder,
                metrics,
                routes,
                policies,
                listener_sets,
            }),
        )
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "gateway controller event");
            }
        })
        .await;
    Ok(())
}

fn gateway_controller(
    client: Client,
    routes: &[ApiResource],
    policies: &[ApiResource],
    listener_sets: Option<&ApiResource>,
) -> Controller<DynamicObject> {
    let config = watcher::Config::default;
    let all = |resource: &kube::core::ApiResource| {
        Api::<DynamicObject>::all_with(client.clone(), resource)
    };
    // Anything that can change every Gateway's placement or status.
    let everything = stream::select_all([
        watcher(Api::<MemberCluster>::all(client.clone()), config())
            .touched_objects()
            .map(drop)
            .boxed(),
        watcher(Api::<DNSZone>::all(client.clone()), config())
            .touched_objects()
            .map(drop)
            .boxed(),
        watcher(all(&gateways::reference_grants()), config())
            .touched_objects()
            .map(drop)
            .boxed(),
        watcher(all(&gateways::gateway_classes()), config())
            .touched_objects()
            .map(drop)
            .boxed(),
    ]);
    let controller =
        Controller::new_with(all(&gateways::gateways()), config(), gateways::gateways());
    // Secrets by metadata only (the hub holds no keys in memory): a change to
    // one a listener references, or to one of the hub's copies, reconciles
    // the Gateways concerned.
    let gateway_store = controller.store();
    let mut controller = controller;
    // ListenerSets, kept in a store: a route attached to one reconciles the
    // set's Gateway.
    let set_resource = listener_sets
        .cloned()
        .unwrap_or_else(|| gateways::resource("ListenerSet", "v1", "listenersets"));
    let set_writer = reflector::store::Writer::new(set_resource.clone());
    let set_store = set_writer.as_reader();
    if listener_sets.is_some() {
        let events = watcher(all(&set_resource), config())
            .reflect(set_writer)
            .touched_objects();
        controller = controller.watches_stream_with(
            events,
            |set| set_gateway(&set).into_iter().collect::<Vec<_>>(),
            set_resource.clone(),
        );
    }
    for resource in routes {
        let (set_store, set_resource) = (set_store.clone(), set_resource.clone());
        controller =
            controller.watches_with(all(resource), resource.clone(), config(), move |route| {
                parents_of((&set_store, &set_resource), route)
            });
    }
    // Policies (kept in stores: a CA ConfigMap's change is found through
    // the policies — or the Gateways' frontend validation — that name it).
    let mut policy_stores = Vec::new();
    for resource in policies {
        let writer = reflector::store::Writer::new(resource.clone());
        policy_stores.push(writer.as_reader());
        let events = watcher(all(resource), config())
            .reflect(writer)
            .touched_objects();
        let gateway_store = gateway_store.clone();
        controller = controller.watches_stream_with(
            events,
            move |policy| gateways_of_policy(&gateway_store, &policy),
            resource.clone(),
        );
    }
    let config_map_gateways = gateway_store.clone();
    controller = controller.watches(
        Api::<PartialObjectMeta<ConfigMap>>::all(client.clone()),
        config(),
        move |config_map| {
            let key = ObjectKey {
                namespace: config_map.namespace().unwrap_or_default(),
                name: config_map.name_any(),
            };
            let mut concerned: Vec<ObjectRef<DynamicObject>> = config_map_gateways
                .state()
                .iter()
                .filter(|gateway| {
                    let value = serde_json::to_value(gateway.as_ref()).unwrap_or_default();
                    work_builder::frontend_ca_config_maps(&value).contains(&key)
                })
                .map(|gateway| ObjectRef::from_obj_with(gateway.as_ref(), gateways::gateways()))
                .collect();
            concerned.extend(
                policy_stores
                    .iter()
                    .flat_map(|store| store.state())
                    .filter(|policy| {
                        let value = serde_json::to_value(policy.as_ref()).unwrap_or_default();
                        policy_attachment::config_maps(&[&value]).contains(&key)
                    })
                    .flat_map(|policy| gateways_of_policy(&config_map_gateways, &policy)),
            );
            concerned
        },
    );
    controller
        .watches(
            Api::<PartialObjectMeta<Secret>>::all(client.clone()),
            config(),
            move |secret| gateways_of_secret(&gateway_store, &secret),
        )
        .watches(
            Api::<PlacementPolicy>::all(client.clone()),
            config(),
            |policy| {
                let namespace = policy.namespace().unwrap_or_default();
                policy.spec.target_refs.into_iter().map(move |t| {
                    ObjectRef::new_with(&t.name, gateways::gateways()).within(&namespace)
                })
            },
        )
        .watches(Api::<Work>::all(client.clone()), config(), |work| {
            let (namespace, name) = work
                .annotations()
                .get(GATEWAY_ANNOTATION)?
                .split_once('/')?;
            Some(ObjectRef::new_with(name, gateways::gateways()).within(namespace))
        })
        .reconcile_all_on(everything)
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
        return vec![ObjectRef::new_with(name, gateways::gateways()).within(namespace)];
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
        .map(|gateway| ObjectRef::from_obj_with(gateway.as_ref(), gateways::gateways()))
        .collect()
}

/// The Gateways a policy concerns: the one it targets, or (targeting a
/// route or Service) every Gateway — a needless reconcile changes nothing.
fn gateways_of_policy(
    store: &Store<DynamicObject>,
    policy: &DynamicObject,
) -> Vec<ObjectRef<DynamicObject>> {
    let value = serde_json::to_value(policy).unwrap_or_default();
    let targeted = policy_attachment::targeted_gateways(&value);
    let only_gateways = targeted.len()
        == value["spec"]["targetRefs"].as_array().map_or(
            usize::from(value["spec"]["targetRef"].is_object()),
            Vec::len,
        );
    if only_gateways {
        return targeted
            .into_iter()
            .map(|g| ObjectRef::new_with(&g.name, gateways::gateways()).within(&g.namespace))
            .collect();
    }
    store
        .state()
        .iter()
        .map(|gateway| ObjectRef::from_obj_with(gateway.as_ref(), gateways::gateways()))
        .collect()
}

/// The Gateways a route names as parents, directly or through a
/// ListenerSet.
fn parents_of(
    (listener_sets, set_resource): (&Store<DynamicObject>, &ApiResource),
    route: DynamicObject,
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
                "Gateway" => Some(ObjectRef::new_with(name, gateways::gateways()).within(ns)),
                "ListenerSet" => {
                    let key = ObjectRef::new_with(name, set_resource.clone()).within(ns);
                    set_gateway(listener_sets.get(&key)?.as_ref())
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
    Some(ObjectRef::new_with(parent["name"].as_str()?, gateways::gateways()).within(ns))
}

/// Marks every GatewayClass of controller `fedway.dev/hub` Accepted.
async fn accept_classes(client: Client) {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &gateways::gateway_classes());
    Controller::new_with(api.clone(), watcher::Config::default(), gateways::gateway_classes())
        .run(
            move |class: Arc<DynamicObject>, api: Arc<Api<DynamicObject>>| async move {
                if class.data["spec"]["controllerName"] != CONTROLLER_NAME {
                    return Ok::<_, Error>(Action::await_change());
                }
                let accepted = class.data["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Accepted" && c["status"] == "True" && c["observedGeneration"] == json!(class.metadata.generation));
                if !accepted {
                    let status = json!({
                        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
                        "status": {"conditions": [{
                            "type": "Accepted", "status": "True", "reason": "Accepted",
                            "message": "Fedway's hub places Gateways of this class into member clusters",
                            "observedGeneration": class.metadata.generation,
                            "lastTransitionTime": k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now()),
                        }]},
                    });
                    api.patch_status(&class.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&status))
                        .await
                        .map_err(api_error("accepting", format!("GatewayClass {}", class.name_any())))?;
                }
                Ok(Action::await_change())
            },
            |_, error, _| {
                tracing::warn!(%error, "accepting a GatewayClass failed; retrying");
                Action::requeue(std::time::Duration::from_secs(2))
            },
            Arc::new(api),
        )
        .for_each(|_| async {})
        .await;
}

async fn ensure_namespace(client: &Client, name: &str) -> Result<(), Error> {
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    Api::<Namespace>::all(client.clone())
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER),
            &Patch::Apply(&namespace),
        )
        .await
        .map_err(api_error("ensuring", format!("Namespace {name}")))?;
    Ok(())
}
