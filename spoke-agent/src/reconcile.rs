//! Reconciling one Work: apply each manifest to the member (server-side
//! apply, field manager `fedway-agent`), refuse takeovers the policy does
//! not allow, prune what left the Work, and report per-object status and
//! feedback into the Work's status. Writes to the member only when the
//! member differs from the Work, so a restart causes none.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::{StreamExt, stream};

use fedway_crds::work::{
    ManifestStatus, ObjectIdentity, SecretCopy, Work, WorkStatus, condition as work_condition,
};
use k8s_openapi::{
    api::core::v1::Secret,
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{
        controller::Action,
        events::{Event, EventType, Recorder, Reporter},
        reflector::{self, Store},
    },
};
use serde_json::{Value, json};

use crate::{
    Error, FIELD_MANAGER, hub_error,
    member::{Applied, Member, describe},
    metrics::AgentMetrics,
    shared::{self, Copy},
};

/// What the reconciler needs.
pub struct Context {
    pub hub: Client,
    pub member: Arc<dyn Member>,
    /// The member's name in the hub.
    pub cluster: String,
    /// The member's namespace in the hub.
    pub namespace: String,
    /// Events on the Works in the hub, where the app team looks.
    pub recorder: Recorder,
    pub metrics: Arc<AgentMetrics>,
    /// Every Work of this member, as last seen (`run` fills it).
    pub works: Store<Work>,
    /// What each Work's last pass applied, by Work name. The Work's status
    /// says the same once the store has it, but a pass can start before
    /// the store has seen the status the previous pass wrote: an object
    /// that pass applied and this one no longer carries would otherwise
    /// never be pruned.
    pub applied: Mutex<HashMap<String, BTreeSet<ObjectIdentity>>>,
}

impl Context {
    /// The agent of member `cluster`, joined to `hub`.
    pub fn new(
        hub: Client,
        member: Arc<dyn Member>,
        cluster: String,
        metrics: Arc<AgentMetrics>,
    ) -> Self {
        let recorder = Recorder::new(
            hub.clone(),
            Reporter {
                controller: "fedway-agent".into(),
                instance: Some(cluster.clone()),
            },
        );
        Self {
            namespace: format!("{MEMBER_NAMESPACE_PREFIX}{cluster}"),
            hub,
            member,
            cluster,
            recorder,
            metrics,
            works: reflector::store().0,
            applied: Mutex::default(),
        }
    }
}

/// A member's namespace in the hub is this prefix and its name (as
/// `fedway-hub join` creates it).
pub const MEMBER_NAMESPACE_PREFIX: &str = "fedway-member-";

