//! The loop: a [`Mirror`] keeps in-memory stores of everything a pass reads; a
//! burst of changes (50 ms) becomes one pass over snapshots of the stores;
//! the pass's [`ProxyConfig`](crate::config::ProxyConfig) goes to the sink
//! and its statuses to the API server.

use std::{collections::BTreeMap, fmt::Debug, sync::Arc, time::Duration};

use fedway_crds::DNSRecord;
use gateway_api::{
    gatewayclasses::GatewayClass, gateways::Gateway, grpcroutes::GrpcRoute, httproutes::HttpRoute,
    referencegrants::ReferenceGrant,
};
use k8s_openapi::{
    api::{
        core::v1::{Namespace, Secret, Service},
        discovery::v1::EndpointSlice,
    },
    jiff::Timestamp,
};
use kube::{
    Api, Client, Resource,
    api::{DeleteParams, ListParams, Patch, PatchParams},
    runtime::{
        events::{Recorder, Reporter},
        reflector::Store,
        watcher,
    },
};
use serde::de::DeserializeOwned;

use fedway_runtime::{
    certificates::TLS_SECRET_TYPE,
    mirror::{Mirror, Pass, Passes},
};

use super::{
    ConfigSink, Error, FIELD_MANAGER, ObjectKey, Settings,
    compute::{self, RouteOutcome, Snapshot},
    conditions::Cond,
    events, publish, status_writer,
};
use crate::grpc::{self, RouteKind};

/// Changes arriving within this window are handled by one pass.
const DEBOUNCE: Duration = Duration::from_millis(50);
/// Pause before retrying a pass whose writes failed.
const RETRY: Duration = Duration::from_secs(1);

struct Stores {
    classes: Store<GatewayClass>,
    gateways: Store<Gateway>,
    routes: Store<HttpRoute>,
    grpc_routes: Store<GrpcRoute>,
    grants: Store<ReferenceGrant>,
    services: Store<Service>,
    slices: Store<EndpointSlice>,
    secrets: Store<Secret>,
    namespaces: Store<Namespace>,
    /// Only where Fedway's CRDs are installed (see [`dns_records_served`]).
    dns_records: Option<Store<DNSRecord>>,
}

impl Stores {
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            classes: self.classes.state(),
            gateways: self.gateways.state(),
            routes: self.routes.state(),
            grpc_routes: self.grpc_routes.state(),
            grants: self.grants.state(),
            services: self.services.state(),
            slices: self.slices.state(),
            secrets: self.secrets.state(),
            namespaces: self.namespaces.state(),
            dns_records: self
                .dns_records
                .as_ref()
                .map(Store::state)
                .unwrap_or_default(),
        }
    }
}

/// Runs the controller until the watches end (they retry with backoff, so
/// in practice until the future is dropped).
pub async fn run(client: Client, settings: Settings, sink: Arc<dyn ConfigSink>) {
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: FIELD_MANAGER.into(),
            instance: std::env::var("HOSTNAME").ok(),
        },
    );
    let config = watcher::Config::default;
    let mut mirror = Mirror::default();
    let classes = mirror.kind(Api::all(client.clone()), config(), |_| ());
    let gateways = mirror.kind(Api::all(client.clone()), config(), |_| ());
    let routes = mirror.kind(Api::all(client.clone()), config(), |_| ());
    let grpc_routes = mirror.kind(Api::all(client.clone()), config(), |_| ());
    let grants = mirror.kind(Api::all(client.clone()), config(), |_| ());
    let services = mirror.kind(Api::all(client.clone()), config(), |_| ());
    let slices = mirror.kind(Api::all(client.clone()), config(), |_| ());
    // Only TLS Secrets can be listener certificates; the others are never
    // read, so never held in memory.
    let secrets = mirror.kind(
        Api::all(client.clone()),
        config().fields(&format!("type={TLS_SECRET_TYPE}")),
        |_| (),
    );
    let namespaces = mirror.kind(Api::all(client.clone()), config(), |_| ());
    let dns_records = if dns_records_served(&client).await {
        Some(mirror.kind(Api::all(client.clone()), config(), |_| ()))
    } else {
        tracing::info!(
            "DNSRecords are not served by this API server (Fedway's CRDs not installed): no cross-cluster spillover"
        );
        None
    };
    let stores = Stores {
        classes,
        gateways,
        routes,
        grpc_routes,
        grants,
        services,
        slices,
        secrets,
        namespaces,
        dns_records,
    };
    let passes = Passes {
        debounce: DEBOUNCE,
        retry: RETRY,
    };
    let health = |failed: Option<&watcher::Error>| {
        if let Some(error) = failed {
            tracing::warn!(%error, "watch failed; retrying");
        }
    };
    mirror
        .run(passes, health, || async {
            let _timer = settings.metrics.passes.start();
            match pass(&client, &settings, &recorder, sink.as_ref(), &stores).await {
                Ok(()) => Pass::Done,
                Err(error) => {
                    settings.metrics.passes.failed();
                    tracing::warn!(%error, "controller pass failed; retrying");
                    Pass::Retry
                }
            }
        })
        .await;
}

