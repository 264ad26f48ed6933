//! The agent's heartbeat and self-report: it renews a Lease in its hub
//! namespace every interval (the hub derives Ready from it) and keeps its
//! MemberCluster's status current: Kubernetes and agent versions and the
//! GatewayClasses the member has. The heartbeat is the member's, not just
//! the agent's: it is renewed only while the member's API server answers.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use fedway_crds::{MemberCluster, member_cluster::DiscoveredGatewayClass};
use k8s_openapi::{api::coordination::v1::Lease, apimachinery::pkg::apis::meta::v1::MicroTime};
use kube::{
    Api,
    api::{DynamicObject, Patch, PatchParams},
};
use serde_json::{Value, json};

use crate::{Error, FIELD_MANAGER, hub_error, member::Report, reconcile::Context};

/// Name of the agent's Lease in its hub namespace.
pub const LEASE_NAME: &str = "fedway-agent";
const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// Renews the lease and reports, forever. Failures are logged and retried
/// with backoff within each interval; nothing is ever deleted because the
/// hub cannot be reached.
pub async fn run(ctx: &Context) {
    let mut last_report: Option<Report> = None;
    let mut interval = DEFAULT_INTERVAL;
    loop {
        interval = heartbeat_interval(ctx, interval).await;
        let current = ctx.member.report().await;
        if current.is_ok() {
            let renew = || renew_lease(ctx, interval);
            match renew
                .retry(backoff(interval))
                .notify(
                    |e, after| tracing::warn!(%e, ?after, "renewing the lease failed; retrying"),
                )
                .await
            {
                Ok(()) => {
                    ctx.metrics.lease_renewals.inc();
                    ctx.metrics
                        .last_renewal_seconds
                        .set(k8s_openapi::jiff::Timestamp::now().as_second());
                }
                Err(error) => {
                    ctx.metrics.lease_renewal_failures.inc();
                    tracing::error!(%error, "could not renew the lease this interval");
                }
            }
        }
        match current {
            Ok(current) if last_report.as_ref() != Some(&current) => {
                match send_report(ctx, &current).await {
                    Ok(()) => last_report = Some(current),
                    Err(error) => tracing::warn!(%error, "reporting member status failed"),
                }
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "the member does not answer; not renewing the lease")
            }
        }
        tokio::time::sleep(interval).await;
    }
}

fn backoff(interval: Duration) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(interval / 2)
        .with_max_times(3)
        .with_jitter()
}

/// The interval the agent's MemberCluster asks for; `previous` when it
/// cannot be read (a slow or unreachable hub must not make the agent fall
/// back to the 10 s default and look late against a shorter interval).
async fn heartbeat_interval(ctx: &Context, previous: Duration) -> Duration {
    let members: Api<MemberCluster> = Api::all(ctx.hub.clone());
    match members.get(&ctx.cluster).await {
        Ok(member) => member
            .spec
            .heartbeat
            .interval
            .to_std()
            .unwrap_or(DEFAULT_INTERVAL),
        Err(error) => {
            tracing::warn!(%error, ?previous, "reading own MemberCluster failed; keeping the heartbeat interval");
            previous
        }
    }
}

async fn renew_lease(ctx: &Context, interval: Duration) -> Result<(), Error> {
    let leases: Api<Lease> = Api::namespaced(ctx.hub.clone(), &ctx.namespace);
    let lease = json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": LEASE_NAME, "namespace": ctx.namespace},
        "spec": {
            "holderIdentity": format!("{}/{}", ctx.cluster, hostname()),
            "leaseDurationSeconds": interval.as_secs().max(1),
            "renewTime": MicroTime(k8s_openapi::jiff::Timestamp::now()),
        },
    });
    leases
        .patch(
            LEASE_NAME,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&lease),
        )
        .await
        .map_err(hub_error(
            "renewing",
            format!("Lease {}/{LEASE_NAME}", ctx.namespace),
        ))?;
    Ok(())
}

/// The GatewayClasses a member lists, as its MemberCluster reports them:
/// sorted by name, at most 64.
pub(crate) fn gateway_classes(listed: &[DynamicObject]) -> Vec<DiscoveredGatewayClass> {
    let mut found: Vec<DiscoveredGatewayClass> = listed
        .iter()
        .map(|class| DiscoveredGatewayClass {
            name: class.metadata.name.clone().unwrap_or_default(),
            controller_name: class.data["spec"]["controllerName"]
                .as_str()
                .unwrap_or_default()
                .into(),
            accepted: class.data["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Accepted" && c["status"] == "True"),
            supported_features: supported_features(&class.data["status"]),
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found.truncate(64);
    found
}

/// The most features kept of one class (the Work CRD's bound).
const MAX_FEATURES: usize = 128;

/// A GatewayClass's `status.supportedFeatures`, sorted: objects with a name
/// since Gateway API v1.2, plain names before.
fn supported_features(status: &Value) -> Vec<String> {
    let mut features: Vec<String> = status["supportedFeatures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["name"].as_str().or(f.as_str()))
        .filter(|name| !name.is_empty() && name.len() <= 253)
        .map(str::to_owned)
        .collect();
    features.sort();
    features.dedup();
    features.truncate(MAX_FEATURES);
    features
}

async fn send_report(ctx: &Context, report: &Report) -> Result<(), Error> {
    let members: Api<MemberCluster> = Api::all(ctx.hub.clone());
    let status = json!({
        "apiVersion": "fedway.dev/v1alpha1", "kind": "MemberCluster",
        "status": {
            "kubernetesVersion": report.kubernetes_version,
            "agentVersion": env!("CARGO_PKG_VERSION"),
            "gatewayClasses": report.gateway_classes,
        },
    });
    members
        .patch_status(
            &ctx.cluster,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&status),
        )
        .await
        .map_err(hub_error(
            "reporting status of",
            format!("MemberCluster {}", ctx.cluster),
        ))?;
    Ok(())
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "agent".into())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn supported_features_in_either_format_sorted_and_bounded() {
        let cases = [
            (json!({}), vec![]),
            (
                json!({"supportedFeatures": [{"name": "HTTPRouteQueryParamMatching"}, {"name": "Gateway"}, {"name": ""}, {}]}),
                vec!["Gateway", "HTTPRouteQueryParamMatching"],
            ),
            // Gateway API v1.1 and before: plain names.
            (
                json!({"supportedFeatures": ["HTTPRoute", "Gateway", "HTTPRoute"]}),
                vec!["Gateway", "HTTPRoute"],
            ),
        ];
        for (status, want) in cases {
            assert_eq!(supported_features(&status), want, "{status}");
        }
        let many: Vec<Value> = (0..500)
            .map(|i| json!({"name": format!("F{i:03}")}))
            .collect();
        let kept = supported_features(&json!({"supportedFeatures": many}));
        assert_eq!(kept.len(), MAX_FEATURES);
        assert_eq!(kept[0], "F000");
    }
}
