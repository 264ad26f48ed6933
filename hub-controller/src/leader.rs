//! Leader election on a Lease, so two hub replicas do not fight: only the
//! holder runs the controllers; a replica that loses the lease stops.

use std::time::Duration;

use tokio::time::Instant;

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta},
    jiff::Timestamp,
};
use kube::{
    Api, Client,
    api::{PostParams, ResourceExt},
};

use crate::{Error, api_error};

/// Where and as whom to hold the lease.
#[derive(Clone, Debug)]
pub struct LeaderConfig {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    pub lease_duration: Duration,
}

impl LeaderConfig {
    /// How long the leader keeps trying to renew before it stops writing
    /// (client-go's renewDeadline: 10 s of a 15 s lease). A candidate takes
    /// over only after seeing the lease unchanged for a whole
    /// `lease_duration`, so the leader has always stepped down by then,
    /// whatever its API server connection does.
    pub fn renew_deadline(&self) -> Duration {
        self.lease_duration * 2 / 3
    }

    /// Pause between attempts (client-go's retryPeriod: 2 s of 15 s).
    fn retry_period(&self) -> Duration {
        self.lease_duration / 7
    }
}

/// Whether `me` may take a lease held by `holder`, which this replica has
/// seen unchanged (same resourceVersion) for `unchanged_for`, by its own
/// monotonic clock. Pure. Judging by when the record was seen to change,
/// not by the `renewTime` the holder wrote, makes the decision immune to a
/// holder whose clock is skewed.
pub fn can_take(
    me: &str,
    holder: Option<&str>,
    unchanged_for: Duration,
    lease_duration: Duration,
) -> bool {
    match holder {
        None | Some("") => true,
        Some(holder) if holder == me => true,
        Some(_) => unchanged_for > lease_duration,
    }
}

/// The lease record this replica last saw, and since when (its clock).
#[derive(Debug, Default)]
pub struct Observed {
    record: Option<(String, Instant)>,
}

impl Observed {
    /// How long `resource_version` has been the record seen, as of `now`.
    pub fn unchanged_for(&mut self, resource_version: &str, now: Instant) -> Duration {
        match &self.record {
            Some((seen, since)) if seen == resource_version => now.duration_since(*since),
            _ => {
                self.record = Some((resource_version.to_owned(), now));
                Duration::ZERO
            }
        }
    }
}

/// Waits until this replica holds the lease; returns when the winning
/// attempt started (the lease counts from then). Failed attempts are
/// logged and retried: a candidate never gives up.
pub async fn acquire(client: &Client, config: &LeaderConfig) -> Instant {
    let mut observed = Observed::default();
    loop {
        let started = Instant::now();
        match tokio::time::timeout(
            config.renew_deadline(),
            try_take(client, config, &mut observed),
        )
        .await
        {
            Ok(Ok(true)) => {
                tracing::info!(
                    identity = config.identity,
                    lease = config.name,
                    "became leader"
                );
                return started;
            }
            Ok(Ok(false)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "taking the leader lease failed; retrying"),
            Err(_) => tracing::warn!(
                lease = config.name,
                "taking the leader lease timed out; retrying"
            ),
        }
        tokio::time::sleep(config.retry_period()).await;
    }
}

/// Renews the lease until it is lost, or cannot be renewed within the
/// renew deadline of the last renewal (`held_since`: when the winning or
/// last successful attempt started); returns then, and the caller stops
/// every writer. Each attempt is bounded by that deadline, so a request
/// hanging on a silent connection cannot keep a deposed leader running.
pub async fn hold(client: &Client, config: &LeaderConfig, held_since: Instant) -> Error {
    let mut renewed = held_since;
    let mut observed = Observed::default();
    loop {
        tokio::time::sleep(config.retry_period()).await;
        let deadline = renewed + config.renew_deadline();
        let started = Instant::now();
        match tokio::time::timeout_at(deadline, try_take(client, config, &mut observed)).await {
            Ok(Ok(true)) => renewed = started,
            Ok(Ok(false)) => {
                return Error::LostLeadership(format!(
                    "lease {} taken by another replica",
                    config.name
                ));
            }
            Ok(Err(error)) if Instant::now() >= deadline => {
                return Error::LostLeadership(format!(
                    "could not renew lease {} within {:?}: {error}",
                    config.name,
                    config.renew_deadline()
                ));
            }
            Ok(Err(error)) => tracing::warn!(%error, "renewing the leader lease failed; retrying"),
            Err(_) => {
                return Error::LostLeadership(format!(
                    "could not renew lease {} within {:?}: the API server did not answer",
                    config.name,
                    config.renew_deadline()
                ));
            }
        }
    }
}

