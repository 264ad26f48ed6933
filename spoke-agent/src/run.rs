//! Wiring: the Work controller (watching Works in the hub and Fedway's
//! objects in the member, so drift is corrected from watches within
//! seconds), the heartbeat, and the sweep of objects whose Work is gone.

use std::{collections::BTreeSet, future::Future, sync::Arc, time::Duration};

use fedway_crds::work::Work;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, ResourceExt,
    api::{DynamicObject, ListParams, PartialObjectMeta},
    runtime::{
        Controller, WatchStreamExt,
        reflector::{self, ObjectRef},
        watcher,
    },
};

use crate::{
    Error, heartbeat, hub_error, member_error,
    reconcile::{self, Context},
    shared,
    takeover::{MANAGED_LABEL, MANAGED_VALUE, WORK_ANNOTATION},
    triggers,
};

/// How often objects whose Work is gone are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// Runs the agent until `shutdown` resolves.
pub async fn run(
    mut ctx: Context,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), Error> {
    let managed = ctx.kinds.managed().await?;
    tracing::info!(
        cluster = ctx.cluster,
        hub_namespace = ctx.namespace,
        kinds = ?managed.iter().map(|r| r.kind.as_str()).collect::<Vec<_>>(),
        "agent starting"
    );
    // Every watch through `triggers::isolated`: a hub that is down must not
    // delay the member's watches (drift is corrected without the hub).
    let works: Api<Work> = Api::namespaced(ctx.hub.clone(), &ctx.namespace);
    let (work_store, writer) = reflector::store();
    // The reconciler reads every Work from it: objects two Works carry are
    // merged (`shared`).
    ctx.works = work_store.clone();
    let ctx = Arc::new(ctx);
    let work_events = watcher(works, watcher::Config::default());
    let mut controller = Controller::for_stream(
        triggers::isolated("hub Works".into(), work_events)
            .reflect(writer)
            .applied_objects(),
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
    let selector = format!("{MANAGED_LABEL}={MANAGED_VALUE}");
    for resource in &managed {
        let api: Api<DynamicObject> = Api::all_with(ctx.member.clone(), resource);
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

    // Stopped with the agent, however it stops (a cancelled agent must not
    // keep renewing its lease).
    let mut tasks = fedway_runtime::Tasks::default();
    let heartbeat_ctx = ctx.clone();
    tasks.spawn(async move { heartbeat::run(&heartbeat_ctx).await });
    let sweep_ctx = ctx.clone();
    tasks.spawn(async move { sweep_forever(&sweep_ctx, &managed).await });

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

async fn sweep_forever(ctx: &Context, managed: &[kube::core::ApiResource]) {
    loop {
        if let Err(error) = sweep(ctx, managed).await {
            tracing::warn!(%error, "sweeping objects of deleted Works failed");
        }
        tokio::time::sleep(SWEEP_EVERY).await;
    }
}

/// Deletes (or releases, per their annotations) Fedway's objects whose Work
/// no longer exists in the hub. Only a successful list of the Works counts
/// as the truth: with the hub unreachable, nothing is swept.
///
/// The member's objects are listed before the Works: an object is applied
/// only after its Work exists, so every object listed has its Work in the
/// later list unless that Work was really deleted. (Listing the Works first
/// would sweep an object applied for a Work created between the two lists.)
async fn sweep(ctx: &Context, managed: &[kube::core::ApiResource]) -> Result<(), Error> {
    let selector = format!("{MANAGED_LABEL}={MANAGED_VALUE}");
    let mut candidates = Vec::new();
    for resource in managed {
        let all: Api<DynamicObject> = Api::all_with(ctx.member.clone(), resource);
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
            Some(ns) => Api::namespaced_with(ctx.member.clone(), &ns, resource),
            None => Api::all_with(ctx.member.clone(), resource),
        };
        let what = format!(
            "{} {}/{name} (Work {} is gone)",
            resource.kind,
            object.namespace().unwrap_or_default(),
            gone.join(", ")
        );
        let live = serde_json::to_value(&object).unwrap_or_default();
        match reconcile::hand_over(ctx, &api, &name, &live, &left, &what).await {
            // Changed since it was listed (a Work that stays took it over
            // meanwhile): the next sweep decides on what it is then.
            Err(Error::Member { source, .. }) if is_conflict(&source) => {
                tracing::debug!(
                    object = what,
                    "changed since listed; left to the next sweep"
                );
            }
            result => result?,
        }
    }
    Ok(())
}
