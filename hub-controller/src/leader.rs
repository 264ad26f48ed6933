//! Leader election on a Lease, so two hub replicas do not fight: only the
//! holder runs the controllers; a replica that loses the lease stops.

use std::time::Duration;

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

/// Whether `me` may take a lease held by `holder`, last renewed at
/// `renewed`, at `now`. Pure.
pub fn can_take(
    me: &str,
    holder: Option<&str>,
    renewed: Option<Timestamp>,
    duration: Duration,
    now: Timestamp,
) -> bool {
    match (holder, renewed) {
        (None, _) | (Some(""), _) | (_, None) => true,
        (Some(holder), _) if holder == me => true,
        (Some(_), Some(renewed)) => {
            now.duration_since(renewed).unsigned_abs() > duration && now > renewed
        }
    }
}

/// Waits until this replica holds the lease.
pub async fn acquire(client: &Client, config: &LeaderConfig) -> Result<(), Error> {
    loop {
        if try_take(client, config).await? {
            tracing::info!(
                identity = config.identity,
                lease = config.name,
                "became leader"
            );
            return Ok(());
        }
        tokio::time::sleep(config.lease_duration / 4).await;
    }
}

/// Renews the lease until it is lost; returns then.
pub async fn hold(client: &Client, config: &LeaderConfig) -> Error {
    let mut last_renewal = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(config.lease_duration / 3).await;
        match try_take(client, config).await {
            Ok(true) => last_renewal = tokio::time::Instant::now(),
            Ok(false) => {
                return Error::LostLeadership(format!(
                    "lease {} taken by another replica",
                    config.name
                ));
            }
            Err(error) if last_renewal.elapsed() > config.lease_duration => {
                return Error::LostLeadership(format!(
                    "could not renew lease {}: {error}",
                    config.name
                ));
            }
            Err(error) => tracing::warn!(%error, "renewing the leader lease failed; retrying"),
        }
    }
}

/// One attempt: create, renew or take over the lease. Optimistic
/// concurrency (resourceVersion) makes two replicas racing see one win.
async fn try_take(client: &Client, config: &LeaderConfig) -> Result<bool, Error> {
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
    let renewed = previous.and_then(|s| s.renew_time.as_ref()).map(|t| t.0);
    let duration = previous
        .and_then(|s| s.lease_duration_seconds)
        .map_or(config.lease_duration, |s| {
            Duration::from_secs(u64::try_from(s).unwrap_or(0))
        });
    if !can_take(&config.identity, holder, renewed, duration, now) {
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
        let now: Timestamp = "2026-11-23T00:01:00Z".parse().expect("timestamp");
        let at = |s: &str| Some(s.parse::<Timestamp>().expect("timestamp"));
        let fifteen = Duration::from_secs(15);
        let cases = [
            ("free", None, None, true),
            ("empty holder", Some(""), at("2026-11-23T00:00:59Z"), true),
            ("mine", Some("me"), at("2026-11-23T00:00:59Z"), true),
            (
                "held and fresh",
                Some("other"),
                at("2026-11-23T00:00:50Z"),
                false,
            ),
            (
                "held and expired",
                Some("other"),
                at("2026-11-23T00:00:40Z"),
                true,
            ),
            (
                "renewed in the future (skew) is not expired",
                Some("other"),
                at("2026-11-23T00:01:30Z"),
                false,
            ),
        ];
        for (name, holder, renewed, want) in cases {
            assert_eq!(
                can_take("me", holder, renewed, fifteen, now),
                want,
                "{name}"
            );
        }
    }
}