/// One attempt: create, renew or take over the lease. Optimistic
/// concurrency (resourceVersion) makes two replicas racing see one win.
async fn try_take(
    client: &Client,
    config: &LeaderConfig,
    observed: &mut Observed,
) -> Result<bool, Error> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), &config.namespace);
    let now = Timestamp::now();
    let spec = |previous: Option<&LeaseSpec>| LeaseSpec {
        holder_identity: Some(config.identity.clone()),
        lease_duration_seconds: Some(
            i32::try_from(config.lease_duration.as_secs()).unwrap_or(i32::MAX),
        ),
        renew_time: Some(MicroTime(now)),
        acquire_time: previous
            .filter(|p| p.holder_identity.as_deref() == Some(config.identity.as_str()))
            .and_then(|p| p.acquire_time.clone())
            .or(Some(MicroTime(now))),
        ..Default::default()
    };
    let what = format!("Lease {}/{}", config.namespace, config.name);
    let Some(current) = leases
        .get_opt(&config.name)
        .await
        .map_err(api_error("reading", what.clone()))?
    else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(config.name.clone()),
                namespace: Some(config.namespace.clone()),
                ..Default::default()
            },
            spec: Some(spec(None)),
        };
        return match leases.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(api_error("creating", what)(e)),
        };
    };
    let previous = current.spec.as_ref();
    let holder = previous.and_then(|s| s.holder_identity.as_deref());
    let duration = previous
        .and_then(|s| s.lease_duration_seconds)
        .map_or(config.lease_duration, |s| {
            Duration::from_secs(u64::try_from(s).unwrap_or(0))
        });
    let unchanged_for = observed.unchanged_for(
        current
            .metadata
            .resource_version
            .as_deref()
            .unwrap_or_default(),
        Instant::now(),
    );
    if !can_take(&config.identity, holder, unchanged_for, duration) {
        return Ok(false);
    }
    let mut updated = current.clone();
    updated.spec = Some(spec(previous));
    match leases
        .replace(&current.name_any(), &PostParams::default(), &updated)
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(e) => Err(api_error("renewing", what)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_takeover_table() {
        let fifteen = Duration::from_secs(15);
        let cases = [
            ("free", None, 0, true),
            ("empty holder", Some(""), 0, true),
            ("mine", Some("me"), 0, true),
            ("held, seen changing", Some("other"), 14, false),
            ("held, exactly a lease unchanged", Some("other"), 15, false),
            (
                "held, unchanged longer than a lease",
                Some("other"),
                16,
                true,
            ),
        ];
        for (name, holder, unchanged, want) in cases {
            assert_eq!(
                can_take("me", holder, Duration::from_secs(unchanged), fifteen),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn a_record_is_timed_from_when_it_was_first_seen() {
        let t0 = Instant::now();
        let mut observed = Observed::default();
        assert_eq!(observed.unchanged_for("1", t0), Duration::ZERO);
        assert_eq!(
            observed.unchanged_for("1", t0 + Duration::from_secs(5)),
            Duration::from_secs(5)
        );
        // A renewal (new resourceVersion) restarts the count, whatever
        // renewTime the holder's clock wrote into it.
        assert_eq!(
            observed.unchanged_for("2", t0 + Duration::from_secs(6)),
            Duration::ZERO
        );
        assert_eq!(
            observed.unchanged_for("2", t0 + Duration::from_secs(20)),
            Duration::from_secs(14)
        );
    }

    #[test]
    fn the_leader_steps_down_before_a_candidate_may_take_over() {
        let config = LeaderConfig {
            namespace: "fedway-system".into(),
            name: "fedway-hub".into(),
            identity: "me".into(),
            lease_duration: Duration::from_secs(15),
        };
        assert_eq!(config.renew_deadline(), Duration::from_secs(10));
        assert!(config.renew_deadline() + config.retry_period() < config.lease_duration);
    }
}
