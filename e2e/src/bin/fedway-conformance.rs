//! `fedway-conformance`: runs the upstream Gateway API conformance suite
//! (`sigs.k8s.io/gateway-api/conformance`, same version as the CRDs) against
//! one cluster of the harness, in one command:
//!
//! 1. a cluster with kube-controller-manager, kube-scheduler, kwok and the
//!    Gateway API CRDs, and the GatewayClass under test;
//! 2. the pod runner, so the suite's echo Deployments answer on their pod
//!    IPs (one echo-basic process and network namespace per pod);
//! 3. the implementation under test (`--proxy`, see PROXY HOOK below);
//! 4. the suite (our Go runner in `e2e/conformance`, compiled by `go test`),
//!    then a pass/fail table per test, core vs extended per profile.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{ExitCode, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::Parser;
use fedway_e2e::{
    Cluster, ClusterOptions, PodRunner, Toolchain, manifests, process::ManagedProcess,
};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Parser)]
#[command(
    name = "fedway-conformance",
    version,
    about = "Runs the upstream Gateway API conformance suite against a harness cluster"
)]
struct Cli {
    /// GatewayClass the suite tests; created with `--controller-name`.
    #[arg(long, default_value = "fedway-proxy")]
    gateway_class: String,
    /// controllerName of that GatewayClass (the implementation's).
    #[arg(long, default_value = "fedway.dev/lb-proxy")]
    controller_name: String,
    /// Conformance profiles, comma-separated (GATEWAY-HTTP, GATEWAY-GRPC, ...).
    #[arg(long, default_value = "GATEWAY-HTTP")]
    profiles: String,
    /// Supported features, comma-separated. Empty: the suite reads them from
    /// the GatewayClass's status.supportedFeatures (which the implementation
    /// must then publish).
    #[arg(long, default_value = "")]
    supported_features: String,
    /// Features to leave out, comma-separated.
    #[arg(long, default_value = "")]
    exempt_features: String,
    /// Tests to skip, comma-separated short names.
    #[arg(long, default_value = "")]
    skip_tests: String,
    /// Run only this test (short name, e.g. HTTPRouteSimpleSameNamespace).
    #[arg(long)]
    run_test: Option<String>,
    /// Suite timeouts, `Name:seconds;...` (upstream's -timeout-config-overrides).
    #[arg(long, default_value = "")]
    timeouts: String,
    /// The suite's debug logs (requests and responses).
    #[arg(long)]
    debug: bool,
    /// Where the report, per-test results and the suite's log go.
    #[arg(long, default_value_os_t = default_output_dir())]
    output_dir: PathBuf,
    /// Go test timeout for the whole suite.
    #[arg(long, default_value = "90m")]
    suite_timeout: String,
    /// PROXY HOOK: the implementation to start once the cluster is up, e.g.
    /// `target/debug/fedway-proxy`. Not given: nothing is started, and the
    /// suite fails waiting for the GatewayClass to be accepted.
    #[arg(long)]
    proxy: Option<PathBuf>,
    /// Arguments for `--proxy` (repeat the flag), with `{kubeconfig}`,
    /// `{gateway_class}`, `{controller_name}` and `{address_pool}`
    /// (`127.20.S.100-127.20.S.200`, this cluster's loopback range for
    /// Gateway addresses) substituted. Default: `--kubeconfig {kubeconfig}
    /// --controller-name {controller_name} --address-pool {address_pool}`.
    #[arg(long = "proxy-arg", allow_hyphen_values = true)]
    proxy_args: Vec<String>,
    /// Address a Gateway may ask for in spec.addresses (GatewayStaticAddresses).
    /// Default: 127.20.S.210, on this cluster's loopback range but outside
    /// the proxy's pool.
    #[arg(long)]
    usable_address: Option<String>,
    /// Address the implementation cannot use (GatewayStaticAddresses).
    #[arg(long, default_value = "203.0.113.1")]
    unusable_address: String,
    /// More arguments for the suite (upstream flags, e.g. `-mode=...`).
    #[arg(long = "suite-arg", allow_hyphen_values = true)]
    suite_args: Vec<String>,
    /// Keep the cluster running after the suite until Ctrl-C, to inspect it.
    #[arg(long)]
    keep: bool,
}

fn default_output_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fedway-conformance")
}

