//! Global DNS: one reconciler over everything a DNSRecord depends on
//! (Gateways, GatewayClasses, routes, ListenerSets, DNSPolicies, DNSZones,
//! MemberClusters, Works and the DNSRecords themselves), read from the hub's
//! index ([`crate::index`]) so a pass reads memory, not the API server, and
//! woken by the changes to those kinds. A burst of changes is coalesced into
//! one pass; a pass that changes nothing writes nothing, so a restart costs
//! no writes.
//!
//! Each pass (decisions in `dns_records`, pure):
//! - DNSRecords in the hub, server-side applied (field manager `fedway-hub`),
//!   labelled `fedway.dev/computed-by=fedway-hub`; labelled records no longer
//!   computed are deleted;
//! - each DNSPolicy's `Accepted` condition (only `status.conditions` is
//!   applied: the DNS servers own `status.endpoints`);
//! - the Works `fedway-dns-<i>` in the hub namespace of every member that
//!   serves DNS (`MemberCluster.spec.servesDNS`), holding every DNSZone and
//!   every DNSRecord between them, so each member's DNS server has the whole
//!   picture and answers on its own when the hub is gone. `dns_works` cuts
//!   the data into Works far from etcd's limits and orders the writes so
//!   that no object goes missing while it moves between Works.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use fedway_crds::{
    DNSPolicy, DNSRecord, DNSRecordSpec, DNSZone, MemberCluster, Work, WorkSpec,
    work::{DeletionPolicy, Manifest, TakeoverPolicy},
};
use fedway_runtime::mirror::{Pass, Passes};
use futures::{StreamExt, TryStreamExt, future::try_join_all, stream};
use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, Patch, PatchParams},
};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::{
    Error, FIELD_MANAGER, api_error,
    dns_records::{self, Inputs, MemberGateway, PlacedGateway, RouteId, Verdict},
    dns_works,
    gateways::{CONTROLLER_NAME, GATEWAY_ANNOTATION, WRITES_AT_ONCE},
    index::Index,
    join,
    metrics::HubMetrics,
    route_kinds, status,
    work_builder::{self, ObjectKey},
};

/// Label on the DNSRecords (and DNS Works) the hub owns: only these are
/// ever deleted by it. Not the agent's `fedway.dev/managed-by`: when the hub
/// is also joined as a member, its agent adopts the hub's own records (they
/// match), and one shared key would make hub and agent flip it forever.
pub const MANAGED_LABEL: &str = "fedway.dev/computed-by";
pub const MANAGED_VALUE: &str = "fedway-hub";
/// Changes arriving within this window are handled by one pass.
const DEBOUNCE: Duration = Duration::from_millis(200);
/// Pause before retrying a failed pass.
const RETRY: Duration = Duration::from_secs(2);

/// Keeps DNSRecords, DNSPolicy status and the members' DNS Works current,
/// forever: a pass once the index has listed, then one after each burst of
/// the changes `changed` announces (those of the kinds DNS reads).
pub async fn run(client: Client, metrics: Arc<HubMetrics>, index: Index, changed: Arc<Notify>) {
    let passes = Passes {
        debounce: DEBOUNCE,
        retry: RETRY,
    };
    passes
        .run(index.ready(), &changed, || async {
            let _timer = metrics.dns.start();
            match reconcile(&client, &metrics, &index).await {
                Ok(pass) => pass,
                Err(error) => {
                    metrics.dns.failed();
                    tracing::warn!(%error, "global DNS pass failed; retrying");
                    Pass::Retry
                }
            }
        })
        .await;
}

