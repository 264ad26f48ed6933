//! Wiring: the Work controller (watching Works in the hub and Fedway's
//! objects in the member, so drift is corrected from watches within
//! seconds), the heartbeat, and the sweep of objects whose Work is gone.

use std::{collections::BTreeSet, future::Future, sync::Arc, time::Duration};

use fedway_crds::work::Work;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, Client, ResourceExt,
    api::{DynamicObject, ListParams, PartialObjectMeta},
    core::ApiResource,
    runtime::{
        Controller, WatchStreamExt,
        reflector::{self, ObjectRef},
        watcher,
    },
};
use tokio::sync::Notify;

use crate::{
    Error, heartbeat, hub_error,
    member::Cluster,
    member_error,
    metrics::AgentMetrics,
    reconcile::{self, Context},
    shared,
    takeover::{MANAGED_LABEL, MANAGED_VALUE, WORK_ANNOTATION},
    triggers,
};

/// How often objects whose Work is gone are looked for when no Work was
/// seen deleted: a Work deleted while the agent was away, or whose delete
/// event a relisting watch folded away, is swept within this. A Work the
/// watch sees deleted is swept at once.
const SWEEP_EVERY: Duration = Duration::from_secs(300);

/// Runs the agent of the member `cluster` until `shutdown` resolves: the
/// Work controller, triggered by the hub's Works and certificate copies
/// and by Fedway's objects in the member (drift is corrected from watches
/// within seconds), the heartbeat, and the sweep of objects whose Work is
/// gone.
pub async fn run(
    hub: Client,
    cluster: Arc<Cluster>,
    name: String,
    metrics: Arc<AgentMetrics>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), Error> {
    let ctx = Context::new(hub, cluster.clone(), name, metrics);
    let managed = cluster.kinds.managed().await?;
    tracing::info!(
        cluster = ctx.cluster,
        hub_namespace = ctx.namespace,
        kinds = ?managed.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>(),
        "agent starting"
    );
    serve(ctx, Some((cluster, managed)), shutdown).await
}

/// Runs the agent's hub side (the Work controller and the heartbeat) for a
/// member that `ctx.member` simulates: no member watches, no sweep. For
/// the fleet bench, so the hub sees a thousand agents' traffic.
pub async fn run_simulated(
    ctx: Context,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), Error> {
    serve(ctx, None, shutdown).await
}

async fn serve(
    mut ctx: Context,
    member: Option<(Arc<Cluster>, Vec<ApiResource>)>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), Error> {
    // Every watch through `triggers::isolated`: a hub that is down must not
    // delay the member's watches (drift is corrected without the hub).
    let works: Api<Work> = Api::namespaced(ctx.hub.clone(), &ctx.namespace);
    let (work_store, writer) = reflector::store();
    // The reconciler reads every Work from it: objects two Works carry are
    // merged (`shared`).
    ctx.works = work_store.clone();
    let ctx = Arc::new(ctx);
    // A deleted Work (or a relist, which may fold a delete away) wakes the
    // sweep.
    let work_gone = Arc::new(Notify::new());
    let (gone, forget) = (work_gone.clone(), ctx.clone());
    let work_events = triggers::isolated(
        "hub Works".into(),
        watcher(works, watcher::Config::default()),
    )
    .inspect(move |event| match event {
        Ok(watcher::Event::Delete(work)) => {
            if let Ok(mut applied) = forget.applied.lock() {
                applied.remove(&work.name_any());
            }
            gone.notify_one();
        }
        Ok(watcher::Event::InitDone) => gone.notify_one(),
        _ => {}
    });
    let mut controller = Controller::for_stream(
        work_events.reflect(writer).applied_objects(),
        work_store.clone(),
    );
    // The hub's copies of the listeners' certificates, in this member's hub
    // namespace: a renewal there reaches the member within a watch event.
    let secrets = watcher(
        Api::<PartialObjectMeta<Secret>>::namespaced(ctx.hub.clone(), &ctx.namespace),
        watcher::Config::default(),
    );
    controller = controller.watches_stream(
        triggers::isolated("hub Secrets".into(), secrets).touched_objects(),
        move |secret| {
            let name = secret.name_any();
            work_store
                .state()
                .into_iter()
                .filter(|work| work.spec.secrets.iter().any(|copy| copy.from == name))
                .map(|work| ObjectRef::from_obj(work.as_ref()))
                .collect::<Vec<_>>()
        },
    );
    if let Some((cluster, managed)) = &member {
        let selector = format!("{MANAGED_LABEL}={MANAGED_VALUE}");
        for resource in managed {
            let api: Api<DynamicObject> = Api::all_with(cluster.client.clone(), resource);
            let namespace = ctx.namespace.clone();
            let events = watcher(api, watcher::Config::default().labels(&selector));
            controller = controller.watches_stream_with(
                triggers::isolated(format!("member {}", resource.plural), events).touched_objects(),
                move |object: DynamicObject| {
                    object
                        .annotations()
                        .get(WORK_ANNOTATION)
                        .into_iter()
                        .flat_map(|works| shared::works_of(works))
                        .map(|work| ObjectRef::<Work>::new(work).within(&namespace))
                        .collect::<Vec<_>>()
                },
                resource.clone(),
            );
        }
    }

    // Stopped with the agent, however it stops (a cancelled agent must not
    // keep renewing its lease).
    let mut tasks = fedway_runtime::Tasks::default();
    let heartbeat_ctx = ctx.clone();
    tasks.spawn(async move { heartbeat::run(&heartbeat_ctx).await });
    if let Some((cluster, managed)) = member {
        let sweep_ctx = ctx.clone();
        tasks.spawn(async move { sweep_forever(&sweep_ctx, &cluster, &managed, &work_gone).await });
    }

    controller
        .graceful_shutdown_on(shutdown)
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "controller event");
            }
        })
        .await;
    drop(tasks);
    Ok(())
}

