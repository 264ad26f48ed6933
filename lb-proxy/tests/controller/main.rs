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
    controller::{self, ConfigSink, ObjectKey, Publish, Settings},
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

/// The GatewayClass this controller handles.
fn gateway_class() -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
        "metadata": {"name": "fedway-proxy"}, "spec": {"controllerName": CONTROLLER},
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
        publish: Publish::Local(pool.parse().expect("valid pool")),
        metrics: Default::default(),
    };
    tokio::spawn(controller::run(client, settings, sink))
}

/// A cluster with the Gateway API CRDs and nothing else.
async fn gateway_api_cluster(name: &str) -> Cluster {
    Cluster::start(
        name,
        &ClusterOptions {
            workloads: false,
            gateway_api: true,
            fedway_crds: false,
        },
    )
    .await
    .expect("starting a cluster")
}

/// A client of `user` (a cluster admin), so that the audit log tells its
/// writes apart.
async fn client_as(cluster: &Cluster, user: &str) -> Client {
    let kubeconfig = cluster
        .user_kubeconfig(user, &["system:masters"])
        .expect("a kubeconfig");
    fedway_runtime::kube_client(Some(&kubeconfig))
        .await
        .expect("a client")
}

#[tokio::test]
async fn controller_programs_gateways_and_reports_status() {
    fedway_e2e::init_test_logging();
    let cluster = gateway_api_cluster("proxy-ctl").await;
    let admin = cluster.client();
    // The controller runs as its own user, so the audit log tells its writes apart.
    let controller_client = client_as(&cluster, USER).await;

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
    apply(&admin, gateway_class()).await;
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

/// `--publish-service ClusterIP`: a Service per Gateway in front of every
/// replica, its external IP the Gateway's address, listeners bound on pod
/// ports; a second replica agrees and writes nothing; a Gateway that can no
/// longer be served loses its Service.
#[tokio::test]
async fn behind_a_service_each_gateway_is_published_by_every_replica_alike() {
    fedway_e2e::init_test_logging();
    let cluster = gateway_api_cluster("proxy-svc").await;
    let admin = cluster.client();
    // External IPs are what the network routes to the nodes; the API server
    // refuses loopback ones. Nothing is sent to these.
    let pool = "192.0.2.10-192.0.2.20".to_owned();
    let external_ip = "192.0.2.10".to_owned();
    let selector = std::collections::BTreeMap::from([(
        "app.kubernetes.io/name".to_owned(),
        "fedway-proxy".to_owned(),
    )]);
    let replica = |user: &'static str, sink: Arc<Recorder>| {
        let (cluster, pool, selector) = (&cluster, pool.clone(), selector.clone());
        async move {
            let client = client_as(cluster, user).await;
            let settings = Settings {
                controller_name: CONTROLLER.to_owned(),
                publish: Publish::Service {
                    kind: controller::ServiceKind::ExternalIps(pool.parse().expect("a pool")),
                    selector,
                    namespace: "fedway-system".to_owned(),
                },
                metrics: Default::default(),
            };
            // Aborted at the end; the handle alone is not awaitable.
            tokio::spawn(controller::run(client, settings, sink)).abort_handle()
        }
    };
    for namespace in ["infra", "fedway-system"] {
        apply(
            &admin,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
        )
        .await;
    }
    apply(&admin, gateway_class()).await;
    let service_of =
        |gateway: &str| controller::publish::service_name(&ObjectKey::new("infra", gateway));
    let gateway = |listeners: Value, addresses: Value| {
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"namespace": "infra", "name": "gw"},
            "spec": {"gatewayClassName": "fedway-proxy", "listeners": listeners, "addresses": addresses},
        })
    };
    let two_listeners = json!([
        {"name": "http", "port": 80, "protocol": "HTTP"},
        {"name": "alt", "port": 8080, "protocol": "HTTP"},
    ]);
    apply(&admin, gateway(two_listeners, json!([]))).await;
    let first = Arc::new(Recorder::default());
    let task = replica("fedway-proxy-a", first.clone()).await;

    // Beside the replicas: a Service selects pods of its own namespace.
    let services: Api<k8s_openapi::api::core::v1::Service> =
        Api::namespaced(admin.clone(), "fedway-system");
    let targets = |svc: &k8s_openapi::api::core::v1::Service| -> Vec<(i32, i32)> {
        svc.spec
            .iter()
            .flat_map(|s| s.ports.iter().flatten())
            .filter_map(|p| match p.target_port {
                Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(t)) => {
                    Some((p.port, t))
                }
                _ => None,
            })
            .collect()
    };
    let service = eventually("the Service of Gateway infra/gw published", 30, || {
        let (services, name) = (services.clone(), service_of("gw"));
        async move { Ok(services.get_opt(&name).await.ok().flatten()) }
    })
    .await;
    let spec = service.spec.clone().expect("a spec");
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    assert_eq!(spec.external_ips, Some(vec![external_ip.clone()]));
    assert_eq!(spec.selector, Some(selector.clone()));
    let ports = targets(&service);
    assert_eq!(
        ports.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
        vec![80, 8080]
    );
    assert!(
        ports.iter().all(|(_, t)| (20000..30000).contains(t)),
        "{ports:?}"
    );
    let labels = service.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        (
            labels
                .get("fedway.dev/proxy-gateway-namespace")
                .map(String::as_str),
            labels.get("fedway.dev/proxy-gateway").map(String::as_str)
        ),
        (Some("infra"), Some("gw"))
    );

    // The Gateway's address is the Service's external IP; the data plane
    // binds the target ports on every address of the pod.
    let gateways: Api<Gateway> = Api::namespaced(admin.clone(), "infra");
    eventually("Gateway programmed at the external IP", 30, || {
        let gateways = gateways.clone();
        let external_ip = external_ip.clone();
        async move {
            let status = gateways.get("gw").await.ok().and_then(|g| g.status);
            Ok(status
                .filter(|s| {
                    condition(s.conditions.as_deref().unwrap_or_default(), "Programmed").0 == "True"
                        && s.addresses.iter().flatten().any(|a| a.value == external_ip)
                })
                .map(drop))
        }
    })
    .await;
    let mut bound: Vec<SocketAddr> = first
        .last()
        .expect("a configuration")
        .sockets
        .keys()
        .copied()
        .collect();
    bound.sort();
    let mut want: Vec<SocketAddr> = ports
        .iter()
        .map(|(_, t)| {
            SocketAddr::new(
                IpAddr::from([0, 0, 0, 0]),
                u16::try_from(*t).expect("a port"),
            )
        })
        .collect();
    want.sort();
    assert_eq!(bound, want);

    // A second replica computes the same Service and status: no writes.
    let second = Arc::new(Recorder::default());
    let second_task = replica("fedway-proxy-b", second.clone()).await;
    eventually("the second replica's configuration", 30, || {
        let second = second.clone();
        async move { Ok(second.last().filter(|c| !c.sockets.is_empty()).map(drop)) }
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let writes = cluster
        .audited_writes_by("fedway-proxy-b")
        .expect("the audit log");
    assert!(writes.is_empty(), "the second replica wrote {writes:?}");
    assert_eq!(second.last().map(|c| c.sockets.len()), Some(2));

    // One listener fewer: the Service follows, 80 keeps its pod port.
    apply(
        &admin,
        gateway(
            json!([{"name": "http", "port": 80, "protocol": "HTTP"}]),
            json!([]),
        ),
    )
    .await;
    let port_80 = ports[0];
    let updated = eventually("the Service has port 80 only", 30, || {
        let services = services.clone();
        let name = service_of("gw");
        async move {
            let svc = services.get_opt(&name).await.ok().flatten();
            Ok(svc.map(|s| targets(&s)).filter(|t| t.len() == 1))
        }
    })
    .await;
    assert_eq!(updated, vec![port_80]);

    // A Service of the name another Gateway needs that is not ours: that
    // Gateway says it is not published; the first one is untouched.
    apply(
        &admin,
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"namespace": "fedway-system", "name": service_of("other")},
            "spec": {"ports": [{"name": "http", "port": 80}]},
        }),
    )
    .await;
    apply(
        &admin,
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"namespace": "infra", "name": "other"},
            "spec": {"gatewayClassName": "fedway-proxy", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]},
        }),
    )
    .await;
    let (reason, message) = eventually("Gateway other not programmed", 30, || {
        let gateways = gateways.clone();
        async move {
            let status = gateways.get("other").await.ok().and_then(|g| g.status);
            Ok(status.and_then(|s| {
                let c = s
                    .conditions
                    .unwrap_or_default()
                    .into_iter()
                    .find(|c| c.type_ == "Programmed" && c.status == "False")?;
                Some((c.reason, c.message))
            }))
        }
    })
    .await;
    assert_eq!(reason, "AddressNotUsable");
    assert!(
        message.contains("was not made by fedway-proxy"),
        "{message}"
    );
    let other = gateways.get("other").await.expect("Gateway other");
    assert!(
        other
            .status
            .and_then(|s| s.addresses)
            .unwrap_or_default()
            .is_empty(),
        "an unpublished Gateway claims no address"
    );
    let theirs = services
        .get(&service_of("other"))
        .await
        .expect("their Service");
    assert!(theirs.metadata.labels.is_none(), "left as it was");

    // An address outside the pool: not accepted, so not published.
    apply(
        &admin,
        gateway(
            json!([{"name": "http", "port": 80, "protocol": "HTTP"}]),
            json!([{"type": "IPAddress", "value": "192.0.2.1"}]),
        ),
    )
    .await;
    eventually("the Service deleted", 30, || {
        let services = services.clone();
        let name = service_of("gw");
        async move {
            Ok(services
                .get_opt(&name)
                .await
                .ok()
                .flatten()
                .is_none()
                .then_some(()))
        }
    })
    .await;
    task.abort();
    second_task.abort();
}
