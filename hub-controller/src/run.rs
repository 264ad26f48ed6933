//! Wiring of the hub: leader election, then the GatewayClass, Gateway,
//! global DNS and member-health loops, until shutdown or lost leadership.

use std::{future::Future, sync::Arc};

use fedway_crds::group_kind::GroupKind;
use fedway_runtime::mirror::Change;
use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, Client, ResourceExt,
    api::{DynamicObject, Patch, PatchParams},
    runtime::{
        Controller,
        controller::{self, Action},
        events::{Recorder, Reporter},
        watcher,
    },
};
use serde_json::json;
use tokio::sync::Notify;

use crate::{
    Error, FIELD_MANAGER, api_error, dns,
    gateways::{self, CONTROLLER_NAME, Context},
    index::{Gateways, Index},
    leader::{self, LeaderConfig},
    member_health,
    metrics::HubMetrics,
    route_kinds,
};

/// Gateways reconciled at once.
const RECONCILES_AT_ONCE: u16 = 8;

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
    tasks.spawn(accept_classes(client.clone()));
    let routes = route_kinds::served(&client).await?;
    tracing::info!(kinds = ?routes.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>(), "route kinds federated");
    let policies = route_kinds::served_policies(&client, policy_kinds).await?;
    let listener_sets = route_kinds::served_listener_sets(&client).await?;
    tracing::info!(kinds = ?policies.iter().map(|r| format!("{}.{}", r.kind, r.group)).collect::<Vec<_>>(), "policy kinds federated");
    // One watch per kind, shared: a change reconciles the Gateways it
    // concerns and, when DNS reads the kind, wakes global DNS.
    let (index, changes) = Index::watch(&client, &routes, &policies, listener_sets.as_ref());
    tasks.spawn(member_health::run(
        client.clone(),
        recorder.clone(),
        metrics.clone(),
        index.members.clone(),
    ));
    let dns_changed = Arc::new(Notify::new());
    tasks.spawn(dns::run(
        client.clone(),
        metrics.clone(),
        index.clone(),
        dns_changed.clone(),
    ));
    let triggers = {
        let index = index.clone();
        changes.flat_map(move |change| {
            let gateways = match change {
                Change::Touched(affected) => {
                    if affected.dns {
                        dns_changed.notify_one();
                    }
                    index.gateway_refs(affected.gateways)
                }
                Change::Listed => {
                    dns_changed.notify_one();
                    index.gateway_refs(Gateways::All)
                }
                Change::Failed(error) => {
                    tracing::debug!(%error, "a hub watch failed; retrying");
                    Vec::new()
                }
            };
            stream::iter(gateways)
        })
    };
    // The controller's queue holds each Gateway once however often it is
    // triggered, so a storm of member flips costs at most one more
    // reconcile per Gateway concerned; reconciles run side by side up to a
    // bound, and a Gateway never twice at once.
    Controller::for_stream_with(
        stream::pending(),
        index.gateways.clone(),
        gateways::gateways(),
    )
    .with_config(controller::Config::default().concurrency(RECONCILES_AT_ONCE))
    .reconcile_on(triggers)
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
            index,
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

/// Applies the lease's namespace when it is missing: read first, so that
/// a restart writes nothing.
async fn ensure_namespace(client: &Client, name: &str) -> Result<(), Error> {
    let api = Api::<Namespace>::all(client.clone());
    if api
        .get_opt(name)
        .await
        .map_err(api_error("reading", format!("Namespace {name}")))?
        .is_some()
    {
        return Ok(());
    }
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER),
        &Patch::Apply(&namespace),
    )
    .await
    .map_err(api_error("ensuring", format!("Namespace {name}")))?;
    Ok(())
}
