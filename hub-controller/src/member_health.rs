//! Member readiness from the agents' heartbeats: a member is Ready while
//! its Lease was renewed within `interval × missedBeforeNotReady`. Losing a
//! member changes this condition and nothing else: its Works stay, and so
//! does what it runs.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

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

use crate::{Error, join, metrics::HubMetrics};

/// How often the hub looks at the leases.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The Ready condition a member should have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    pub reason: &'static str,
    pub message: String,
}

/// After the hub starts observing leases again (its start, or its API
/// server answering again), agents get at least this long to renew before
/// a stale lease counts against them: while the hub's API server was away
/// they backed off, and need a moment to reconnect.
pub const RESUME_GRACE: Duration = Duration::from_secs(15);

/// Decides readiness from the last renewal. Pure.
///
/// `observing_since` is when this hub last started seeing leases. A lease
/// last renewed before then, while the hub was not looking, is not judged
/// until `max(window, RESUME_GRACE)` after it: `None` means "undecided,
/// keep what the status says". Otherwise every member would turn NotReady
/// (and its DNS endpoints down) for the first seconds after a hub outage,
/// a flap with writes everywhere for nothing.
pub fn readiness(
    now: Timestamp,
    renewed: Option<Timestamp>,
    observing_since: Timestamp,
    interval: Duration,
    missed: u32,
) -> Option<Readiness> {
    let window = interval * missed;
    let Some(renewed) = renewed else {
        return Some(Readiness {
            ready: false,
            reason: "NoHeartbeat",
            message: "the agent has not renewed its lease yet".into(),
        });
    };
    let age = now.duration_since(renewed).unsigned_abs();
    if age <= window || renewed > now {
        return Some(Readiness {
            ready: true,
            reason: "HeartbeatFresh",
            message: format!("last heartbeat {}s ago", age.as_secs()),
        });
    }
    let observed_for = now.duration_since(observing_since);
    if renewed < observing_since
        && (observed_for.is_negative() || observed_for.unsigned_abs() <= window.max(RESUME_GRACE))
    {
        return None;
    }
    Some(Readiness {
        ready: false,
        reason: "HeartbeatMissed",
        message: format!(
            "last heartbeat {}s ago, more than {missed} × {}s; its config stays in place",
            age.as_secs(),
            interval.as_secs()
        ),
    })
}

/// Keeps every MemberCluster's Ready condition current, forever.
pub async fn run(client: Client, recorder: Recorder, metrics: Arc<HubMetrics>) {
    let mut observing_since = Some(Timestamp::now());
    loop {
        let since = *observing_since.get_or_insert_with(Timestamp::now);
        if let Err(error) = check_all(&client, &recorder, &metrics, since).await {
            tracing::warn!(%error, "checking member heartbeats failed");
            // Blind from now on: the window restarts when leases are
            // readable again.
            observing_since = None;
        }
        tokio::time::sleep(CHECK_EVERY).await;
    }
}

async fn check_all(
    client: &Client,
    recorder: &Recorder,
    metrics: &HubMetrics,
    observing_since: Timestamp,
) -> Result<(), Error> {
    let members: Api<MemberCluster> = Api::all(client.clone());
    let leases: Api<Lease> = Api::all(client.clone());
    // Per member namespace: the last renewal, and the interval the agent
    // declared in it (leaseDurationSeconds).
    let renewals: BTreeMap<String, (Timestamp, Option<Duration>)> = leases
        .list(&ListParams::default().fields(&format!("metadata.name={}", "fedway-agent")))
        .await
        .map_err(crate::api_error("listing", "agent Leases"))?
        .into_iter()
        .filter_map(|lease| {
            let spec = lease.spec?;
            let declared = spec
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .map(Duration::from_secs);
            Some((lease.metadata.namespace?, (spec.renew_time?.0, declared)))
        })
        .collect();
    let now = Timestamp::now();
    for member in members
        .list(&ListParams::default())
        .await
        .map_err(crate::api_error("listing", "MemberClusters"))?
    {
        let name = member.name_any();
        let lease = renewals.get(&join::member_namespace(&name)).copied();
        // An agent renews at the interval it last read; after the spec's
        // interval is shortened it keeps its old one until its next renewal.
        // Judged by the longer of the two, a shorter interval never makes a
        // healthy member look late.
        let interval = member
            .spec
            .heartbeat
            .interval
            .to_std()
            .unwrap_or(Duration::from_secs(10))
            .max(lease.and_then(|(_, declared)| declared).unwrap_or_default());
        let Some(decided) = readiness(
            now,
            lease.map(|(renewed, _)| renewed),
            observing_since,
            interval,
            member.spec.heartbeat.missed_before_not_ready,
        ) else {
            tracing::debug!(member = name, ?lease, %observing_since, "stale lease from before the hub resumed: not judged yet");
            continue;
        };
        tracing::debug!(
            member = name,
            ?lease,
            ?interval,
            ready = decided.ready,
            "heartbeat checked"
        );
        metrics.set_member_ready(&name, decided.ready);
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
            tracing::warn!(%error, "publishing an event failed");
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
            let long_ago: Timestamp = "2026-11-22T00:00:00Z".parse().expect("timestamp");
            let got = readiness(now, renewed, long_ago, ten, 4).expect("decided");
            assert_eq!(
                (got.ready, got.reason),
                (ready, reason),
                "{name}: {}",
                got.message
            );
        }
    }

    /// A hub that was not watching (just started, or its API server was
    /// down) judges a lease renewed before then only after the grace.
    #[test]
    fn a_stale_lease_is_not_judged_until_the_grace_after_resuming() {
        let at = |s: &str| s.parse::<Timestamp>().expect("timestamp");
        let ten = Duration::from_secs(10);
        let renewed = Some(at("2026-11-23T00:00:00Z"));
        let decided = |now: &str, since: &str| {
            readiness(at(now), renewed, at(since), ten, 4).map(|r| r.ready)
        };
        // Stale lease, hub observing for long: missed.
        assert_eq!(
            decided("2026-11-23T00:01:00Z", "2026-11-22T00:00:00Z"),
            Some(false)
        );
        // Same lease, hub back 5 s ago: undecided, the status stays.
        assert_eq!(
            decided("2026-11-23T00:01:00Z", "2026-11-23T00:00:55Z"),
            None
        );
        // Hub back for longer than the window (40 s > grace): missed.
        assert_eq!(
            decided("2026-11-23T00:01:00Z", "2026-11-23T00:00:19Z"),
            Some(false)
        );
        // A short window still gets the full grace.
        let one = Duration::from_secs(1);
        let got = readiness(
            at("2026-11-23T00:01:00Z"),
            renewed,
            at("2026-11-23T00:00:50Z"),
            one,
            3,
        );
        assert!(got.is_none());
        let got = readiness(
            at("2026-11-23T00:01:00Z"),
            renewed,
            at("2026-11-23T00:00:40Z"),
            one,
            3,
        );
        assert_eq!(got.map(|r| r.ready), Some(false));
        // A renewal seen since the hub resumed is judged as usual.
        let fresh = readiness(
            at("2026-11-23T00:01:00Z"),
            Some(at("2026-11-23T00:00:59Z")),
            at("2026-11-23T00:00:58Z"),
            one,
            3,
        );
        assert_eq!(fresh.map(|r| r.ready), Some(true));
        // Never renewed stays NoHeartbeat whatever the hub saw.
        let got = readiness(
            at("2026-11-23T00:01:00Z"),
            None,
            at("2026-11-23T00:00:55Z"),
            ten,
            4,
        );
        assert_eq!(got.map(|r| r.reason), Some("NoHeartbeat"));
    }
}
