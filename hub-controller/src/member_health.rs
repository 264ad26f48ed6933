//! Member readiness from the agents' heartbeats: a member is Ready while
//! its Lease was renewed within `interval × missedBeforeNotReady`. Losing a
//! member changes this condition and nothing else: its Works stay, and so
//! does what it runs.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use backon::{BackoffBuilder, ExponentialBuilder};
use fedway_crds::{MemberCluster, member_cluster::condition};
use futures::StreamExt;
use k8s_openapi::{
    api::coordination::v1::Lease,
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{
        WatchStreamExt,
        events::{Event, EventType, Recorder},
        reflector::{self, Store},
        watcher,
    },
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

/// What the hub knows of an agent's heartbeats, by its own clock: the
/// `renewTime` an agent writes is only compared with the value it wrote
/// before (did it change?), never with the hub's clock, so an agent whose
/// clock runs ahead cannot stay Ready after it stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heartbeat {
    /// The agent has no lease.
    None,
    /// Unchanged since the hub started looking: renewed before, when is
    /// unknown.
    BeforeLooking,
    /// The hub saw it renewed (its value change, or the lease appear) at
    /// this time.
    SeenAt(Timestamp),
}

/// When this hub saw each agent lease change, by namespace.
#[derive(Debug, Default)]
pub struct Sightings {
    /// The `renewTime` last read, and when it was seen to change (`None`:
    /// not since the hub started looking).
    leases: BTreeMap<String, (Timestamp, Option<Timestamp>)>,
    looking: bool,
}

impl Sightings {
    /// Records the leases as read at `now` (namespace → renewTime) and
    /// returns each one's [`Heartbeat`]. The first read after the hub
    /// starts (or resumes) cannot tell when anything was renewed; a lease
    /// that appears later was just created.
    pub fn observe(
        &mut self,
        leases: BTreeMap<String, Timestamp>,
        now: Timestamp,
    ) -> BTreeMap<String, Heartbeat> {
        let first = !std::mem::replace(&mut self.looking, true);
        let previous = std::mem::take(&mut self.leases);
        let mut heartbeats = BTreeMap::new();
        for (namespace, renewed) in leases {
            let seen = match previous.get(&namespace) {
                Some((before, seen)) if *before == renewed => *seen,
                None if first => None,
                _ => Some(now),
            };
            heartbeats.insert(
                namespace.clone(),
                seen.map_or(Heartbeat::BeforeLooking, Heartbeat::SeenAt),
            );
            self.leases.insert(namespace, (renewed, seen));
        }
        heartbeats
    }

    /// The hub could not read the leases: it starts looking afresh.
    pub fn blind(&mut self) {
        *self = Sightings::default();
    }
}

/// Decides readiness from the heartbeat. Pure.
///
/// `observing_since` is when this hub last started seeing leases. A lease
/// unchanged since then is not judged until `max(window, RESUME_GRACE)`
/// after it: `None` means "undecided, keep what the status says".
/// Otherwise every member would turn NotReady (and its DNS endpoints down)
/// for the first seconds after a hub outage, a flap with writes everywhere
/// for nothing.
pub fn readiness(
    now: Timestamp,
    heartbeat: Heartbeat,
    observing_since: Timestamp,
    interval: Duration,
    missed: u32,
) -> Option<Readiness> {
    let window = interval * missed;
    let missed_message = |what: String| {
        format!(
            "{what}, more than {missed} × {}s; its config stays in place",
            interval.as_secs()
        )
    };
    match heartbeat {
        Heartbeat::None => Some(Readiness {
            ready: false,
            reason: "NoHeartbeat",
            message: "the agent has not renewed its lease yet".into(),
        }),
        Heartbeat::SeenAt(seen) => {
            let age = now.duration_since(seen).unsigned_abs();
            Some(if age <= window {
                Readiness {
                    ready: true,
                    reason: "HeartbeatFresh",
                    message: format!("last heartbeat seen {}s ago", age.as_secs()),
                }
            } else {
                Readiness {
                    ready: false,
                    reason: "HeartbeatMissed",
                    message: missed_message(format!("last heartbeat seen {}s ago", age.as_secs())),
                }
            })
        }
        Heartbeat::BeforeLooking => {
            let observed_for = now.duration_since(observing_since);
            if observed_for.is_negative() || observed_for.unsigned_abs() <= window.max(RESUME_GRACE)
            {
                return None;
            }
            Some(Readiness {
                ready: false,
                reason: "HeartbeatMissed",
                message: missed_message(format!(
                    "no heartbeat seen in the {}s this hub has been looking",
                    observed_for.unsigned_abs().as_secs()
                )),
            })
        }
    }
}

