//! The member cluster as the agent's Work reconciler and heartbeat use it:
//! apply one object, prune one, say what the member is. [`Cluster`] is a
//! member's API server; the fleet bench (`fedway-e2e`) puts simulated
//! members behind the same trait, so the hub sees the traffic of a
//! thousand agents running this crate's own reconciler and heartbeat
//! without a thousand API servers.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use fedway_crds::{
    group_kind::GroupKind,
    member_cluster::DiscoveredGatewayClass,
    work::{DeletionPolicy, Feedback, ObjectIdentity, TakeoverPolicy},
};
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, Client,
    api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, Preconditions},
    core::{ApiResource, GroupVersionKind},
};
use serde_json::{Value, json};

use crate::{
    Error, FIELD_MANAGER, feedback, heartbeat,
    kinds::Kinds,
    member_error,
    metrics::AgentMetrics,
    shared::{self, Copy, Merged},
    takeover::{
        self, ADOPTED_ANNOTATION, DELETION_ANNOTATION, MANAGED_LABEL, MANAGED_VALUE,
        WORK_ANNOTATION,
    },
};

/// A member cluster: where the agent's Works are applied.
pub trait Member: Send + Sync {
    /// Applies one object as every Work that carries it wants it
    /// (`merged`), unless `policy` refuses to take over the member's copy.
    fn apply<'a>(
        &'a self,
        merged: Merged,
        identity: &'a ObjectIdentity,
        policy: TakeoverPolicy,
    ) -> BoxFuture<'a, Result<Applied, Error>>;

    /// Removes (or hands over to the Works still carrying it, `carriers`)
    /// an object that left Work `work`.
    fn prune<'a>(
        &'a self,
        work: &'a str,
        identity: &'a ObjectIdentity,
        carriers: &'a [Copy<'a>],
    ) -> BoxFuture<'a, Result<(), Error>>;

    /// The member's Kubernetes version and GatewayClasses; an error when
    /// the member does not answer (the heartbeat then stops).
    fn report(&self) -> BoxFuture<'_, Result<Report, Error>>;
}

/// The result of applying one object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Applied {
    /// Why the member's copy was not taken over, if it was not.
    pub conflict: Option<String>,
    /// What the member's Gateway API implementation says of the object.
    pub feedback: Option<Feedback>,
}

/// What the agent reports in its MemberCluster's status.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub kubernetes_version: String,
    pub gateway_classes: Vec<DiscoveredGatewayClass>,
}

/// A member's API server.
pub struct Cluster {
    pub client: Client,
    pub kinds: Kinds,
    metrics: Arc<AgentMetrics>,
    /// Namespaces seen to exist: not read again for every object in them.
    /// One is forgotten when an apply into it finds it gone.
    namespaces: Mutex<HashSet<String>>,
}

impl Cluster {
    pub fn new(client: Client, metrics: Arc<AgentMetrics>) -> Self {
        Self {
            kinds: Kinds::new(client.clone()),
            client,
            metrics,
            namespaces: Mutex::default(),
        }
    }

    /// Creates a namespace the member lacks (and never deletes one).
    async fn ensure_namespace(&self, name: &str) -> Result<(), Error> {
        if self
            .namespaces
            .lock()
            .is_ok_and(|known| known.contains(name))
        {
            return Ok(());
        }
        ensure_namespace(&self.client, name).await?;
        if let Ok(mut known) = self.namespaces.lock() {
            known.insert(name.to_owned());
        }
        Ok(())
    }

    fn forget_namespace(&self, name: &str) {
        if let Ok(mut known) = self.namespaces.lock() {
            known.remove(name);
        }
    }

    /// Also manages `extra` kinds (the policy kinds the hub federates).
    pub fn with_extra_kinds(mut self, extra: Vec<GroupKind>) -> Self {
        self.kinds = self.kinds.with_extra(extra);
        self
    }
}

impl Member for Cluster {
    fn apply<'a>(
        &'a self,
        merged: Merged,
        identity: &'a ObjectIdentity,
        policy: TakeoverPolicy,
    ) -> BoxFuture<'a, Result<Applied, Error>> {
        Box::pin(self.apply_one(merged, identity, policy))
    }

    fn prune<'a>(
        &'a self,
        work: &'a str,
        identity: &'a ObjectIdentity,
        carriers: &'a [Copy<'a>],
    ) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(self.prune_one(work, identity, carriers))
    }

    fn report(&self) -> BoxFuture<'_, Result<Report, Error>> {
        Box::pin(self.report_now())
    }
}