/// The Go runner of the suite (our own code; the suite comes from the
/// module cache).
fn runner_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance")
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    fedway_e2e::init_test_logging();
    let started = Instant::now();
    let toolchain = Toolchain::get().context("locating or building the control plane")?;
    std::fs::create_dir_all(&cli.output_dir)
        .with_context(|| format!("creating {}", cli.output_dir.display()))?;
    let output_dir = cli.output_dir.canonicalize()?;
    let report = output_dir.join("report.yaml");
    let results = output_dir.join("results.jsonl");
    let suite_log = output_dir.join("suite.log");
    for stale in [&report, &results, &suite_log] {
        let _ = std::fs::remove_file(stale);
    }

    // Compile the suite before starting anything (minutes the first time).
    let suite_binary = output_dir.join("conformance.test");
    check_suite_version(toolchain).await?;
    eprintln!("fedway-conformance: compiling the suite (e2e/conformance)");
    let status = tokio::process::Command::new("go")
        .args(["test", "-c", "-o"])
        .arg(&suite_binary)
        .arg(".")
        .current_dir(runner_dir())
        .status()
        .await
        .context("running `go test -c` (Go >= 1.26 is required)")?;
    if !status.success() {
        bail!("compiling the conformance suite failed ({status})");
    }

    let cluster = Cluster::start(
        "conformance",
        &ClusterOptions {
            workloads: true,
            gateway_api: true,
            fedway_crds: true,
        },
    )
    .await
    .context("starting the cluster")?;
    manifests::apply(
        &cluster.client(),
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
            "metadata": {"name": cli.gateway_class},
            "spec": {"controllerName": cli.controller_name},
        }),
        "fedway-conformance",
    )
    .await
    .context("creating the GatewayClass")?;
    let pods = PodRunner::start(&cluster)
        .await
        .context("starting the pod runner")?;

    // ---- PROXY HOOK ------------------------------------------------------
    // The implementation under test is started here, with the cluster's
    // admin kubeconfig and a pool of loopback addresses for its Gateways
    // (reachable from the suite, which runs on this host). Until lb-proxy is
    // ready, run without --proxy: the suite then fails at "GatewayClass
    // must be accepted".
    let address_pool = format!("{}-{}", cluster.address(100), cluster.address(200));
    let _proxy = match &cli.proxy {
        Some(program) => {
            let template: Vec<String> = if cli.proxy_args.is_empty() {
                [
                    "--kubeconfig",
                    "{kubeconfig}",
                    "--controller-name",
                    "{controller_name}",
                    "--address-pool",
                    "{address_pool}",
                ]
                .map(str::to_owned)
                .to_vec()
            } else {
                cli.proxy_args.clone()
            };
            let args: Vec<String> = template
                .iter()
                .map(|a| {
                    a.replace(
                        "{kubeconfig}",
                        &cluster.admin_kubeconfig().display().to_string(),
                    )
                    .replace("{gateway_class}", &cli.gateway_class)
                    .replace("{controller_name}", &cli.controller_name)
                    .replace("{address_pool}", &address_pool)
                })
                .collect();
            let process = ManagedProcess::spawn("proxy", program, &args, &output_dir)
                .context("starting the proxy")?;
            eprintln!(
                "fedway-conformance: started {} {} (log: {})",
                program.display(),
                args.join(" "),
                process.log_path().display()
            );
            // The suite reads the supported features from the class once,
            // at start: wait until the implementation published them.
            wait_for_class(&cluster, &cli.gateway_class).await?;
            Some(process)
        }
        None => {
            eprintln!(
                "fedway-conformance: no --proxy: nothing implements GatewayClass {} (controller {})",
                cli.gateway_class, cli.controller_name
            );
            None
        }
    };
    // ----------------------------------------------------------------------

    eprintln!(
        "fedway-conformance: cluster {} ready ({}), running the suite (log: {})",
        cluster.server_url(),
        cluster.admin_kubeconfig().display(),
        suite_log.display()
    );
    let outcome = run_suite(&cli, &cluster, &suite_binary, &report, &results, &suite_log).await?;

    let table = read_results(&results)?;
    print_table(&table, &cli.profiles);
    print_report(&report);
    let failed = table.iter().any(|r| r.result == "fail");
    match &outcome {
        SuiteOutcome::Finished(status) if status.success() && !failed => {
            println!("suite passed");
        }
        SuiteOutcome::Finished(status) => {
            println!(
                "suite failed ({status}); last lines of {}:",
                suite_log.display()
            );
            println!("{}", failure_lines(&suite_log, 40));
            if table.is_empty()
                && let Some(stage) = last_setup_stage(&suite_log)
            {
                println!("the suite stopped before its tests, at \"{stage}\"");
            }
        }
        SuiteOutcome::Interrupted => println!("interrupted"),
    }
    println!(
        "served {} pods; {} still waiting; {:.0?} in all; cluster logs in {}",
        pods.pods().len(),
        pods.waiting().len(),
        started.elapsed(),
        cluster.log_dir().display()
    );
    if cli.keep && !matches!(outcome, SuiteOutcome::Interrupted) {
        println!(
            "keeping the cluster until Ctrl-C: export KUBECONFIG={}",
            cluster.admin_kubeconfig().display()
        );
        fedway_runtime::shutdown_signal().await;
    }
    drop(pods);
    drop(cluster);
    Ok(match outcome {
        SuiteOutcome::Finished(status) if status.success() && !failed => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}

/// The suite must be the release whose CRDs the cluster serves.
async fn check_suite_version(toolchain: &Toolchain) -> anyhow::Result<()> {
    let output = tokio::process::Command::new("go")
        .args([
            "list",
            "-m",
            "-f",
            "{{.Version}}",
            "sigs.k8s.io/gateway-api/conformance",
        ])
        .current_dir(runner_dir())
        .stderr(Stdio::inherit())
        .output()
        .await
        .context("running `go list` (Go >= 1.26 is required)")?;
    let suite = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let crds = toolchain.gateway_api_dir.display().to_string();
    if !output.status.success() || !crds.ends_with(&format!("@{suite}")) {
        bail!(
            "the suite (e2e/conformance/go.mod: {suite}) and the CRDs ({crds}, from e2e/go/gateway-api/go.mod) must be the same release"
        );
    }
    Ok(())
}

enum SuiteOutcome {
    Finished(std::process::ExitStatus),
    Interrupted,
}

async fn run_suite(
    cli: &Cli,
    cluster: &Cluster,
    binary: &Path,
    report: &Path,
    results: &Path,
    log: &Path,
) -> anyhow::Result<SuiteOutcome> {
    let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let mut command = tokio::process::Command::new(binary);
    command
        .arg("-test.v")
        .arg(format!("-test.timeout={}", cli.suite_timeout))
        .arg("-test.run=^TestGatewayAPIConformance$")
        .args(&cli.suite_args)
        .current_dir(runner_dir())
        .env("KUBECONFIG", cluster.admin_kubeconfig())
        .env("FEDWAY_CONFORMANCE_GATEWAY_CLASS", &cli.gateway_class)
        .env("FEDWAY_CONFORMANCE_PROFILES", &cli.profiles)
        .env(
            "FEDWAY_CONFORMANCE_SUPPORTED_FEATURES",
            &cli.supported_features,
        )
        .env("FEDWAY_CONFORMANCE_EXEMPT_FEATURES", &cli.exempt_features)
        .env("FEDWAY_CONFORMANCE_SKIP_TESTS", &cli.skip_tests)
        .env(
            "FEDWAY_CONFORMANCE_RUN_TEST",
            cli.run_test.as_deref().unwrap_or(""),
        )
        .env("FEDWAY_CONFORMANCE_TIMEOUTS", &cli.timeouts)
        .env(
            "FEDWAY_CONFORMANCE_USABLE_ADDRESS",
            cli.usable_address
                .clone()
                .unwrap_or_else(|| cluster.address(210).to_string()),
        )
        .env("FEDWAY_CONFORMANCE_UNUSABLE_ADDRESS", &cli.unusable_address)
        .env("FEDWAY_CONFORMANCE_DEBUG", cli.debug.to_string())
        .env("FEDWAY_CONFORMANCE_REPORT", report)
        .env("FEDWAY_CONFORMANCE_RESULTS", results)
        .env("FEDWAY_CONFORMANCE_VERSION", env!("CARGO_PKG_VERSION"))
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .kill_on_drop(true);
    let mut child = command.spawn().context("starting the suite")?;

    // Print each test's result as it finishes.
    let mut printed = 0;
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    let shutdown = fedway_runtime::shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            status = child.wait() => {
                let status = status?;
                print_progress(results, &mut printed);
                return Ok(SuiteOutcome::Finished(status));
            }
            _ = tick.tick() => print_progress(results, &mut printed),
            _ = &mut shutdown => {
                let _ = child.kill().await;
                return Ok(SuiteOutcome::Interrupted);
            }
        }
    }
}

