//! The pod runner serves each echo pod from a local echo-basic process on
//! the pod's own IP, in a network namespace of its own: pods of two
//! Deployments, all on the same ports, each answer as themselves; a secret
//! volume that appears after the pod reaches echo-basic; pods that go away
//! stop answering, and dropping the runner leaves nothing behind.

use std::{collections::BTreeMap, net::Ipv4Addr, time::Duration};

use fedway_e2e::{Cluster, ClusterOptions, PodRunner, Result, pod_runner::RunPod};
use k8s_openapi::api::{apps::v1::Deployment, core::v1::Pod};
use kube::{
    Api,
    api::{ListParams, Patch, PatchParams},
};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{apply, eventually, init_logging};

const IMAGE: &str = "registry.k8s.io/gateway-api/echo-basic:v1.5.1";

fn echo_deployment(name: &str, namespace: &str, extra: Value) -> Value {
    let mut env = vec![
        json!({"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
        json!({"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}),
        json!({"name": "SERVICE_NAME", "value": name}),
    ];
    env.extend(extra["env"].as_array().cloned().unwrap_or_default());
    let mut container = json!({"name": name, "image": IMAGE, "env": env});
    if let Some(mounts) = extra.get("volumeMounts") {
        container["volumeMounts"] = mounts.clone();
    }
    let mut pod_spec = json!({"containers": [container]});
    if let Some(volumes) = extra.get("volumes") {
        pod_spec["volumes"] = volumes.clone();
    }
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec},
        },
    })
}

/// `GET /path` on `ip:port`, returning the body when the answer is 200.
async fn http_get(ip: Ipv4Addr, port: u16, path: &str) -> std::io::Result<String> {
    let mut conn =
        tokio::time::timeout(Duration::from_secs(2), TcpStream::connect((ip, port))).await??;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {ip}:{port}\r\nConnection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).await?;
    let mut reply = String::new();
    tokio::time::timeout(Duration::from_secs(2), conn.read_to_string(&mut reply)).await??;
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    if !head.starts_with("HTTP/1.1 200") {
        return Err(std::io::Error::other(format!("answer: {head}")));
    }
    Ok(body.to_owned())
}

/// Running pods with IPs of Deployment `app` in `namespace`, by name.
async fn running_pods(
    cluster: &Cluster,
    namespace: &str,
    app: &str,
) -> Result<BTreeMap<String, Ipv4Addr>> {
    let pods: Api<Pod> = Api::namespaced(cluster.client(), namespace);
    let list = pods
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .map_err(|e| cluster.kube_error(e))?;
    Ok(list
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| {
            let status = p.status?;
            (status.phase.as_deref() == Some("Running"))
                .then_some(())
                .and(status.pod_ip?.parse().ok())
                .map(|ip| (p.metadata.name.unwrap_or_default(), ip))
        })
        .collect())
}

/// Host ends of pod links for pods in `cluster`'s pod network.
fn host_links(cluster: &Cluster) -> Vec<String> {
    let slot: u8 = cluster
        .pod_cidr()
        .split('.')
        .nth(2)
        .and_then(|s| s.parse().ok())
        .expect("198.18.S.0/24");
    let prefix = format!("fwpc612{slot:02x}");
    let out = std::process::Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .expect("ip link show");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).to_owned())
        .filter(|name| name.starts_with(&prefix))
        .collect()
}

