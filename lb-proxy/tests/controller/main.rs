//! The controller against a real API server (the e2e harness's etcd +
//! kube-apiserver with the Gateway API CRDs): statuses written, the
//! configuration handed to a recording sink, and no writes after a restart.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
};

use fedway_e2e::{Cluster, ClusterOptions, manifests, wait::eventually};
use fedway_proxy::{
    backends::ServiceRef,
    config::ProxyConfig,
    controller::{self, ConfigSink, Settings},
};
use gateway_api::{gatewayclasses::GatewayClass, gateways::Gateway, httproutes::HttpRoute};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{Api, Client};
use serde_json::{Value, json};

const CONTROLLER: &str = "fedway.dev/lb-proxy";
const USER: &str = "fedway-proxy";

/// Keeps the last configuration it was given.
#[derive(Default)]
struct Recorder(Mutex<Option<ProxyConfig>>);

impl ConfigSink for Recorder {
    fn apply(&self, config: ProxyConfig) {
        if let Ok(mut last) = self.0.lock() {
            *last = Some(config);
        }
    }
}

impl Recorder {
    fn last(&self) -> Option<ProxyConfig> {
        self.0.lock().ok().and_then(|c| c.clone())
    }
}

async fn apply(client: &Client, object: Value) {
    manifests::apply(client, object, "controller test")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

fn route(namespace: &str, name: &str, hostnames: Value, backend: &str) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"namespace": namespace, "name": name},
        "spec": {
            "parentRefs": [{"name": "gw", "namespace": "infra"}],
            "hostnames": hostnames,
            "rules": [{"backendRefs": [{"name": backend, "namespace": "infra", "port": 80}]}],
        },
    })
}

fn condition<'a>(conditions: &'a [Condition], type_: &str) -> (&'a str, &'a str) {
    conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map_or(("", ""), |c| (c.status.as_str(), c.reason.as_str()))
}

/// The (Accepted, ResolvedRefs) reasons of our parent entry of a route.
async fn route_reasons(client: &Client, namespace: &str, name: &str) -> Option<(String, String)> {
    let route = Api::<HttpRoute>::namespaced(client.clone(), namespace)
        .get(name)
        .await
        .ok()?;
    let parent = route
        .status?
        .parents
        .into_iter()
        .find(|p| p.controller_name == CONTROLLER)?;
    let (_, accepted) = condition(&parent.conditions, "Accepted");
    let (_, resolved) = condition(&parent.conditions, "ResolvedRefs");
    Some((accepted.to_owned(), resolved.to_owned()))
}

fn start_controller(
    client: Client,
    cluster: &Cluster,
    sink: Arc<Recorder>,
) -> tokio::task::JoinHandle<()> {
    let pool = format!("{}-{}", cluster.address(100), cluster.address(110));
    let settings = Settings {
        controller_name: CONTROLLER.to_owned(),
        address_pool: pool.parse().expect("valid pool"),
        metrics: Default::default(),
    };
    tokio::spawn(controller::run(client, settings, sink))
}