/// Whether the API server serves DNSRecords to this proxy. Spillover needs
/// them; a member without Fedway's CRDs (a plain cluster running this
/// proxy), or a proxy not allowed to read them, must still serve, so their
/// absence only turns spillover off. An API server not
/// answering yet is asked again; one that keeps failing otherwise is taken
/// to serve them (the watch then retries on its own).
async fn dns_records_served(client: &Client) -> bool {
    let api: Api<DNSRecord> = Api::all(client.clone());
    for attempt in 1..=5 {
        match api.list_metadata(&ListParams::default().limit(1)).await {
            Ok(_) => return true,
            Err(kube::Error::Api(status)) if status.code == 404 => return false,
            // Deployed without the permission: serve, without spillover,
            // rather than wait for a watch that can never start.
            Err(kube::Error::Api(status)) if status.code == 403 => {
                tracing::warn!(
                    "not allowed to list DNSRecords (grant list/watch on dnsrecords.fedway.dev for spillover): no cross-cluster spillover"
                );
                return false;
            }
            Err(error) => {
                tracing::debug!(%error, attempt, "asking whether DNSRecords are served");
                tokio::time::sleep(RETRY * attempt).await;
            }
        }
    }
    true
}

async fn pass(
    client: &Client,
    settings: &Settings,
    recorder: &Recorder,
    sink: &dyn ConfigSink,
    stores: &Stores,
) -> Result<(), Error> {
    let snapshot = stores.snapshot();
    let mut outcome = compute::compute(&settings.controller_name, &settings.publish, &snapshot);
    tracing::debug!(
        sockets = outcome.config.sockets.len(),
        services = outcome.config.endpoints.len(),
        "configuration computed"
    );
    // The data plane first: a Gateway is reported Programmed after its
    // configuration was handed over, not before.
    sink.apply(std::mem::take(&mut outcome.config));
    let unpublished = publish_services(
        client,
        &snapshot,
        &outcome.services,
        &outcome.stale_services,
    )
    .await;
    for gateway in &mut outcome.gateways {
        if let Some(message) = unpublished.get(&gateway.key) {
            mark_unpublished(gateway, message);
        }
    }
    let now = Timestamp::now();

    let classes: BTreeMap<&str, &GatewayClass> = snapshot
        .classes
        .iter()
        .filter_map(|c| Some((c.metadata.name.as_deref()?, c.as_ref())))
        .collect();
    for class in &outcome.classes {
        if let Some(current) = classes.get(class.name.as_str())
            && let Some(status) = status_writer::desired_class(class, current, &now)
        {
            status_writer::apply(Api::all(client.clone()), *current, &status).await?;
            settings.metrics.status_writes.inc();
        }
    }
    let gateways: BTreeMap<ObjectKey, &Gateway> = snapshot
        .gateways
        .iter()
        .map(|g| (ObjectKey::of(&g.metadata), g.as_ref()))
        .collect();
    for gateway in &outcome.gateways {
        if let Some(current) = gateways.get(&gateway.key)
            && let Some(status) = status_writer::desired_gateway(gateway, current, &now)
        {
            status_writer::apply(
                Api::namespaced(client.clone(), &gateway.key.namespace),
                *current,
                &status,
            )
            .await?;
            settings.metrics.status_writes.inc();
            if let Some(event) = events::programmed_transition(current.status.as_ref(), &status) {
                // Events are for people; failing to publish one changes nothing.
                if let Err(error) = recorder.publish(&event, &current.object_ref(&())).await {
                    tracing::warn!(%error, "publishing an event failed");
                }
            }
        }
    }
    let mut computed: BTreeMap<(RouteKind, ObjectKey), &RouteOutcome> = outcome
        .routes
        .iter()
        .map(|r| ((r.kind, r.key.clone()), r))
        .collect();
    let routes = RouteStatuses {
        client,
        metrics: &settings.metrics,
        controller_name: &settings.controller_name,
        now: &now,
    };
    for route in &snapshot.routes {
        routes
            .write(&mut computed, RouteKind::Http, route.as_ref(), route)
            .await?;
    }
    for route in &snapshot.grpc_routes {
        // Read as the HTTPRoute compute saw; the status has the same shape.
        let Ok(as_http) = grpc::to_http_route(route) else {
            continue;
        };
        routes
            .write(&mut computed, RouteKind::Grpc, route.as_ref(), &as_http)
            .await?;
    }
    Ok(())
}