/// One pass; `Retry` when something could not be written yet (a member's
/// namespace is still being created).
async fn reconcile(client: &Client, metrics: &HubMetrics, index: &Index) -> Result<Pass, Error> {
    let ours: BTreeSet<String> = index
        .classes
        .state()
        .iter()
        .filter(|c| c.data["spec"]["controllerName"] == CONTROLLER_NAME)
        .map(|c| c.name_any())
        .collect();
    let gateways: Vec<Value> = index
        .gateways
        .state()
        .iter()
        .filter(|g| g.metadata.deletion_timestamp.is_none())
        .filter(|g| {
            g.data["spec"]["gatewayClassName"]
                .as_str()
                .is_some_and(|c| ours.contains(c))
        })
        .filter_map(|g| serde_json::to_value(g.as_ref()).ok())
        .collect();
    let members: Vec<MemberCluster> = index
        .members
        .state()
        .iter()
        .filter(|m| m.metadata.deletion_timestamp.is_none())
        .map(|m| m.as_ref().clone())
        .collect();
    let namespaces: BTreeMap<String, String> = members
        .iter()
        .map(|m| (join::member_namespace(&m.name_any()), m.name_any()))
        .collect();
    let works = index.works.state();

    // Where each Gateway is placed, and what each member reports of it.
    let mut placements: BTreeMap<String, Vec<MemberGateway>> = BTreeMap::new();
    for work in &works {
        let (Some(gateway), Some(cluster)) = (
            work.annotations().get(GATEWAY_ANNOTATION),
            work.namespace().and_then(|ns| namespaces.get(&ns)),
        ) else {
            continue;
        };
        let Some(key) = gateway.split_once('/') else {
            continue;
        };
        let mut member = status::member_gateway(cluster, key, work.status.as_ref());
        // Routes the hub withholds from the member serve nothing there.
        member.failing_routes.extend(
            work.spec
                .withheld
                .iter()
                .map(|w| RouteId::from(&w.identity)),
        );
        placements.entry(gateway.clone()).or_default().push(member);
    }
    let listener_sets = Index::values(&index.listener_sets);
    let placed: Vec<PlacedGateway<'_>> = gateways
        .iter()
        .map(|gateway| {
            let key = format!(
                "{}/{}",
                gateway["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default(),
                gateway["metadata"]["name"].as_str().unwrap_or_default()
            );
            PlacedGateway {
                gateway,
                listener_sets: work_builder::listener_sets_of(
                    &ObjectKey::of(gateway),
                    &listener_sets,
                )
                .collect(),
                members: placements.remove(&key).unwrap_or_default(),
            }
        })
        .collect();
    let policies: Vec<DNSPolicy> = index
        .dns_policies
        .state()
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| p.as_ref().clone())
        .collect();
    let zones: Vec<DNSZone> = index
        .zones
        .state()
        .iter()
        .filter(|z| z.metadata.deletion_timestamp.is_none())
        .map(|z| z.as_ref().clone())
        .collect();
    let apexes: Vec<String> = zones.iter().map(|z| z.spec.zone.clone()).collect();
    let existing: BTreeMap<String, DNSRecord> = index
        .records
        .state()
        .iter()
        .filter(|r| r.labels().get(MANAGED_LABEL).map(String::as_str) == Some(MANAGED_VALUE))
        .map(|r| (r.name_any(), r.as_ref().clone()))
        .collect();
    let previous: BTreeMap<String, DNSRecordSpec> = existing
        .iter()
        .map(|(name, record)| (name.clone(), record.spec.clone()))
        .collect();

    let routes = Index::values(
        index
            .routes
            .iter()
            .filter(|(resource, _)| route_kinds::has_hostnames(&resource.kind))
            .map(|(_, store)| store),
    );
    let computed = dns_records::compute(&Inputs {
        gateways: &placed,
        routes: &routes,
        policies: &policies,
        zones: &apexes,
        members: &members,
        previous: &previous,
    });
    write_records(client, metrics, &computed.records, &existing).await?;
    for policy in &policies {
        if let Some(verdict) = computed
            .policies
            .get(&(policy.namespace().unwrap_or_default(), policy.name_any()))
        {
            write_policy_status(client, policy, verdict).await?;
        }
    }
    let manifests = dns_records::work_manifests(&zones, &computed.records);
    let dns_works::Chunks { chunks, bytes } = dns_works::chunks(&manifests);
    metrics
        .dns_data_bytes
        .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    metrics
        .dns_works
        .set(i64::try_from(chunks.iter().filter(|c| !c.is_empty()).count()).unwrap_or(i64::MAX));
    // Each member's DNS Works, found in one scan of the Works.
    let mut held: BTreeMap<String, Vec<Arc<Work>>> = BTreeMap::new();
    for work in &works {
        if work.labels().get(MANAGED_LABEL).map(String::as_str) == Some(MANAGED_VALUE)
            && dns_works::is_dns_work(&work.name_any())
        {
            held.entry(work.namespace().unwrap_or_default())
                .or_default()
                .push(work.clone());
        }
    }
    // A member that serves no DNS gets none: its DNS Works go.
    let writes: Vec<_> = members
        .iter()
        .map(|member| {
            let wanted = if member.spec.serves_dns {
                &chunks[..]
            } else {
                &[]
            };
            let held = held
                .get(&join::member_namespace(&member.name_any()))
                .map(Vec::as_slice)
                .unwrap_or_default();
            write_works(client, metrics, member, held, wanted)
        })
        .collect();
    let written: Vec<bool> = stream::iter(writes)
        .buffer_unordered(WRITES_AT_ONCE)
        .try_collect()
        .await?;
    Ok(if written.iter().all(|w| *w) {
        Pass::Done
    } else {
        Pass::Retry
    })
}

async fn write_records(
    client: &Client,
    metrics: &HubMetrics,
    computed: &BTreeMap<String, DNSRecordSpec>,
    existing: &BTreeMap<String, DNSRecord>,
) -> Result<(), Error> {
    let api: Api<DNSRecord> = Api::all(client.clone());
    let changed = computed
        .iter()
        .filter(|(name, spec)| existing.get(*name).is_none_or(|r| r.spec != **spec));
    try_join_all(changed.map(|(name, spec)| {
        let api = api.clone();
        async move {
            let record = json!({
                "apiVersion": "fedway.dev/v1alpha1", "kind": "DNSRecord",
                "metadata": {"name": name, "labels": {MANAGED_LABEL: MANAGED_VALUE}},
                "spec": spec,
            });
            api.patch(
                name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&record),
            )
            .await
            .map_err(api_error("writing", format!("DNSRecord {name}")))?;
            metrics.dns_records_written.inc();
            tracing::info!(
                record = name,
                endpoints = spec.endpoints.len(),
                "DNSRecord written"
            );
            Ok::<_, Error>(())
        }
    }))
    .await?;
    for name in existing.keys().filter(|name| !computed.contains_key(*name)) {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {
                metrics.dns_records_deleted.inc();
                tracing::info!(record = name, "DNSRecord deleted: no longer published");
            }
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => return Err(api_error("deleting", format!("DNSRecord {name}"))(e)),
        }
    }
    Ok(())
}

