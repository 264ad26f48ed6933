//! The Helm chart `charts/fedway` (issue 12): `deploy/` is the chart
//! rendered (`deploy/render.sh`), so everything the deploy test proves of
//! `deploy/` holds for the chart's defaults; here, what only the chart
//! has: its values checked (lint, schema, required values), the options
//! `deploy/` leaves off accepted by a strict server-side dry run, and real
//! `helm install` and `helm upgrade` of a hub and a member release on real
//! API servers.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use fedway_e2e::{Cluster, ClusterOptions, manifests};
use k8s_openapi::api::{
    apps::v1::Deployment,
    core::v1::{Secret, Service},
    policy::v1::PodDisruptionBudget,
};
use kube::Api;
use serde_json::Value;

use super::{NAMESPACE, describe, install, repository};

fn chart() -> PathBuf {
    repository().join("charts/fedway")
}

fn helm() -> &'static Path {
    fedway_e2e::toolchain::helm().unwrap_or_else(|e| panic!("helm: {e}"))
}

fn run_helm(args: &[&str]) -> Output {
    Command::new(helm())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running helm {args:?}: {e}"))
}

/// `helm template` of the chart with `values` (`key=value,...`).
fn template(values: &[&str]) -> Result<String, String> {
    let chart = chart();
    let mut args = vec![
        "template",
        "fedway",
        chart.to_str().expect("a UTF-8 path"),
        "--namespace",
        NAMESPACE,
    ];
    for value in values {
        args.extend(["--set", value]);
    }
    let output = run_helm(&args);
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// The `*.yaml` files under `dir`, by path relative to it.
fn yaml_tree(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for component in std::fs::read_dir(dir).expect("reading a deploy tree") {
        let component = component.expect("a directory entry").path();
        let Ok(entries) = std::fs::read_dir(&component) else {
            continue;
        };
        for file in entries {
            let file = file.expect("a directory entry").path();
            if file.extension().is_some_and(|e| e == "yaml") {
                let relative = file
                    .strip_prefix(dir)
                    .expect("under dir")
                    .to_string_lossy()
                    .into_owned();
                let text = std::fs::read_to_string(&file)
                    .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
                files.insert(relative, text);
            }
        }
    }
    files
}

#[test]
fn deploy_is_the_chart_rendered() {
    let out = tempfile::tempdir().expect("a temporary directory");
    let status = Command::new(repository().join("deploy/render.sh"))
        .arg(out.path())
        .env("HELM", helm())
        .status()
        .expect("running deploy/render.sh");
    assert!(status.success(), "deploy/render.sh: {status}");
    let rendered = yaml_tree(out.path());
    let committed = yaml_tree(&repository().join("deploy"));
    assert!(rendered.len() >= 20, "render.sh wrote {rendered:?}");
    let differing: Vec<&String> = rendered
        .keys()
        .chain(committed.keys())
        .filter(|file| rendered.get(*file) != committed.get(*file))
        .collect();
    assert!(
        differing.is_empty(),
        "deploy/ is not charts/fedway rendered (run deploy/render.sh): {differing:?}"
    );
}

/// Every component on, every option set: what `helm lint --strict` and
/// the strict dry run below check.
const HUB_VALUES: &[&str] = &[
    "hub.enabled=true",
    "hub.replicas=3",
    "hub.leaseDuration=20s",
    "dns.enabled=true",
    "dns.reportPolicyStatus=true",
    "image.registry=registry.example.com/fedway",
    "image.tag=test",
    "image.pullPolicy=Never",
    "podAnnotations.example\\.com/team=edge",
    "hub.tolerations[0].key=dedicated,hub.tolerations[0].operator=Exists",
    "hub.nodeSelector.kubernetes\\.io/os=linux",
];

fn member_values(kubeconfig: &Path) -> Vec<String> {
    vec![
        "agent.enabled=true".into(),
        "agent.clusterName=east".into(),
        format!("agent.hubKubeconfig={}", kubeconfig.display()),
        "dns.enabled=true".into(),
        "dns.replicas=3".into(),
        "dns.service.type=NodePort".into(),
        "dns.service.annotations.example\\.com/lb=internal".into(),
        "proxy.enabled=true".into(),
        "proxy.addressPool=10.0.0.10-10.0.0.20".into(),
        "proxy.shutdownGraceSeconds=30".into(),
        "proxy.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=fedway.dev/proxy,proxy.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists".into(),
    ]
}

#[test]
fn chart_lints_and_refuses_bad_values_by_name() {
    let chart = chart();
    let chart = chart.to_str().expect("a UTF-8 path");
    let mut lint = vec!["lint", chart, "--strict"];
    for value in HUB_VALUES {
        lint.extend(["--set", value]);
    }
    let output = run_helm(&lint);
    assert!(
        output.status.success(),
        "helm lint --strict: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // (values, what the error must name)
    let cases: &[(&[&str], &str)] = &[
        (&["agent.enabled=true"], "agent.clusterName"),
        (&["proxy.enabled=true"], "proxy.addressPool"),
        (
            &[
                "dns.enabled=true",
                "dns.reportPolicyStatus=true",
                "dns.replicas=2",
            ],
            "needs exactly 1 replica",
        ),
        (&["hub.replica=3"], "'replica' not allowed"),
        (&["agent.clusterName=East_1"], "/agent/clusterName"),
        (&["dns.service.type=External"], "/dns/service/type"),
        (&["hub.leaseDuration=15"], "/hub/leaseDuration"),
        (&["image.pullPolicy=Sometimes"], "/image/pullPolicy"),
        (
            &[
                "proxy.enabled=true",
                "proxy.publish=service",
                "proxy.service.type=ClusterIP",
            ],
            "proxy.addressPool",
        ),
        (
            &[
                "proxy.enabled=true",
                "proxy.publish=service",
                "proxy.addressPool=10.0.0.1",
            ],
            "the load balancer gives the addresses",
        ),
        (&["proxy.publish=anycast"], "/proxy/publish"),
    ];
    for (values, named) in cases {
        match template(values) {
            Ok(_) => panic!("helm template {values:?} succeeded"),
            Err(message) => assert!(
                message.contains(named),
                "helm template {values:?} failed without naming {named}: {message}"
            ),
        }
    }
    // Nothing enabled renders nothing.
    let empty = template(&[]).expect("helm template with the defaults");
    assert!(
        manifests::parse_yaml(&empty, "defaults")
            .expect("YAML")
            .is_empty(),
        "the defaults render objects: {empty}"
    );
}

fn kubeconfig_file(dir: &Path, token: &str) -> PathBuf {
    let path = dir.join(format!("{token}.kubeconfig"));
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: hub, cluster: {{server: https://hub.example.com:6443}}}}]\nusers: [{{name: agent, user: {{token: {token}}}}}]\ncontexts: [{{name: hub, context: {{cluster: hub, user: agent}}}}]\ncurrent-context: hub\n"
        ),
    )
    .expect("writing a kubeconfig");
    path
}

/// Why fedway-proxy's container in `pod_spec` could not exec its binary
/// (the file capabilities deploy/docker/Dockerfile.fedway-proxy gives it).
fn proxy_unexecutable(pod_spec: &Value) -> Vec<String> {
    let dockerfile =
        std::fs::read_to_string(repository().join("deploy/docker/Dockerfile.fedway-proxy"))
            .expect("reading Dockerfile.fedway-proxy");
    let caps = fedway_e2e::pod_spec::file_capabilities(&dockerfile);
    assert!(
        !caps.is_empty(),
        "the proxy's Dockerfile sets a file capability"
    );
    fedway_e2e::pod_spec::unexecutable_containers(pod_spec, "ghcr.io/fedway/fedway-proxy", &caps)
}

/// Strict server-side dry run of what `helm template` renders for
/// `values`: every field known to the API server.
async fn dry_run(cluster: &Cluster, values: &[String]) -> Vec<Value> {
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    let rendered = template(&values).unwrap_or_else(|e| panic!("helm template: {e}"));
    let objects = manifests::parse_yaml(&rendered, "helm template").expect("YAML");
    let client = cluster.client();
    let mut refused = Vec::new();
    for object in &objects {
        if let Err(message) = install(&client, object, true).await {
            refused.push(format!("{}: {message}", describe(object)));
        }
    }
    assert!(
        refused.is_empty(),
        "{} refused the chart's objects for {values:?}:\n{}",
        cluster.name(),
        refused.join("\n")
    );
    objects
}

/// `helm upgrade --install` into `cluster`, as a user installs it.
fn helm_install(cluster: &Cluster, values: &[String]) {
    let chart = chart();
    let kubeconfig = cluster.admin_kubeconfig().to_str().expect("a UTF-8 path");
    let mut args = vec![
        "upgrade",
        "--install",
        "fedway",
        chart.to_str().expect("a UTF-8 path"),
        "--namespace",
        NAMESPACE,
        "--create-namespace",
        "--kubeconfig",
        kubeconfig,
    ];
    // --set-file for the credential, as `fedway-hub join`'s output is given.
    for value in values {
        let flag = if value.starts_with("agent.hubKubeconfig=") {
            "--set-file"
        } else {
            "--set"
        };
        args.extend([flag, value.as_str()]);
    }
    let output = run_helm(&args);
    assert!(
        output.status.success(),
        "helm {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_installs_and_upgrades_a_hub_and_a_member() {
    fedway_e2e::init_test_logging();
    let options = ClusterOptions::default();
    let (hub, member) = futures::future::try_join(
        Cluster::start("chart-hub", &options),
        Cluster::start("chart-east", &options),
    )
    .await
    .expect("starting the hub and the member");
    let scratch = tempfile::tempdir().expect("a temporary directory");

    let hub_values: Vec<String> = HUB_VALUES.iter().map(|v| v.to_string()).collect();
    // A hub release as helm installs it (creating the namespace the dry
    // run needs), then the strict dry run of the same values.
    helm_install(&hub, &hub_values);
    let hub_objects = dry_run(&hub, &hub_values).await;
    assert!(
        hub_objects
            .iter()
            .any(|o| o["kind"] == "ClusterRole"
                && o["metadata"]["name"] == "fedway-dns-policy-status"),
        "the hub's DNS server reports policy status"
    );
    let deployments: Api<Deployment> = Api::namespaced(hub.client(), NAMESPACE);
    let hub_deployment = deployments.get("fedway-hub").await.expect("fedway-hub");
    let spec = hub_deployment.spec.expect("a spec");
    assert_eq!(spec.replicas, Some(3));
    let pod = spec.template.spec.expect("a pod spec");
    let container = &pod.containers[0];
    assert_eq!(
        container.image.as_deref(),
        Some("registry.example.com/fedway/fedway-hub:test")
    );
    assert_eq!(container.image_pull_policy.as_deref(), Some("Never"));
    let args = container.args.clone().unwrap_or_default();
    assert!(
        args.contains(&"--lease-duration=20s".to_owned()),
        "{args:?}"
    );
    assert!(args.contains(&format!("--lease-namespace={NAMESPACE}")));
    assert!(container.liveness_probe.is_some(), "hub liveness probe");
    assert_eq!(
        spec.template
            .metadata
            .and_then(|m| m.annotations)
            .and_then(|a| a.get("example.com/team").cloned())
            .as_deref(),
        Some("edge")
    );
    assert_eq!(
        pod.tolerations.unwrap_or_default()[0].key.as_deref(),
        Some("dedicated")
    );
    let dns = deployments.get("fedway-dns").await.expect("fedway-dns");
    assert_eq!(dns.spec.and_then(|s| s.replicas), Some(1), "one writer");
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(hub.client(), NAMESPACE);
    assert!(pdbs.get_opt("fedway-hub").await.expect("PDBs").is_some());
    assert!(
        pdbs.get_opt("fedway-dns").await.expect("PDBs").is_none(),
        "no PDB for a single replica: it would block every drain"
    );

    // A member release with the credential join wrote.
    let first = kubeconfig_file(scratch.path(), "first-token");
    let member_values_first = member_values(&first);
    helm_install(&member, &member_values_first);
    // The dry run renders with --set: the credential's text, not its path.
    let mut rendered_values = member_values_first.clone();
    rendered_values.retain(|v| !v.starts_with("agent.hubKubeconfig="));
    rendered_values.push("agent.hubKubeconfig=inline".into());
    dry_run(&member, &rendered_values).await;
    // fedway-proxy behind Services, in the pod network, two replicas: what
    // publish=service changes (the Deployment, its PDB and the right to
    // write Services).
    for service_type in ["LoadBalancer", "ClusterIP"] {
        let mut values = vec![
            "proxy.enabled=true".to_owned(),
            "proxy.publish=service".to_owned(),
            format!("proxy.service.type={service_type}"),
        ];
        if service_type == "ClusterIP" {
            values.push("proxy.addressPool=10.0.0.10-10.0.0.20".to_owned());
        }
        let objects = dry_run(&member, &values).await;
        let deployment = objects
            .iter()
            .find(|o| o["kind"] == "Deployment")
            .expect("the proxy's Deployment");
        assert_eq!(deployment["spec"]["replicas"], 2);
        assert!(deployment["spec"]["template"]["spec"]["hostNetwork"].is_null());
        let args = deployment["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
        assert!(
            args.contains(&format!("--publish-service={service_type}")),
            "{args}"
        );
        assert!(
            objects
                .iter()
                .any(|o| o["kind"] == "PodDisruptionBudget"
                    && o["metadata"]["name"] == "fedway-proxy")
        );
        // What a dry run cannot see: the binary's file capability must stay
        // in the bounding set, or the pod never starts (the kind journey
        // found it).
        let unexecutable = proxy_unexecutable(&deployment["spec"]["template"]["spec"]);
        assert!(unexecutable.is_empty(), "{service_type}: {unexecutable:?}");
        let rules = objects
            .iter()
            .find(|o| o["kind"] == "Role" && o["metadata"]["name"] == "fedway-proxy-services")
            .expect("the proxy's Role for its Services")["rules"]
            .to_string();
        assert!(rules.contains(r#""create","patch","delete""#), "{rules}");
    }

    let secrets: Api<Secret> = Api::namespaced(member.client(), NAMESPACE);
    let secret_text = |secret: Secret| {
        secret
            .data
            .and_then(|d| d.get("kubeconfig").cloned())
            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
    };
    let secret = secrets
        .get("fedway-agent-hub-kubeconfig")
        .await
        .expect("the agent's Secret");
    assert_eq!(
        secret_text(secret),
        Some(std::fs::read_to_string(&first).expect("reading"))
    );
    let members: Api<Deployment> = Api::namespaced(member.client(), NAMESPACE);
    let checksum = |deployment: Deployment| {
        deployment
            .spec
            .and_then(|s| s.template.metadata)
            .and_then(|m| m.annotations)
            .and_then(|a| a.get("fedway.dev/hub-kubeconfig-sha256").cloned())
    };
    let before = checksum(members.get("fedway-agent").await.expect("the agent"));
    assert!(before.is_some(), "the agent's pod names its credential");
    let agent = members.get("fedway-agent").await.expect("the agent");
    let env = agent
        .spec
        .and_then(|s| s.template.spec)
        .expect("a pod spec")
        .containers[0]
        .env
        .clone()
        .unwrap_or_default();
    assert!(
        env.iter()
            .any(|e| e.name == "FEDWAY_CLUSTER" && e.value.as_deref() == Some("east")),
        "{env:?}"
    );
    let services: Api<Service> = Api::namespaced(member.client(), NAMESPACE);
    let dns_service = services.get("fedway-dns").await.expect("the DNS Service");
    let service_spec = dns_service.spec.expect("a spec");
    assert_eq!(service_spec.type_.as_deref(), Some("NodePort"));
    assert_eq!(
        service_spec.external_traffic_policy.as_deref(),
        Some("Local")
    );
    let member_pdbs: Api<PodDisruptionBudget> = Api::namespaced(member.client(), NAMESPACE);
    assert!(
        member_pdbs
            .get_opt("fedway-dns")
            .await
            .expect("PDBs")
            .is_some()
    );
    let proxy = members.get("fedway-proxy").await.expect("the proxy");
    let proxy_spec =
        serde_json::to_value(&proxy).expect("JSON")["spec"]["template"]["spec"].clone();
    let unexecutable = proxy_unexecutable(&proxy_spec);
    assert!(unexecutable.is_empty(), "host mode: {unexecutable:?}");
    let proxy_pod = proxy
        .spec
        .and_then(|s| s.template.spec)
        .expect("a pod spec");
    assert_eq!(proxy_pod.termination_grace_period_seconds, Some(35));
    assert!(proxy_pod.affinity.is_some(), "the proxy's affinity");

    // A rejoin: the new credential replaces the Secret and restarts the
    // agent (its pod template changes), which reads it only at start.
    let second = kubeconfig_file(scratch.path(), "second-token");
    helm_install(&member, &member_values(&second));
    let secret = secrets
        .get("fedway-agent-hub-kubeconfig")
        .await
        .expect("the agent's Secret");
    assert_eq!(
        secret_text(secret),
        Some(std::fs::read_to_string(&second).expect("reading"))
    );
    let after = checksum(members.get("fedway-agent").await.expect("the agent"));
    assert!(
        after.is_some() && after != before,
        "a new credential rolls the agent: {before:?} -> {after:?}"
    );
}