fn is_conflict(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 409)
}

async fn sweep_forever(
    ctx: &Context,
    cluster: &Cluster,
    managed: &[ApiResource],
    work_gone: &Notify,
) {
    loop {
        let settled = match sweep(ctx, cluster, managed).await {
            Ok(settled) => settled,
            Err(error) => {
                tracing::warn!(%error, "sweeping objects of deleted Works failed");
                false
            }
        };
        if settled {
            let _ = tokio::time::timeout(SWEEP_EVERY, work_gone.notified()).await;
        } else {
            tokio::time::sleep(SWEEP_RETRY).await;
        }
    }
}

/// The pause before a sweep that failed, or left objects changed since it
/// listed them, is tried again.
const SWEEP_RETRY: Duration = Duration::from_secs(5);

/// Deletes (or releases, per their annotations) Fedway's objects whose Work
/// no longer exists in the hub. Only a successful list of the Works counts
/// as the truth: with the hub unreachable, nothing is swept.
///
/// The member's objects are listed before the Works: an object is applied
/// only after its Work exists, so every object listed has its Work in the
/// later list unless that Work was really deleted. (Listing the Works first
/// would sweep an object applied for a Work created between the two lists.)
///
/// Returns whether every object was decided: false when some changed since
/// they were listed.
async fn sweep(ctx: &Context, cluster: &Cluster, managed: &[ApiResource]) -> Result<bool, Error> {
    let selector = format!("{MANAGED_LABEL}={MANAGED_VALUE}");
    let mut candidates = Vec::new();
    let mut settled = true;
    for resource in managed {
        let all: Api<DynamicObject> = Api::all_with(cluster.client.clone(), resource);
        let objects = all
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(member_error("listing", resource.kind.clone()))?;
        candidates.extend(objects.into_iter().map(|object| (resource, object)));
    }
    let works: Api<Work> = Api::namespaced(ctx.hub.clone(), &ctx.namespace);
    let existing: BTreeSet<String> = works
        .list_metadata(&ListParams::default())
        .await
        .map_err(hub_error("listing", format!("Works in {}", ctx.namespace)))?
        .into_iter()
        .map(|w| w.name_any())
        .collect();
    for (resource, object) in candidates {
        let Some(works) = object.annotations().get(WORK_ANNOTATION) else {
            continue;
        };
        let (left, gone): (Vec<&str>, Vec<&str>) =
            shared::works_of(works).partition(|work| existing.contains(*work));
        if gone.is_empty() {
            continue;
        }
        let name = object.name_any();
        let api: Api<DynamicObject> = match object.namespace() {
            Some(ns) => Api::namespaced_with(cluster.client.clone(), &ns, resource),
            None => Api::all_with(cluster.client.clone(), resource),
        };
        let what = format!(
            "{} {}/{name} (Work {} is gone)",
            resource.kind,
            object.namespace().unwrap_or_default(),
            gone.join(", ")
        );
        let live = serde_json::to_value(&object).unwrap_or_default();
        match cluster.hand_over(&api, &name, &live, &left, &what).await {
            // Changed since it was listed (a Work that stays took it over
            // meanwhile, or the member wrote its status): the next sweep
            // decides on what it is then.
            Err(Error::Member { source, .. }) if is_conflict(&source) => {
                tracing::debug!(object = what, "changed since listed; swept again");
                settled = false;
            }
            result => result?,
        }
    }
    Ok(settled)
}