/// One line of the results file the Go runner writes.
#[derive(Debug, Deserialize)]
struct TestResult {
    test: String,
    result: String,
    #[serde(default)]
    features: Option<Vec<String>>,
    #[serde(default)]
    levels: BTreeMap<String, String>,
}

fn read_results(path: &Path) -> anyhow::Result<Vec<TestResult>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).with_context(|| format!("parsing {l}")))
        .collect()
}

fn print_progress(results: &Path, printed: &mut usize) {
    let Ok(all) = read_results(results) else {
        return;
    };
    for r in all.iter().skip(*printed) {
        if r.result != "unsupported" {
            eprintln!("  {:<5} {}", r.result.to_uppercase(), r.test);
        }
    }
    *printed = all.len();
}

fn print_table(results: &[TestResult], profiles: &str) {
    if results.is_empty() {
        println!("\nno test ran (the suite failed before its tests: see below)");
        return;
    }
    let profiles: Vec<&str> = profiles
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let width = results
        .iter()
        .map(|r| r.test.len())
        .max()
        .unwrap_or(4)
        .max(4);
    print!("\n{:<width$}  {:<11}", "test", "result");
    for p in &profiles {
        print!("  {p:<12}");
    }
    println!("  features");
    let unsupported = results.iter().filter(|r| r.result == "unsupported").count();
    for r in results.iter().filter(|r| r.result != "unsupported") {
        print!("{:<width$}  {:<11}", r.test, r.result.to_uppercase());
        for p in &profiles {
            print!(
                "  {:<12}",
                r.levels.get(*p).map(String::as_str).unwrap_or("-")
            );
        }
        println!("  {}", r.features.clone().unwrap_or_default().join(","));
    }
    println!("({unsupported} tests of unsupported features not listed)\n");
    for p in &profiles {
        for level in ["core", "extended"] {
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for r in results
                .iter()
                .filter(|r| r.levels.get(*p).is_some_and(|l| l == level))
            {
                *counts.entry(r.result.as_str()).or_default() += 1;
            }
            let get = |k: &str| counts.get(k).copied().unwrap_or(0);
            println!(
                "{p} {level:<8}: {} passed, {} failed, {} skipped, {} unsupported",
                get("pass"),
                get("fail"),
                get("skip"),
                get("unsupported")
            );
        }
    }
}