#[tokio::test]
async fn echo_pods_answer_as_themselves_on_their_own_ips_and_stop_with_them() {
    init_logging();
    let cluster = Cluster::start(
        "pod-runner",
        &ClusterOptions {
            workloads: true,
            gateway_api: true,
            fedway_crds: false,
        },
    )
    .await
    .expect("starting a cluster with workloads");
    let client = cluster.client();
    let runner = PodRunner::start(&cluster)
        .await
        .expect("starting the pod runner");

    apply(
        &client,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "backends"}}),
    )
    .await
    .expect("namespace");
    let apps = [("alpha", "default"), ("beta", "backends")];
    for (app, namespace) in apps {
        apply(&client, echo_deployment(app, namespace, json!({})))
            .await
            .expect("deployment");
    }
    // A TLS backend whose Secret is created after its pods run, as the
    // conformance suite does: the runner waits for it.
    let tls = json!({
        "env": [
            {"name": "TLS_SERVER_CERT", "value": "/etc/secret-volume/crt"},
            {"name": "TLS_SERVER_PRIVKEY", "value": "/etc/secret-volume/key"},
        ],
        "volumeMounts": [{"name": "secret-volume", "mountPath": "/etc/secret-volume"}],
        "volumes": [{"name": "secret-volume", "secret": {"secretName": "tls-backend-cert",
            "items": [{"key": "tls.crt", "path": "crt"}, {"key": "tls.key", "path": "key"}]}}],
    });
    apply(&client, echo_deployment("tls", "default", tls))
        .await
        .expect("tls deployment");

    let mut expected: BTreeMap<String, (String, Ipv4Addr)> = BTreeMap::new();
    for (app, namespace) in apps {
        let pods = eventually(&format!("2 Running {app} pods"), 90, || async {
            let pods = running_pods(&cluster, namespace, app).await?;
            Ok((pods.len() == 2).then_some(pods))
        })
        .await;
        for (name, ip) in pods {
            expected.insert(name, (namespace.to_owned(), ip));
        }
    }

    // Every pod answers on port 3000 of its own IP, as itself.
    for (pod, (namespace, ip)) in &expected {
        let body = eventually(&format!("echo-basic of {pod} on {ip}:3000"), 30, || async {
            Ok(http_get(*ip, 3000, "/hello").await.ok())
        })
        .await;
        let echo: Value = serde_json::from_str(&body).expect("echo-basic's JSON");
        assert_eq!(echo["pod"], pod.as_str(), "{body}");
        assert_eq!(echo["namespace"], namespace.as_str(), "{body}");
        assert_eq!(echo["path"], "/hello", "{body}");
        assert!(echo["service"] == "alpha" || echo["service"] == "beta");
    }
    let served: Vec<RunPod> = runner.pods();
    assert!(
        expected
            .iter()
            .all(|(pod, (_, ip))| served.iter().any(|s| &s.name == pod && s.ip == *ip)),
        "the runner lists every pod: {served:?}"
    );

    // The TLS backend waits for its Secret, then serves HTTPS on 8443.
    let tls_pods = eventually("2 Running tls pods", 90, || async {
        let pods = running_pods(&cluster, "default", "tls").await?;
        Ok((pods.len() == 2).then_some(pods))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for ip in tls_pods.values() {
        assert!(
            TcpStream::connect((*ip, 8443)).await.is_err(),
            "no HTTPS before the Secret exists"
        );
    }
    let cert = rcgen::generate_simple_self_signed(vec!["tls.example.com".to_owned()])
        .expect("a self-signed certificate");
    apply(
        &client,
        json!({
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": "tls-backend-cert", "namespace": "default"},
            "stringData": {"tls.crt": cert.cert.pem(), "tls.key": cert.signing_key.serialize_pem()},
        }),
    )
    .await
    .expect("secret");
    for (pod, ip) in &tls_pods {
        eventually(&format!("HTTPS of {pod} on {ip}:8443"), 30, || async {
            Ok(TcpStream::connect((*ip, 8443)).await.ok().map(drop))
        })
        .await;
    }

    // Pods that go away stop answering.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "backends");
    deployments
        .patch(
            "beta",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 0}})),
        )
        .await
        .expect("scaling beta to 0");
    for (pod, (namespace, ip)) in &expected {
        if namespace == "backends" {
            eventually(&format!("{pod} to stop answering"), 60, || async {
                Ok(http_get(*ip, 3000, "/").await.is_err().then_some(()))
            })
            .await;
        } else {
            http_get(*ip, 3000, "/")
                .await
                .expect("alpha pods still answer");
        }
    }

    // Dropping the runner stops every backend and removes every link.
    let pids: Vec<u32> = runner.pods().iter().map(|p| p.pid).collect();
    assert!(!pids.is_empty());
    drop(runner);
    for pid in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "echo-basic {pid} is gone"
        );
    }
    assert!(
        host_links(&cluster).is_empty(),
        "no veth left: {:?}",
        host_links(&cluster)
    );
}
