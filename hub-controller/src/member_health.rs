//! Member readiness from the agents' heartbeats: a member is Ready while
//! its Lease was renewed within `interval × missedBeforeNotReady`. Losing a
//! member changes this condition and nothing else: its Works stay, and so
//! does what it runs.

use std::{collections::BTreeMap, time::Duration};

use fedway_crds::{MemberCluster, member_cluster::condition};
use k8s_openapi::{
    api::coordination::v1::Lease,
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{ListParams, Patch, PatchParams},
    runtime::events::{Event, EventType, Recorder},
};
use serde_json::json;

use crate::{Error, join};

/// How often the hub looks at the leases.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The Ready condition a member should have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    pub reason: &'static str,
    pub message: String,
}

/// Decides readiness from the last renewal. Pure.
pub fn readiness(
    now: Timestamp,
    renewed: Option<Timestamp>,
    interval: Duration,
    missed: u32,
) -> Readiness {
    let window = interval * missed;
    match renewed {
        None => Readiness {
            ready: false,
            reason: "NoHeartbeat",
            message: "the agent has not renewed its lease yet".into(),
        },
        Some(renewed) => {
            let age = now.duration_since(renewed).unsigned_abs();
            if age <= window {
                Readiness {
                    ready: true,
                    reason: "HeartbeatFresh",
                    message: format!("last heartbeat {}s ago", age.as_secs()),
                }
            } else {
                Readiness {
                    ready: false,
                    reason: "HeartbeatMissed",
                    message: format!(
                        "last heartbeat {}s ago, more than {missed} × {}s; its config stays in place",
                        age.as_secs(),
                        interval.as_secs()
                    ),
                }
            }
        }
    }
}

/// Keeps every MemberCluster's Ready condition current, forever.
pub async fn run(client: Client, recorder: Recorder) {
    loop {
        if let Err(error) = check_all(&client, &recorder).await {
            tracing::warn!(%error, "checking member heartbeats failed");
        }
        tokio::time::sleep(CHECK_EVERY).await;
    }
}

async fn check_all(client: &Client, recorder: &Recorder) -> Result<(), Error> {
    let members: Api<MemberCluster> = Api::all(client.clone());
    let leases: Api<Lease> = Api::all(client.clone());
    let renewals: BTreeMap<String, Timestamp> = leases
        .list(&ListParams::default().fields(&format!("metadata.name={}", "fedway-agent")))
        .await
        .map_err(crate::api_error("listing", "agent Leases"))?
        .into_iter()
        .filter_map(|lease| {
            let renewed = lease.spec?.renew_time?.0;
            Some((lease.metadata.namespace?, renewed))
        })
        .collect();
    let now = Timestamp::now();
    for member in members
        .list(&ListParams::default())
        .await
        .map_err(crate::api_error("listing", "MemberClusters"))?
    {
        let name = member.name_any();
        let interval = member
            .spec
            .heartbeat
            .interval
            .to_std()
            .unwrap_or(Duration::from_secs(10));
        let decided = readiness(
            now,
            renewals.get(&join::member_namespace(&name)).copied(),
            interval,
            member.spec.heartbeat.missed_before_not_ready,
        );
        let current = member
            .status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == condition::READY));
        let status = if decided.ready { "True" } else { "False" };
        // Rewrite only on a transition or a reason change: the message's age
        // alone is not worth a write every second.
        if current.is_some_and(|c| c.status == status && c.reason == decided.reason) {
            continue;
        }
        let ready = Condition {
            type_: condition::READY.into(),
            status: status.into(),
            reason: decided.reason.into(),
            message: decided.message.clone(),
            last_transition_time: Time(now),
            observed_generation: member.metadata.generation,
        };
        let patch = json!({"apiVersion": "fedway.dev/v1alpha1", "kind": "MemberCluster", "status": {"conditions": [ready]}});
        members
            .patch_status(
                &name,
                &PatchParams::apply(crate::FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await
            .map_err(crate::api_error(
                "updating status of",
                format!("MemberCluster {name}"),
            ))?;
        tracing::info!(
            member = name,
            ready = decided.ready,
            reason = decided.reason,
            "member readiness changed"
        );
        let event = Event {
            type_: if decided.ready {
                EventType::Normal
            } else {
                EventType::Warning
            },
            reason: decided.reason.into(),
            note: Some(decided.message),
            action: "Heartbeat".into(),
            secondary: None,
        };
        if let Err(error) = recorder.publish(&event, &member.object_ref(&())).await {
            tracing::debug!(%error, "publishing an event failed");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_table() {
        let now: Timestamp = "2026-11-23T00:00:40Z".parse().expect("timestamp");
        let at = |s: &str| Some(s.parse::<Timestamp>().expect("timestamp"));
        let ten = Duration::from_secs(10);
        let cases = [
            ("never renewed", None, false, "NoHeartbeat"),
            (
                "just renewed",
                at("2026-11-23T00:00:39Z"),
                true,
                "HeartbeatFresh",
            ),
            (
                "at the edge of the window",
                at("2026-11-23T00:00:00Z"),
                true,
                "HeartbeatFresh",
            ),
            (
                "past the window",
                at("2026-11-22T23:59:59Z"),
                false,
                "HeartbeatMissed",
            ),
            (
                "clock skew: renewed in the future",
                at("2026-11-23T00:00:45Z"),
                true,
                "HeartbeatFresh",
            ),
        ];
        for (name, renewed, ready, reason) in cases {
            let got = readiness(now, renewed, ten, 4);
            assert_eq!(
                (got.ready, got.reason),
                (ready, reason),
                "{name}: {}",
                got.message
            );
        }
    }
}