/// Per member namespace: the agent Lease's last renewal, and the interval
/// the agent declared in it (leaseDurationSeconds).
type Renewals = BTreeMap<String, (Timestamp, Option<Duration>)>;

/// Keeps every MemberCluster's Ready condition current, forever: the agent
/// Leases come from one watch, the MemberClusters from the index's store,
/// and each second judges them from memory. At a thousand members that is
/// one watch event per renewal, where listing both every second was two
/// thousand objects a second.
pub async fn run(
    client: Client,
    recorder: Recorder,
    metrics: Arc<HubMetrics>,
    members: Store<MemberCluster>,
) {
    let members_api: Api<MemberCluster> = Api::all(client.clone());
    let leases: Api<Lease> = Api::all(client);
    let config = watcher::Config::default().fields(&format!("metadata.name={AGENT_LEASE}"));
    let mut sightings = Sightings::default();
    let mut retry = retry_backoff();
    loop {
        // A fresh watch (so a fresh list and store) each time: leases are
        // judged only once it has listed.
        let (leases_seen, writer) = reflector::store();
        let mut events = std::pin::pin!(watcher(leases.clone(), config.clone()).reflect(writer));
        let mut observing_since = None;
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let failure = loop {
            tokio::select! {
                event = events.next() => match event {
                    Some(Ok(watcher::Event::InitDone)) => {
                        observing_since.get_or_insert_with(Timestamp::now);
                        retry = retry_backoff();
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => break Some(error),
                    None => break None,
                },
                _ = tick.tick() => {
                    let Some(since) = observing_since else {
                        continue;
                    };
                    let renewals: Renewals =
                        leases_seen.state().iter().filter_map(|l| renewal(l)).collect();
                    let members = members.state();
                    if let Err(error) = check_all(
                        &members_api, &recorder, &metrics, &members, &renewals, since, &mut sightings,
                    )
                    .await
                    {
                        tracing::warn!(%error, "writing member readiness failed");
                    }
                }
            }
        };
        // Blind from now on: the window restarts when leases are listed
        // again.
        tracing::warn!(error = ?failure.map(|e| e.to_string()), "watching agent Leases failed; member readiness waits for a fresh list");
        sightings.blind();
        tokio::time::sleep(retry.next().unwrap_or(CHECK_EVERY)).await;
    }
}

/// The name of every agent's Lease in its hub namespace.
const AGENT_LEASE: &str = "fedway-agent";

/// Pauses between watches of the Leases after one failed.
fn retry_backoff() -> backon::ExponentialBackoff {
    ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(10))
        .without_max_times()
        .build()
}

/// A Lease's namespace and renewal, when it has both.
fn renewal(lease: &Lease) -> Option<(String, (Timestamp, Option<Duration>))> {
    let spec = lease.spec.as_ref()?;
    let declared = spec
        .lease_duration_seconds
        .and_then(|s| u64::try_from(s).ok())
        .map(Duration::from_secs);
    Some((
        lease.metadata.namespace.clone()?,
        (spec.renew_time.as_ref()?.0, declared),
    ))
}