#[tokio::test]
async fn controller_programs_gateways_and_reports_status() {
    fedway_e2e::init_test_logging();
    let cluster = Cluster::start(
        "proxy-ctl",
        &ClusterOptions {
            workloads: false,
            gateway_api: true,
            fedway_crds: false,
        },
    )
    .await
    .expect("starting a cluster");
    let admin = cluster.client();
    // The controller runs as its own user, so the audit log tells its writes apart.
    let kubeconfig = cluster
        .user_kubeconfig(USER, &["system:masters"])
        .expect("controller kubeconfig");
    let controller_client = fedway_runtime::kube_client(Some(&kubeconfig))
        .await
        .expect("controller client");

    for ns in ["infra", "elsewhere"] {
        apply(
            &admin,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .await;
    }
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["shop.example.com".to_owned()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    apply(
        &admin,
        json!({
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"namespace": "infra", "name": "shop-cert"},
            "stringData": {"tls.crt": cert.pem(), "tls.key": key.serialize_pem()},
        }),
    )
    .await;
    apply(
        &admin,
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
            "metadata": {"name": "fedway-proxy"}, "spec": {"controllerName": CONTROLLER},
        }),
    )
    .await;
    apply(
        &admin,
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"namespace": "infra", "name": "gw"},
            "spec": {"gatewayClassName": "fedway-proxy", "listeners": [
                {"name": "http", "port": 80, "protocol": "HTTP", "hostname": "*.example.com"},
                {"name": "https", "port": 443, "protocol": "HTTPS", "hostname": "shop.example.com",
                 "tls": {"mode": "Terminate", "certificateRefs": [{"name": "shop-cert"}]}},
            ]},
        }),
    )
    .await;
    apply(
        &admin,
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"namespace": "infra", "name": "web"},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
        }),
    )
    .await;
    apply(&admin, json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"namespace": "infra", "name": "web-1", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["10.1.0.1"], "conditions": {"ready": true}},
                      {"addresses": ["10.1.0.2"], "conditions": {"ready": false}}],
    }))
    .await;
    apply(
        &admin,
        route("infra", "valid", json!(["shop.example.com"]), "web"),
    )
    .await;
    apply(
        &admin,
        route(
            "infra",
            "missing-backend",
            json!(["shop.example.com"]),
            "nope",
        ),
    )
    .await;
    apply(&admin, route("elsewhere", "not-allowed", json!([]), "web")).await;
    apply(
        &admin,
        route("infra", "other-host", json!(["shop.example.org"]), "web"),
    )
    .await;

    let sink = Arc::new(Recorder::default());
    let task = start_controller(controller_client.clone(), &cluster, sink.clone());

    // GatewayClass: accepted, with the supported features.
    let cluster_ref = &cluster;
    let classes: Api<GatewayClass> = Api::all(admin.clone());
    let class = eventually("GatewayClass accepted", 30, || {
        let classes = classes.clone();
        async move {
            let class = classes
                .get("fedway-proxy")
                .await
                .map_err(|e| cluster_ref.kube_error(e))?;
            let accepted = class
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_deref())
                .is_some_and(|c| condition(c, "Accepted") == ("True", "Accepted"));
            Ok(accepted.then_some(class))
        }
    })
    .await;
    let features: Vec<String> = class
        .status
        .and_then(|s| s.supported_features)
        .unwrap_or_default()
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(features, controller::features::SUPPORTED_FEATURES);

    // Gateway: accepted, programmed, the pool's first address, listeners.
    let expected_ip = IpAddr::V4(cluster.address(100));
    let gateways: Api<Gateway> = Api::namespaced(admin.clone(), "infra");
    let status = eventually("Gateway programmed with 2 routes per listener", 30, || {
        let gateways = gateways.clone();
        async move {
            let gw = gateways
                .get("gw")
                .await
                .map_err(|e| cluster_ref.kube_error(e))?;
            let Some(status) = gw.status else {
                return Ok(None);
            };
            let conditions = status.conditions.as_deref().unwrap_or_default();
            let ready = condition(conditions, "Programmed") == ("True", "Programmed")
                && status
                    .listeners
                    .iter()
                    .flatten()
                    .all(|l| l.attached_routes == 2);
            Ok(ready.then_some(status))
        }
    })
    .await;
    let conditions = status.conditions.as_deref().unwrap_or_default();
    assert_eq!(condition(conditions, "Accepted"), ("True", "Accepted"));
    let addresses: Vec<String> = status
        .addresses
        .iter()
        .flatten()
        .map(|a| a.value.clone())
        .collect();
    assert_eq!(addresses, vec![expected_ip.to_string()]);
    let listeners = status.listeners.unwrap_or_default();
    assert_eq!(listeners.len(), 2);
    for l in &listeners {
        for (type_, want) in [
            ("Accepted", ("True", "Accepted")),
            ("Conflicted", ("False", "NoConflicts")),
            ("ResolvedRefs", ("True", "ResolvedRefs")),
            ("Programmed", ("True", "Programmed")),
        ] {
            assert_eq!(
                condition(&l.conditions, type_),
                want,
                "listener {} {type_}",
                l.name
            );
        }
        let kinds: Vec<&str> = l
            .supported_kinds
            .iter()
            .flatten()
            .map(|k| k.kind.as_str())
            .collect();
        assert_eq!(kinds, vec!["HTTPRoute", "GRPCRoute"]);
    }

    // Routes: the spec's reasons.
    for (namespace, name, accepted, resolved) in [
        ("infra", "valid", "Accepted", "ResolvedRefs"),
        ("infra", "missing-backend", "Accepted", "BackendNotFound"),
        (
            "elsewhere",
            "not-allowed",
            "NotAllowedByListeners",
            "RefNotPermitted",
        ),
        (
            "infra",
            "other-host",
            "NoMatchingListenerHostname",
            "ResolvedRefs",
        ),
    ] {
        let client = admin.clone();
        let got = eventually(&format!("route {namespace}/{name} status"), 30, || {
            let client = client.clone();
            async move { Ok(route_reasons(&client, namespace, name).await) }
        })
        .await;
        assert_eq!(
            got,
            (accepted.to_owned(), resolved.to_owned()),
            "route {namespace}/{name}"
        );
    }

    // The configuration handed to the data plane.
    let config = sink.last().expect("a configuration");
    let sockets: Vec<SocketAddr> = config.sockets.keys().copied().collect();
    assert_eq!(
        sockets,
        vec![
            SocketAddr::new(expected_ip, 80),
            SocketAddr::new(expected_ip, 443)
        ]
    );
    assert!(
        config.sockets[&SocketAddr::new(expected_ip, 80)]
            .tls
            .is_none()
    );
    let tls = config.sockets[&SocketAddr::new(expected_ip, 443)]
        .tls
        .as_ref()
        .expect("the HTTPS socket has certificates");
    assert!(tls.by_hostname.contains_key("shop.example.com"));
    let web = ServiceRef {
        namespace: "infra".into(),
        name: "web".into(),
        port: 80,
    };
    assert_eq!(
        config.endpoints[&web],
        vec!["10.1.0.1:8080".parse::<SocketAddr>().expect("addr")]
    );

    // A restart writes nothing: every status already says what it computes.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    task.abort();
    let _ = task.await;
    let writes_before = cluster.audited_writes_by(USER).expect("audit log").len();
    let restarted = Arc::new(Recorder::default());
    let task = start_controller(controller_client, &cluster, restarted.clone());
    eventually(
        "the restarted controller hands over a configuration",
        30,
        || {
            let restarted = restarted.clone();
            async move { Ok(restarted.last().map(|_| ())) }
        },
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let writes: Vec<(String, String)> = cluster.audited_writes_by(USER).expect("audit log");
    assert_eq!(
        writes.len(),
        writes_before,
        "writes after restart: {:?}",
        &writes[writes_before..]
    );
    // Same address after the restart.
    assert!(
        restarted
            .last()
            .is_some_and(|c| c.sockets.contains_key(&SocketAddr::new(expected_ip, 80)))
    );
    task.abort();
}