/// The profiles' summaries from upstream's ConformanceReport.
fn print_report(path: &Path) {
    let Ok(text) = std::fs::read_to_string(path) else {
        println!("no conformance report ({} not written)", path.display());
        return;
    };
    println!("conformance report: {}", path.display());
    let report: Result<serde_json::Value, _> = serde_saphyr::from_str(&text);
    if let Ok(report) = report {
        for profile in report["profiles"].as_array().into_iter().flatten() {
            println!(
                "  {}: {}",
                profile["name"].as_str().unwrap_or("?"),
                profile["summary"].as_str().unwrap_or("")
            );
        }
    }
}

/// The last "Test Setup: ..." step the suite logged.
fn last_setup_stage(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .filter_map(|l| {
            l.split_once("Test Setup: ")
                .map(|(_, stage)| stage.trim().to_owned())
        })
        .next_back()
}

/// The suite log's failure messages (testify's `Error:` blocks and the
/// `--- FAIL` lines), else its last lines.
fn failure_lines(log: &Path, max: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let mut picked: Vec<&str> = Vec::new();
    let mut in_error = false;
    for line in &lines {
        let trimmed = line.trim_start();
        if trimmed.starts_with("Error Trace:") {
            in_error = true;
        }
        if in_error || trimmed.starts_with("--- FAIL") || trimmed.starts_with("FAIL") {
            picked.push(line);
        }
        if trimmed.starts_with("Test:") {
            in_error = false;
        }
    }
    let chosen = if picked.is_empty() { lines } else { picked };
    chosen[chosen.len().saturating_sub(max)..].join("\n")
}

/// Waits (up to a minute) for the GatewayClass to be Accepted with its
/// supported features listed.
async fn wait_for_class(cluster: &Cluster, name: &str) -> anyhow::Result<()> {
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::all_with(
        cluster.client(),
        &kube::api::ApiResource {
            group: "gateway.networking.k8s.io".into(),
            version: "v1".into(),
            api_version: "gateway.networking.k8s.io/v1".into(),
            kind: "GatewayClass".into(),
            plural: "gatewayclasses".into(),
        },
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Ok(class) = api.get(name).await {
            let status = &class.data["status"];
            let accepted = status["conditions"].as_array().is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|c| c["type"] == "Accepted" && c["status"] == "True")
            });
            let features = status["supportedFeatures"]
                .as_array()
                .is_some_and(|f| !f.is_empty());
            if accepted && features {
                return Ok(());
            }
        }
        if std::time::Instant::now() > deadline {
            bail!("GatewayClass {name} was not Accepted with supportedFeatures within 60 s");
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