/// Reconciles one Work. Errors are retried by the controller.
pub async fn reconcile(work: Arc<Work>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.works.start();
    let name = work.name_any();
    let mut manifests = Vec::with_capacity(work.spec.manifests.len() + work.spec.secrets.len());
    let mut current = BTreeSet::new();
    let previous = work.status.as_ref();
    let mut secrets = Vec::with_capacity(work.spec.secrets.len());
    for copy in &work.spec.secrets {
        secrets.push(secret_from_hub(&ctx, copy).await);
    }
    let mut objects = Vec::with_capacity(work.spec.manifests.len());
    for (index, manifest) in work.spec.manifests.iter().enumerate() {
        let identity = ObjectIdentity::of(&manifest.0).ok_or_else(|| Error::BadManifest {
            index,
            message: "apiVersion, kind and metadata.name are required".into(),
        })?;
        objects.push((identity, Ok(Value::Object(manifest.0.clone()))));
    }
    let works = ctx.works.state();
    let carried = shared::index(&works);
    let carriers = |identity: &ObjectIdentity| carried.get(identity).map(Vec::as_slice);
    let apply = |(identity, object): (ObjectIdentity, Result<Value, Error>)| {
        let (ctx, work, name, carriers) = (&ctx, &work, &name, &carriers);
        async move {
            let applied = match object {
                Ok(object) => {
                    let own = Copy {
                        work: name,
                        object: object.as_object(),
                        deletion: work.spec.deletion_policy,
                    };
                    let merged = shared::merge(&own, carriers(&identity).unwrap_or_default());
                    ctx.member
                        .apply(merged, &identity, work.spec.takeover)
                        .await
                }
                Err(missing) => Err(missing),
            };
            (identity, applied)
        }
    };
    // Certificates first: a Gateway applied before its Secret would be
    // invalid in the member until the next pass. Within each group, a few
    // objects at once: a Work of DNS data holds hundreds.
    let mut outcomes: Vec<(ObjectIdentity, Result<Applied, Error>)> = stream::iter(secrets)
        .map(apply)
        .buffered(APPLIES_AT_ONCE)
        .collect()
        .await;
    outcomes.extend(
        stream::iter(objects)
            .map(apply)
            .buffered(APPLIES_AT_ONCE)
            .collect::<Vec<_>>()
            .await,
    );
    for (identity, applied) in outcomes {
        current.insert(identity.clone());
        let before = previous.and_then(|s| s.manifests.iter().find(|m| m.identity == identity));
        let status = match applied {
            Ok(applied) => applied_status(applied, identity, before),
            Err(e) => {
                ctx.metrics.apply_failures.inc();
                ManifestStatus {
                    conditions: vec![condition(
                        before,
                        work_condition::APPLIED,
                        false,
                        work_condition::APPLY_FAILED,
                        &e.to_string(),
                    )],
                    identity,
                    feedback: None,
                }
            }
        };
        if let Some(event) = transition(before, &status) {
            // Events are for people; failing to publish one changes nothing.
            if let Err(error) = ctx.recorder.publish(&event, &work.object_ref(&())).await {
                tracing::warn!(%error, "publishing an event failed");
            }
        }
        manifests.push(status);
    }
    let remembered = ctx
        .applied
        .lock()
        .ok()
        .and_then(|applied| applied.get(&name).cloned())
        .unwrap_or_default();
    let before: BTreeSet<&ObjectIdentity> = previous
        .into_iter()
        .flat_map(|s| &s.manifests)
        .map(|m| &m.identity)
        .chain(&remembered)
        .collect();
    for gone in before.into_iter().filter(|i| !current.contains(*i)) {
        let carriers = carriers(gone).unwrap_or_default();
        ctx.member.prune(&name, gone, carriers).await?;
    }
    let status = work_status(&work, manifests);
    // A refused takeover waits for a change to the object or the Work; a
    // failed apply (the member busy or away) is tried again.
    let retry = status.manifests.iter().any(ManifestStatus::apply_failed);
    if previous != Some(&status) {
        let works: Api<Work> = Api::namespaced(ctx.hub.clone(), &ctx.namespace);
        let patch = json!({"apiVersion": "fedway.dev/v1alpha1", "kind": "Work", "status": status});
        works
            .patch_status(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await
            .map_err(hub_error(
                "reporting status of",
                format!("Work {}/{name}", ctx.namespace),
            ))?;
    }
    if let Ok(mut applied) = ctx.applied.lock() {
        applied.insert(name, current);
    }
    Ok(if retry {
        Action::requeue(RETRY_AFTER)
    } else {
        Action::await_change()
    })
}

/// The member's copy of a Secret the Work names: the hub's copy in this
/// member's hub namespace (which only this agent may read), with its type
/// and data, under the name the member's Gateway refers to.
async fn secret_from_hub(
    ctx: &Context,
    copy: &SecretCopy,
) -> (ObjectIdentity, Result<Value, Error>) {
    let identity = shared::secret_identity(&copy.namespace, &copy.name);
    let what = format!(
        "Secret {}/{} (the copy of {}/{})",
        ctx.namespace, copy.from, copy.namespace, copy.name
    );
    let object = Api::<Secret>::namespaced(ctx.hub.clone(), &ctx.namespace)
        .get_opt(&copy.from)
        .await
        .map_err(hub_error("reading", what.clone()))
        .and_then(|secret| secret.ok_or(Error::MissingInHub(what)))
        .map(|secret| {
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": copy.name, "namespace": copy.namespace},
                "type": secret.type_,
                "data": secret.data,
            })
        });
    (identity, object)
}

/// Retries a failed reconcile after a pause; watches trigger earlier ones.
pub fn error_policy(work: Arc<Work>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics.works.failed();
    tracing::warn!(work = work.name_any(), %error, "reconcile failed; retrying");
    Action::requeue(RETRY_AFTER)
}

/// Objects applied to the member at once, within one Work.
const APPLIES_AT_ONCE: usize = 8;

/// The pause before a failed pass is tried again (watches may bring an
/// earlier one).
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// A manifest's status after it was applied (or its takeover refused).
fn applied_status(
    applied: Applied,
    identity: ObjectIdentity,
    before: Option<&ManifestStatus>,
) -> ManifestStatus {
    let conditions = match &applied.conflict {
        None => vec![condition(
            before,
            work_condition::APPLIED,
            true,
            "Applied",
            "",
        )],
        Some(why) => vec![
            condition(before, work_condition::APPLIED, false, "Conflict", why),
            condition(
                before,
                work_condition::CONFLICT,
                true,
                "TakeoverRefused",
                why,
            ),
        ],
    };
    ManifestStatus {
        identity,
        conditions,
        feedback: applied.feedback,
    }
}