impl Cluster {
    /// Applies one object for `work` as every Work that carries it wants it
    /// (`merged`).
    async fn apply_one(
        &self,
        merged: Merged,
        identity: &ObjectIdentity,
        policy: TakeoverPolicy,
    ) -> Result<Applied, Error> {
        let gvk = GroupVersionKind::gvk(&identity.group, &identity.version, &identity.kind);
        let (resource, namespaced) = self.kinds.resolve(&gvk).await?;
        let api: Api<DynamicObject> = match (&identity.namespace, namespaced) {
            (Some(namespace), true) => {
                self.ensure_namespace(namespace).await?;
                Api::namespaced_with(self.client.clone(), namespace, &resource)
            }
            (None, true) => {
                return Err(Error::MissingNamespace(describe(identity)));
            }
            _ => Api::all_with(self.client.clone(), &resource),
        };
        let mut desired = merged.object;
        mark(&mut desired, &merged.works, merged.deletion);
        let what = describe(identity);
        let live = api
            .get_opt(&identity.name)
            .await
            .map_err(member_error("reading", what.clone()))?
            .map(|o| serde_json::to_value(o).unwrap_or_default());
        let applied = match takeover::decide(&desired, live.as_ref(), policy) {
            takeover::Action::UpToDate => live,
            takeover::Action::Apply { adopt } => {
                if adopt {
                    desired["metadata"]["annotations"][ADOPTED_ANNOTATION] = "true".into();
                }
                let object = api
                    .patch(
                        &identity.name,
                        &PatchParams::apply(FIELD_MANAGER).force(),
                        &Patch::Apply(&desired),
                    )
                    .await
                    .map_err(|error| {
                        if let (kube::Error::Api(status), Some(namespace)) =
                            (&error, &identity.namespace)
                            && status.code == 404
                        {
                            self.forget_namespace(namespace);
                        }
                        member_error("applying", what.clone())(error)
                    })?;
                self.metrics.objects_applied.inc();
                tracing::info!(works = merged.works, object = what, adopt, "applied");
                Some(serde_json::to_value(object).unwrap_or_default())
            }
            takeover::Action::Conflict(why) => {
                self.metrics.takeovers_refused.inc();
                return Ok(Applied {
                    conflict: Some(format!("{what}: {why}")),
                    feedback: None,
                });
            }
        };
        Ok(Applied {
            conflict: None,
            feedback: applied.as_ref().and_then(feedback::extract),
        })
    }

    async fn report_now(&self) -> Result<Report, Error> {
        let version = self
            .client
            .apiserver_version()
            .await
            .map_err(member_error("reading", "the Kubernetes version"))?;
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "GatewayClass"),
            "gatewayclasses",
        );
        let classes: Api<DynamicObject> = Api::all_with(self.client.clone(), &resource);
        let gateway_classes = match classes.list(&ListParams::default()).await {
            Ok(list) => heartbeat::gateway_classes(&list.items),
            // No Gateway API in the member: no classes.
            Err(kube::Error::Api(status)) if status.code == 404 => vec![],
            Err(e) => return Err(member_error("listing", "GatewayClasses")(e)),
        };
        Ok(Report {
            kubernetes_version: version.git_version,
            gateway_classes,
        })
    }
}

/// Adds Fedway's label and annotations to a desired object: `works` are
/// the Works that carry it.
fn mark(desired: &mut Value, works: &str, deletion: DeletionPolicy) {
    let metadata = &mut desired["metadata"];
    metadata["labels"][MANAGED_LABEL] = MANAGED_VALUE.into();
    metadata["annotations"][WORK_ANNOTATION] = works.into();
    metadata["annotations"][DELETION_ANNOTATION] = match deletion {
        DeletionPolicy::Delete => "Delete",
        DeletionPolicy::Orphan => "Orphan",
    }
    .into();
}

/// Creates a namespace the member lacks (and never deletes one).
async fn ensure_namespace(member: &Client, name: &str) -> Result<(), Error> {
    let namespaces: Api<Namespace> = Api::all(member.clone());
    if namespaces
        .get_opt(name)
        .await
        .map_err(member_error("reading", format!("Namespace {name}")))?
        .is_some()
    {
        return Ok(());
    }
    let namespace: Namespace = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"fedway.dev/created-by": MANAGED_VALUE}},
    }))
    .unwrap_or_default();
    match namespaces.create(&PostParams::default(), &namespace).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(e) => Err(member_error("creating", format!("Namespace {name}"))(e)),
    }
}

