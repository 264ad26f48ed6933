//! With kube-controller-manager, kube-scheduler and kwok, a Deployment
//! becomes Running Pods whose IPs are local addresses, and its Service gets
//! an EndpointSlice listing them.

use std::{
    collections::BTreeSet,
    io::{Read, Write},
    net::{IpAddr, TcpListener, TcpStream},
};

use fedway_e2e::{Cluster, ClusterOptions};
use k8s_openapi::api::{core::v1::Pod, discovery::v1::EndpointSlice};
use kube::{Api, api::ListParams};
use serde_json::json;

use crate::{apply, eventually, init_logging};

#[tokio::test]
async fn deployment_becomes_running_pods_with_local_ips_listed_in_an_endpointslice() {
    init_logging();
    let cluster = Cluster::start("workloads", &ClusterOptions::default().with_workloads())
        .await
        .expect("starting a cluster with controller-manager, scheduler and kwok");
    let client = cluster.client();
    let labels = json!({"app": "echo"});
    apply(
        &client,
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "echo", "namespace": "default"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "echo", "image": "echo-basic", "ports": [{"containerPort": 3000}]}]},
                },
            },
        }),
    )
    .await
    .expect("deployment");
    apply(
        &client,
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "echo", "namespace": "default"},
            "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": 3000}]},
        }),
    )
    .await
    .expect("service");

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod_ips: BTreeSet<String> = eventually("3 Running pods with IPs", 90, || async {
        let list = pods
            .list(&ListParams::default().labels("app=echo"))
            .await
            .map_err(|e| cluster.kube_error(e))?;
        let running: BTreeSet<String> = list
            .items
            .iter()
            .filter_map(|p| p.status.as_ref())
            .filter(|s| s.phase.as_deref() == Some("Running"))
            .filter_map(|s| s.pod_ip.clone())
            .collect();
        Ok((running.len() == 3).then_some(running))
    })
    .await;

    let prefix = cluster.pod_cidr().trim_end_matches("0/24").to_owned();
    for ip in &pod_ips {
        assert!(
            ip.starts_with(&prefix),
            "pod IP {ip} is in the node's pod CIDR {}",
            cluster.pod_cidr()
        );
    }

    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    let sliced: BTreeSet<String> =
        eventually("an EndpointSlice listing the 3 pods", 60, || async {
            let list = slices
                .list(&ListParams::default().labels("kubernetes.io/service-name=echo"))
                .await
                .map_err(|e| cluster.kube_error(e))?;
            let ready: BTreeSet<String> = list
                .items
                .iter()
                .flat_map(|s| s.endpoints.iter())
                .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true))
                .flat_map(|e| e.addresses.iter().cloned())
                .collect();
            Ok((ready.len() == 3).then_some(ready))
        })
        .await;
    assert_eq!(
        sliced, pod_ips,
        "the EndpointSlice lists exactly the Running pods"
    );

    // A pod IP is an address a local process can serve on.
    let ip: IpAddr = pod_ips
        .iter()
        .next()
        .expect("a pod IP")
        .parse()
        .expect("an IP");
    let listener = TcpListener::bind((ip, 0)).expect("binding a pod IP");
    let port = listener.local_addr().expect("local addr").port();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        conn.write_all(b"hello from the pod").expect("write");
    });
    let mut reply = String::new();
    TcpStream::connect((ip, port))
        .expect("connecting to the pod IP")
        .read_to_string(&mut reply)
        .expect("read");
    server.join().expect("server thread");
    assert_eq!(reply, "hello from the pod");
}