/// The Event for a manifest whose Applied condition changed (status or
/// reason) since the Work's last status; none when it did not, so a
/// restart or an unchanged pass publishes nothing.
fn transition(before: Option<&ManifestStatus>, after: &ManifestStatus) -> Option<Event> {
    let applied = |m: &ManifestStatus| {
        m.conditions
            .iter()
            .find(|c| c.type_ == work_condition::APPLIED)
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    };
    let (status, reason, message) = applied(after)?;
    if before
        .and_then(applied)
        .is_some_and(|(s, r, _)| s == status && r == reason)
    {
        return None;
    }
    let what = describe(&after.identity);
    let (type_, note) = if status == "True" {
        (EventType::Normal, format!("{what} applied"))
    } else {
        (EventType::Warning, format!("{what}: {message}"))
    };
    Some(Event {
        type_,
        reason,
        // Event notes are limited to 1 KiB by the API server.
        note: Some(note.chars().take(1000).collect()),
        action: "Apply".into(),
        secondary: None,
    })
}

fn work_status(work: &Work, manifests: Vec<ManifestStatus>) -> WorkStatus {
    let previous = work.status.as_ref();
    let failing: Vec<&ManifestStatus> = manifests
        .iter()
        .filter(|m| {
            !m.conditions
                .iter()
                .any(|c| c.type_ == work_condition::APPLIED && c.status == "True")
        })
        .collect();
    let before = previous
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let applied = if failing.is_empty() {
        condition_in(
            before,
            work_condition::APPLIED,
            true,
            "Applied",
            &format!("{} objects applied", manifests.len()),
        )
    } else {
        let conflict = failing.iter().any(|m| {
            m.conditions
                .iter()
                .any(|c| c.type_ == work_condition::CONFLICT)
        });
        let message: Vec<String> = failing
            .iter()
            .take(4)
            .filter_map(|m| {
                m.conditions
                    .iter()
                    .find(|c| c.type_ == work_condition::APPLIED)
            })
            .map(|c| c.message.clone())
            .collect();
        condition_in(
            before,
            work_condition::APPLIED,
            false,
            if conflict {
                work_condition::CONFLICT
            } else {
                work_condition::APPLY_FAILED
            },
            &message.join("; "),
        )
    };
    WorkStatus {
        observed_generation: work.metadata.generation,
        conditions: vec![applied],
        manifests,
    }
}

fn condition(
    before: Option<&ManifestStatus>,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
) -> Condition {
    condition_in(
        before.map(|b| b.conditions.as_slice()).unwrap_or_default(),
        type_,
        status,
        reason,
        message,
    )
}

/// A condition, keeping the previous transition time when nothing about it
/// changed, so an unchanged status is byte-for-byte unchanged.
fn condition_in(
    before: &[Condition],
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
) -> Condition {
    let status = if status { "True" } else { "False" };
    if let Some(same) = before.iter().find(|c| {
        c.type_ == type_ && c.status == status && c.reason == reason && c.message == message
    }) {
        return same.clone();
    }
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message: message.into(),
        last_transition_time: Time(k8s_openapi::jiff::Timestamp::now()),
        observed_generation: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(applied: Option<(bool, &str, &str)>) -> ManifestStatus {
        ManifestStatus {
            identity: ObjectIdentity {
                group: "gateway.networking.k8s.io".into(),
                version: "v1".into(),
                kind: "Gateway".into(),
                namespace: Some("web".into()),
                name: "shop".into(),
            },
            conditions: applied
                .map(|(status, reason, message)| {
                    condition(None, work_condition::APPLIED, status, reason, message)
                })
                .into_iter()
                .collect(),
            feedback: None,
        }
    }

    #[test]
    fn events_only_when_applied_changes() {
        let applied = manifest(Some((true, "Applied", "")));
        let failed = manifest(Some((false, "ApplyFailed", "the API server said no")));
        let failed_again = manifest(Some((false, "ApplyFailed", "another message")));
        let conflict = manifest(Some((false, "Conflict", "owned by someone else")));
        let unknown = manifest(None);
        // (case, before, after, expected (warning?, reason))
        let cases = [
            ("first apply", None, &applied, Some((false, "Applied"))),
            ("unchanged (a restart)", Some(&applied), &applied, None),
            (
                "starts failing",
                Some(&applied),
                &failed,
                Some((true, "ApplyFailed")),
            ),
            (
                "same failure, new message",
                Some(&failed),
                &failed_again,
                None,
            ),
            (
                "failure kind changes",
                Some(&failed),
                &conflict,
                Some((true, "Conflict")),
            ),
            (
                "recovers",
                Some(&conflict),
                &applied,
                Some((false, "Applied")),
            ),
            ("no condition after", Some(&applied), &unknown, None),
        ];
        for (case, before, after, want) in cases {
            let got = transition(before, after).map(|e| (e.type_ == EventType::Warning, e.reason));
            assert_eq!(got, want.map(|(w, r)| (w, r.to_owned())), "{case}");
        }
        let note = transition(Some(&applied), &failed)
            .and_then(|e| e.note)
            .unwrap_or_default();
        assert_eq!(note, "Gateway web/shop: the API server said no");
    }
}