/// Applies the policy's `Accepted` condition when it changed. Only that
/// condition is in the patch, so other writers' conditions and
/// `status.endpoints` are left alone.
async fn write_policy_status(
    client: &Client,
    policy: &DNSPolicy,
    verdict: &Verdict,
) -> Result<(), Error> {
    let status = if verdict.accepted { "True" } else { "False" };
    let message: String = verdict.message.chars().take(32_000).collect();
    let generation = policy.metadata.generation;
    let before = policy
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Accepted"));
    if before.is_some_and(|c| {
        c.status == status
            && c.reason == verdict.reason
            && c.message == message
            && c.observed_generation == generation
    }) {
        return Ok(());
    }
    let condition = Condition {
        type_: "Accepted".into(),
        status: status.into(),
        reason: verdict.reason.into(),
        message,
        // Keep the transition time unless the status itself changed.
        last_transition_time: before.filter(|c| c.status == status).map_or_else(
            || Time(Timestamp::now()),
            |c| c.last_transition_time.clone(),
        ),
        observed_generation: generation,
    };
    crate::apply_status(client, policy, json!({"conditions": [condition]})).await
}

/// Takes member `cluster`'s DNS Works from `held` to `wanted` (chunk `i`
/// in Work `fedway-dns-<i>`) in the order `dns_works::plan` gives. Returns
/// false when the member's namespace does not exist yet.
async fn write_works(
    client: &Client,
    metrics: &HubMetrics,
    member: &MemberCluster,
    held: &[Arc<Work>],
    wanted: &[Vec<Manifest>],
) -> Result<bool, Error> {
    let cluster = &member.name_any();
    let namespace = join::member_namespace(cluster);
    let current: BTreeMap<String, Vec<Manifest>> = held
        .iter()
        .map(|w| (w.name_any(), w.spec.manifests.clone()))
        .collect();
    let plan = dns_works::plan(&current, wanted);
    let api = Api::<Work>::namespaced(client.clone(), &namespace);
    for phase in [&plan.grow, &plan.settle] {
        let written = try_join_all(
            phase
                .iter()
                .map(|(name, manifests)| write_work(&api, metrics, cluster, name, manifests)),
        )
        .await?;
        if !written.iter().all(|w| *w) {
            return Ok(false);
        }
    }
    // The agent sweeps a deleted Work's objects by the Works their
    // annotation names, that is by what it has applied. Not yet: the
    // agent's status update brings the next pass.
    let staying_applied = held
        .iter()
        .filter(|w| !plan.delete.contains(&w.name_any()))
        .all(|w| dns_works::applied(w));
    if !plan.grow.is_empty() || !plan.settle.is_empty() || !staying_applied {
        return Ok(true);
    }
    for name in &plan.delete {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {
                metrics.works_deleted.inc();
                tracing::info!(member = cluster, work = name, "DNS Work deleted");
            }
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => return Err(api_error("deleting", format!("Work {namespace}/{name}"))(e)),
        }
    }
    Ok(true)
}

/// Applies one DNS Work. Returns false when the member's namespace does not
/// exist yet.
async fn write_work(
    api: &Api<Work>,
    metrics: &HubMetrics,
    cluster: &str,
    name: &str,
    manifests: &[Manifest],
) -> Result<bool, Error> {
    let spec = WorkSpec {
        manifests: manifests.to_vec(),
        // A member's DNS data is Fedway's alone; an object of the same name
        // made by someone else is reported, not overwritten.
        takeover: TakeoverPolicy::IfNoDiff,
        deletion_policy: DeletionPolicy::Delete,
        secrets: vec![],
        withheld: vec![],
    };
    let work = json!({
        "apiVersion": "fedway.dev/v1alpha1", "kind": "Work",
        "metadata": {"name": name, "labels": {MANAGED_LABEL: MANAGED_VALUE}},
        "spec": spec,
    });
    match api
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&work),
        )
        .await
    {
        Ok(_) => {
            metrics.works_written.inc();
            tracing::info!(
                member = cluster,
                work = name,
                objects = manifests.len(),
                "DNS Work written"
            );
            Ok(true)
        }
        // Joining creates the MemberCluster before its namespace.
        Err(kube::Error::Api(status)) if status.code == 404 => {
            tracing::debug!(member = cluster, "no hub namespace yet for the DNS Works");
            Ok(false)
        }
        Err(e) => Err(api_error(
            "writing",
            format!("Work {}/{name}", join::member_namespace(cluster)),
        )(e)),
    }
}