impl Cluster {
    /// Removes an object that left Work `work_name`: when no other Work carries
    /// it (`carriers`: every Work's copy, as the agent sees them), deleted if
    /// Fedway created it, released (Fedway's markers removed) if it was taken
    /// over or the Work says Orphan; else handed over to the Works that still
    /// carry it. Objects that are not Fedway's, or not this Work's, are never
    /// touched.
    async fn prune_one(
        &self,
        work_name: &str,
        identity: &ObjectIdentity,
        carriers: &[Copy<'_>],
    ) -> Result<(), Error> {
        let gvk = GroupVersionKind::gvk(&identity.group, &identity.version, &identity.kind);
        let Ok((resource, namespaced)) = self.kinds.resolve(&gvk).await else {
            return Ok(()); // The kind is gone from the member, and with it the object.
        };
        let api: Api<DynamicObject> = match (&identity.namespace, namespaced) {
            (Some(namespace), true) => {
                Api::namespaced_with(self.client.clone(), namespace, &resource)
            }
            _ => Api::all_with(self.client.clone(), &resource),
        };
        let what = describe(identity);
        let Some(live) = api
            .get_opt(&identity.name)
            .await
            .map_err(member_error("reading", what.clone()))?
        else {
            return Ok(());
        };
        let live = serde_json::to_value(live).unwrap_or_default();
        let works = live["metadata"]["annotations"][WORK_ANNOTATION]
            .as_str()
            .unwrap_or_default();
        if !takeover::is_managed(&live) {
            return Ok(());
        }
        let Some(left) = shared::left_with(works, work_name, carriers) else {
            return Ok(());
        };
        self.hand_over(&api, &identity.name, &live, &left, &what)
            .await
    }

    /// An object some of whose Works no longer carry it: removed (`remove`)
    /// when none is `left`; else its annotation names only the Works `left`,
    /// and that change to the object, seen by the member watch, has them apply
    /// it again without what the others added (a route's parentRefs to their
    /// Gateways). Optimistic: two Works leaving at once cannot each leave the
    /// object to the other.
    pub async fn hand_over(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        live: &Value,
        left: &[&str],
        what: &str,
    ) -> Result<(), Error> {
        if left.is_empty() {
            remove(api, name, live, what).await?;
            self.metrics.objects_removed.inc();
            return Ok(());
        }
        let patch = json!({"metadata": {
            "resourceVersion": live["metadata"]["resourceVersion"],
            "annotations": {WORK_ANNOTATION: shared::annotation(left)},
        }});
        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(member_error("handing over", what.to_owned()))?;
        tracing::info!(object = what, works = ?left, "handed over");
        Ok(())
    }
}

/// Deletes or releases a Fedway-managed object, per its annotations.
/// Both only if the object is still `live` (its resourceVersion): the
/// sweep decides on a list that a Work's apply may have overtaken (another
/// Work took the object over), and must then leave it to the next sweep.
async fn remove(
    api: &Api<DynamicObject>,
    name: &str,
    live: &Value,
    what: &str,
) -> Result<(), Error> {
    let metadata = &live["metadata"];
    let annotations = &metadata["annotations"];
    if annotations[ADOPTED_ANNOTATION] == "true" || annotations[DELETION_ANNOTATION] == "Orphan" {
        let release = json!({"metadata": {
            "resourceVersion": metadata["resourceVersion"],
            "labels": {MANAGED_LABEL: null},
            "annotations": {WORK_ANNOTATION: null, ADOPTED_ANNOTATION: null, DELETION_ANNOTATION: null},
        }});
        api.patch(name, &PatchParams::default(), &Patch::Merge(&release))
            .await
            .map_err(member_error("releasing", what.to_owned()))?;
        tracing::info!(object = what, "released");
    } else {
        let unchanged = DeleteParams {
            preconditions: Some(Preconditions {
                resource_version: metadata["resourceVersion"].as_str().map(str::to_owned),
                uid: metadata["uid"].as_str().map(str::to_owned),
            }),
            ..DeleteParams::background()
        };
        match api.delete(name, &unchanged).await {
            Ok(_) => tracing::info!(object = what, "deleted"),
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => return Err(member_error("deleting", what.to_owned())(e)),
        }
    }
    Ok(())
}

/// Group, version, kind, namespace and name of a raw object.
pub(crate) fn describe(identity: &ObjectIdentity) -> String {
    match &identity.namespace {
        Some(ns) => format!("{} {ns}/{}", identity.kind, identity.name),
        None => format!("{} {}", identity.kind, identity.name),
    }
}