async fn check_all(
    members_api: &Api<MemberCluster>,
    recorder: &Recorder,
    metrics: &HubMetrics,
    members: &[Arc<MemberCluster>],
    renewals: &Renewals,
    observing_since: Timestamp,
    sightings: &mut Sightings,
) -> Result<(), Error> {
    let now = Timestamp::now();
    let heartbeats = sightings.observe(
        renewals
            .iter()
            .map(|(namespace, (renewed, _))| (namespace.clone(), *renewed))
            .collect(),
        now,
    );
    for member in members
        .iter()
        .filter(|m| m.metadata.deletion_timestamp.is_none())
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
        let heartbeat = heartbeats
            .get(&join::member_namespace(&name))
            .copied()
            .unwrap_or(Heartbeat::None);
        let Some(decided) = readiness(
            now,
            heartbeat,
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
        members_api
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

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn readiness_table() {
        let now = at("2026-11-23T00:00:40Z");
        let long_ago = at("2026-11-22T00:00:00Z");
        let ten = Duration::from_secs(10);
        let cases = [
            (
                "never renewed",
                Heartbeat::None,
                Some((false, "NoHeartbeat")),
            ),
            (
                "just seen renewed",
                Heartbeat::SeenAt(at("2026-11-23T00:00:39Z")),
                Some((true, "HeartbeatFresh")),
            ),
            (
                "seen at the edge of the window",
                Heartbeat::SeenAt(at("2026-11-23T00:00:00Z")),
                Some((true, "HeartbeatFresh")),
            ),
            (
                "seen before the window",
                Heartbeat::SeenAt(at("2026-11-22T23:59:59Z")),
                Some((false, "HeartbeatMissed")),
            ),
            (
                "not seen since the hub (long) looks",
                Heartbeat::BeforeLooking,
                Some((false, "HeartbeatMissed")),
            ),
        ];
        for (name, heartbeat, want) in cases {
            let got = readiness(now, heartbeat, long_ago, ten, 4);
            assert_eq!(
                got.as_ref().map(|r| (r.ready, r.reason)),
                want,
                "{name}: {got:?}"
            );
        }
    }

    /// A hub that was not watching (just started, or its API server was
    /// down) judges a lease it has not seen change only after the grace.
    #[test]
    fn an_unchanged_lease_is_not_judged_until_the_grace_after_resuming() {
        let ten = Duration::from_secs(10);
        let decided = |now: &str, since: &str, interval, missed| {
            readiness(
                at(now),
                Heartbeat::BeforeLooking,
                at(since),
                interval,
                missed,
            )
            .map(|r| r.ready)
        };
        // Hub back 5 s ago: undecided, the status stays.
        assert_eq!(
            decided("2026-11-23T00:01:00Z", "2026-11-23T00:00:55Z", ten, 4),
            None
        );
        // Hub back for longer than the window (41 s > 40 s > grace): missed.
        assert_eq!(
            decided("2026-11-23T00:01:00Z", "2026-11-23T00:00:19Z", ten, 4),
            Some(false)
        );
        // A short window still gets the full grace.
        let one = Duration::from_secs(1);
        assert_eq!(
            decided("2026-11-23T00:01:00Z", "2026-11-23T00:00:50Z", one, 3),
            None
        );
        assert_eq!(
            decided("2026-11-23T00:01:00Z", "2026-11-23T00:00:40Z", one, 3),
            Some(false)
        );
    }

    /// Heartbeats are timed by when the hub saw them change, whatever the
    /// agent's clock wrote.
    #[test]
    fn sightings_time_renewals_by_the_hubs_clock() {
        let mut sightings = Sightings::default();
        let leases = |entries: &[(&str, &str)]| -> BTreeMap<String, Timestamp> {
            entries
                .iter()
                .map(|(ns, renewed)| ((*ns).to_owned(), at(renewed)))
                .collect()
        };
        // An agent whose clock runs an hour ahead.
        let ahead = "2026-11-23T01:00:00Z";
        let first = sightings.observe(
            leases(&[
                ("fedway-member-a", ahead),
                ("fedway-member-b", "2026-11-23T00:00:00Z"),
            ]),
            at("2026-11-23T00:00:01Z"),
        );
        assert_eq!(first["fedway-member-a"], Heartbeat::BeforeLooking);
        assert_eq!(first["fedway-member-b"], Heartbeat::BeforeLooking);
        // a renews (its value changes); b does not; c joins.
        let second = sightings.observe(
            leases(&[
                ("fedway-member-a", "2026-11-23T01:00:10Z"),
                ("fedway-member-b", "2026-11-23T00:00:00Z"),
                ("fedway-member-c", "2026-11-23T00:00:10Z"),
            ]),
            at("2026-11-23T00:00:11Z"),
        );
        assert_eq!(
            second["fedway-member-a"],
            Heartbeat::SeenAt(at("2026-11-23T00:00:11Z"))
        );
        assert_eq!(second["fedway-member-b"], Heartbeat::BeforeLooking);
        assert_eq!(
            second["fedway-member-c"],
            Heartbeat::SeenAt(at("2026-11-23T00:00:11Z"))
        );
        // a stops: its future renewTime does not keep it fresh.
        let later = at("2026-11-23T00:01:00Z");
        let third = sightings.observe(
            leases(&[("fedway-member-a", "2026-11-23T01:00:10Z")]),
            later,
        );
        let a = readiness(
            later,
            third["fedway-member-a"],
            at("2026-11-23T00:00:01Z"),
            Duration::from_secs(10),
            4,
        )
        .expect("decided");
        assert_eq!(
            (a.ready, a.reason),
            (false, "HeartbeatMissed"),
            "{}",
            a.message
        );
        // After a blind spell, nothing is known again.
        sightings.blind();
        let resumed = sightings.observe(
            leases(&[("fedway-member-a", "2026-11-23T01:00:10Z")]),
            later,
        );
        assert_eq!(resumed["fedway-member-a"], Heartbeat::BeforeLooking);
    }
}
