//! Reports this server's probe results into `status.endpoints` of the
//! DNSPolicies behind the records, so `kubectl get dnspolicy -o yaml` shows
//! per-endpoint health. Only one server should report (the one beside the
//! hub); the hub controller owns the conditions of the same status.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use fedway_crds::{DNSPolicy, dns_policy::EndpointHealth};
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use serde_json::json;

use crate::{health::Health, probe::ProbeReport, state::Served};

pub const FIELD_MANAGER: &str = "fedway-dns";
/// The schema's bound on `status.endpoints`.
const MAX_ENDPOINTS: usize = 256;

type PolicyKey = (String, String);

/// Groups probe reports by policy, in a stable order.
pub fn by_policy(reports: &[ProbeReport]) -> BTreeMap<PolicyKey, Vec<EndpointHealth>> {
    let mut grouped: BTreeMap<PolicyKey, Vec<EndpointHealth>> = BTreeMap::new();
    for report in reports {
        let Some(policy) = &report.target.policy else {
            continue;
        };
        let endpoints = grouped.entry(policy.clone()).or_default();
        if endpoints.len() >= MAX_ENDPOINTS {
            continue;
        }
        endpoints.push(EndpointHealth {
            cluster_name: report.target.cluster.clone(),
            address: report.target.address.to_string(),
            healthy: report.health.serves(),
            reason: match (report.health, &report.last_error) {
                (Health::Unknown, _) => "NotProbedYet".into(),
                (_, Some(error)) => format!("{}: {error}", report.target.hostname),
                (_, None) => format!("{}: probe passed", report.target.hostname),
            },
        });
    }
    grouped
}

/// Writes changed endpoint health every `period` until the task is dropped.
pub async fn run(client: Client, served: Arc<Served>, period: Duration) {
    let mut written: BTreeMap<PolicyKey, Vec<EndpointHealth>> = BTreeMap::new();
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now = by_policy(&served.reports());
        for ((namespace, name), endpoints) in &now {
            let key = (namespace.clone(), name.clone());
            if written.get(&key) == Some(endpoints) {
                continue;
            }
            let api: Api<DNSPolicy> = Api::namespaced(client.clone(), namespace);
            let patch = json!({
                "apiVersion": "fedway.dev/v1alpha1",
                "kind": "DNSPolicy",
                "status": {"endpoints": endpoints},
            });
            match api
                .patch_status(
                    name,
                    &PatchParams::apply(FIELD_MANAGER).force(),
                    &Patch::Apply(patch),
                )
                .await
            {
                Ok(_) => {
                    written.insert(key, endpoints.clone());
                }
                // A policy deleted since the record was computed, or the
                // API server away: try again next period.
                Err(error) => {
                    tracing::debug!(%error, namespace, name, "reporting endpoint health failed");
                }
            }
        }
        written.retain(|key, _| now.contains_key(key));
    }
}

#[cfg(test)]
mod tests {
    use fedway_crds::dns_policy::HealthCheck;

    use super::*;
    use crate::zone::ProbeTarget;

    fn report(
        policy: Option<(&str, &str)>,
        cluster: &str,
        health: Health,
        error: Option<&str>,
    ) -> ProbeReport {
        ProbeReport {
            target: ProbeTarget {
                hostname: "shop.example.com".into(),
                cluster: cluster.into(),
                address: "192.0.2.1".parse().expect("ip"),
                check: serde_json::from_value::<HealthCheck>(serde_json::json!({})).expect("check"),
                policy: policy.map(|(ns, n)| (ns.into(), n.into())),
            },
            health,
            last_error: error.map(Into::into),
        }
    }

    #[test]
    fn groups_by_policy_with_reasons() {
        let grouped = by_policy(&[
            report(Some(("web", "shop")), "east", Health::Healthy, None),
            report(
                Some(("web", "shop")),
                "west",
                Health::Unhealthy,
                Some("no answer within 1s"),
            ),
            report(Some(("web", "blog")), "east", Health::Unknown, None),
            report(None, "east", Health::Healthy, None),
        ]);
        let shop = &grouped[&("web".to_owned(), "shop".to_owned())];
        assert_eq!(
            shop.iter()
                .map(|e| (e.cluster_name.as_str(), e.healthy, e.reason.as_str()))
                .collect::<Vec<_>>(),
            [
                ("east", true, "shop.example.com: probe passed"),
                ("west", false, "shop.example.com: no answer within 1s"),
            ]
        );
        assert_eq!(
            grouped[&("web".to_owned(), "blog".to_owned())][0].reason,
            "NotProbedYet"
        );
        assert_eq!(
            grouped.len(),
            2,
            "records without a policy are not reported"
        );
    }
}