/// Applies the Services publishing Gateways that differ from what is there
/// and deletes the ones no longer needed. A Service of that name that this
/// controller did not make (no [`publish::GATEWAY_LABEL`]) is left alone.
/// Returns, by Gateway, why its Service could not be published: one
/// Gateway's refused Service (an external IP the API server rejects, say)
/// must not hold back the others, and its status must say so.
async fn publish_services(
    client: &Client,
    snapshot: &compute::Snapshot,
    desired: &[Service],
    stale: &[ObjectKey],
) -> BTreeMap<ObjectKey, String> {
    let mut unpublished = BTreeMap::new();
    let current: BTreeMap<ObjectKey, &Service> = snapshot
        .services
        .iter()
        .map(|svc| (ObjectKey::of(&svc.metadata), svc.as_ref()))
        .collect();
    for desired in desired {
        let key = ObjectKey::of(&desired.metadata);
        let api: Api<Service> = Api::namespaced(client.clone(), &key.namespace);
        match current.get(&key) {
            Some(svc) if publish::service_matches(svc, desired) => continue,
            Some(svc)
                if svc
                    .metadata
                    .labels
                    .as_ref()
                    .is_none_or(|l| !l.contains_key(publish::GATEWAY_LABEL)) =>
            {
                unpublished.insert(
                    publish::published_gateway(desired).unwrap_or_default(),
                    format!("Service {key} exists and was not made by fedway-proxy"),
                );
                continue;
            }
            _ => {}
        }
        match api
            .patch(
                &key.name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(desired),
            )
            .await
        {
            Ok(_) => tracing::info!(service = %key, "Service published"),
            Err(error) => {
                let error = Error::PublishService {
                    what: key.to_string(),
                    source: Box::new(error),
                };
                tracing::warn!(%error, "a Gateway is not published");
                unpublished.insert(
                    publish::published_gateway(desired).unwrap_or_default(),
                    error.to_string(),
                );
            }
        }
    }
    for stale in stale {
        let api: Api<Service> = Api::namespaced(client.clone(), &stale.namespace);
        match api.delete(&stale.name, &DeleteParams::default()).await {
            Ok(_) => tracing::info!(service = %stale, "Service no longer needed: deleted"),
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            // Retried on the next pass; nothing is served through it.
            Err(error) => {
                tracing::warn!(service = %stale, %error, "deleting a Service no longer needed");
            }
        }
    }
    unpublished
}

/// A Gateway whose Service could not be written is reachable at no
/// address: not Programmed, and no address claimed.
fn mark_unpublished(gateway: &mut compute::GatewayOutcome, message: &str) {
    gateway.addresses.clear();
    gateway.conditions.retain(|c| c.type_ != "Programmed");
    gateway.conditions.push(Cond::new(
        "Programmed",
        false,
        "AddressNotUsable",
        message.to_owned(),
    ));
}

/// Route status writes, for either kind.
struct RouteStatuses<'a> {
    client: &'a Client,
    metrics: &'a crate::metrics::ProxyMetrics,
    controller_name: &'a str,
    now: &'a Timestamp,
}

impl RouteStatuses<'_> {
    /// Writes `object`'s status (`as_http` is the object in HTTPRoute form)
    /// if what `computed` says differs from it. A route that no longer
    /// names any Gateway of ours loses our entries.
    async fn write<K>(
        &self,
        computed: &mut BTreeMap<(RouteKind, ObjectKey), &RouteOutcome>,
        kind: RouteKind,
        object: &K,
        as_http: &HttpRoute,
    ) -> Result<(), Error>
    where
        K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + Debug,
    {
        let key = ObjectKey::of(&as_http.metadata);
        let empty;
        let outcome = match computed.remove(&(kind, key.clone())) {
            Some(o) => o,
            None => {
                let ours = as_http
                    .status
                    .iter()
                    .flat_map(|s| &s.parents)
                    .any(|p| p.controller_name == self.controller_name);
                if !ours {
                    return Ok(());
                }
                empty = RouteOutcome {
                    kind,
                    key,
                    generation: as_http.metadata.generation,
                    parents: Vec::new(),
                };
                &empty
            }
        };
        if let Some(status) =
            status_writer::desired_route(outcome, as_http, self.controller_name, self.now)
        {
            status_writer::apply(
                Api::namespaced(self.client.clone(), &outcome.key.namespace),
                object,
                &status,
            )
            .await?;
            self.metrics.status_writes.inc();
        }
        Ok(())
    }
}
