//! fedway-proxy against nginx and HAProxy (Debian's) as equivalent reverse
//! proxies in front of the same backend, in one run: peak requests/s on one
//! core and p50/p99 latency at a fixed rate, for HTTP/1.1 keep-alive and
//! HTTP/2, plain and TLS; then memory per 10 000 idle keep-alive
//! connections. Figures are printed, never asserted.
//!
//! `cargo bench -p fedway-proxy --bench proxy` (installs Debian's
//! nginx-light, haproxy, nghttp2-client, curl on first use; needs root and
//! the e2e control plane). FEDWAY_PROXY_BENCH_SECONDS sets the length of each cell.
//!
//! fedway-proxy is configured the way it is in a cluster: a real
//! kube-apiserver (the e2e harness) gets a GatewayClass, a Gateway with an
//! HTTP and an HTTPS listener, an HTTPRoute, a Service and its EndpointSlice
//! pointing at the backend, and the `fedway-proxy` binary programs itself
//! from them. nginx and HAProxy get the same thing as config files.
//!
//! ```text
//!  CPU 0: h2load (load)  +  backend (nginx, 1 worker, fixed 21-byte body)
//!  CPU 1: the proxy under test (1 worker / thread), alone
//! ```

use std::{
    io::Read as _,
    net::{Ipv4Addr, SocketAddr, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use fedway_e2e::{Cluster, ClusterOptions, manifests};
use gateway_api::gateways::Gateway;
use kube::{Api, Client};
use serde_json::{Value, json};

/// Every proxy listens on its own loopback address in 127.55.0.0/24, so
/// the TIME_WAIT sockets the memory phase leaves behind never collide.
const FEDWAY_IP: Ipv4Addr = Ipv4Addr::new(127, 55, 0, 10);
const NGINX_IP: Ipv4Addr = Ipv4Addr::new(127, 55, 0, 11);
const HAPROXY_IP: Ipv4Addr = Ipv4Addr::new(127, 55, 0, 12);
const BACKEND_PORT: u16 = 8080;
const BODY: &str = "fedway-bench-backend\n";
/// Connections kept open at once in the memory phase.
const IDLE_CONNECTIONS: usize = 10_000;
/// Requests in flight during the peak runs, the same for HTTP/1.1 (one per
/// connection) and HTTP/2 (streams over fewer connections).
const IN_FLIGHT: usize = 64;
const PROXY_CPU: &str = "1";
const LOAD_CPU: &str = "0";
/// Fixed-rate runs are at this share of the slowest proxy's peak, so all
/// three are compared at the same load, which none of them is saturated by.
const FIXED_RATE_SHARE: f64 = 0.5;

fn main() {
    let seconds: u64 = std::env::var("FEDWAY_PROXY_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    fedway_e2e::packages::require(&[
        ("nginx", "nginx-light"),
        ("haproxy", "haproxy"),
        ("h2load", "nghttp2-client"),
        ("curl", "curl"),
        ("taskset", "util-linux"),
        ("prlimit", "util-linux"),
    ]);
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        eprintln!("proxy bench: needs 2 CPUs (one for the proxy, one for the load)");
        std::process::exit(1);
    }
    // The idle connections' client sockets are here, as many accepted
    // (plus upstream ones) in each proxy: the limit is raised before
    // anything is started, and the children inherit it.
    let nofile = raise_nofile();
    // HAProxy wants 2 descriptors per connection it may hold, so where the
    // hard limit is below 2 × 10 000 (a container without CAP_SYS_RESOURCE)
    // fewer connections are opened and the growth is scaled to 10 000.
    let idle = IDLE_CONNECTIONS.min((nofile.saturating_sub(1_000) / 2) / 1_000 * 1_000);
    fedway_e2e::init_test_logging();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(run(seconds, idle, nofile));
}

/// Raises this process's RLIMIT_NOFILE as far as allowed; returns it.
fn raise_nofile() -> usize {
    let pid = std::process::id().to_string();
    let hard = || -> Option<usize> {
        let out = Command::new("prlimit")
            .args([
                "--pid",
                &pid,
                "--nofile",
                "--raw",
                "--noheadings",
                "--output",
                "HARD",
            ])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    let set = |limit: usize| {
        Command::new("prlimit")
            .args(["--pid", &pid, &format!("--nofile={limit}:{limit}")])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if set(200_000) {
        return 200_000;
    }
    let hard = hard().expect("prlimit prints the hard RLIMIT_NOFILE");
    assert!(
        set(hard),
        "cannot raise RLIMIT_NOFILE to its hard limit {hard}"
    );
    hard
}

async fn run(seconds: u64, idle: usize, nofile: usize) {
    // Configs, certificate, logs; removed at the end (kept on a panic, for
    // the servers' logs).
    let dir = std::env::temp_dir().join(format!("fedway-proxy-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench directory");
    let path = dir.as_path();
    fedway_e2e::address::ensure_pod_network().expect("pod network on lo");
    let started = Instant::now();
    // Other work on the machine skews every figure; say how much there was.
    println!(
        "proxy bench: load average before the run: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let cluster = Cluster::start(
        "proxy-bench",
        &ClusterOptions {
            workloads: false,
            gateway_api: true,
            fedway_crds: false,
        },
    )
    .await
    .expect("starting the control plane");
    // EndpointSlices refuse loopback addresses, so the backend listens on
    // this cluster's pod network (198.18.S.0/24, local on lo), and nginx
    // and HAProxy are pointed at the same address.
    let pod_net = cluster.pod_cidr();
    let prefix = pod_net
        .split('/')
        .next()
        .and_then(|a| a.rsplit_once('.'))
        .map(|(p, _)| p.to_owned())
        .expect("pod CIDR a.b.c.0/24");
    let backend_ip: Ipv4Addr = format!("{prefix}.250").parse().expect("backend IP");
    let backend = SocketAddr::from((backend_ip, BACKEND_PORT));

    let ca = write_certificate(path);
    let tls_client = tls_client(ca);
    let mut backend_nginx = start_backend(path, backend);
    wait_http(&format!("http://{backend}/"), false, &mut backend_nginx);

    configure_fedway(&cluster.client(), path, backend).await;
    // Each phase gets fresh processes: an allocator keeps what the
    // previous phase's connections freed, which would hide the next
    // phase's growth.
    let start_peers = || {
        let mut peers = vec![
            start_fedway(path, cluster.admin_kubeconfig()),
            start_nginx(path, backend, nofile),
            start_haproxy(path, backend, idle, nofile),
        ];
        for peer in &mut peers {
            let urls = peer.urls();
            wait_http(&urls.h1, false, &mut peer.child);
            wait_http(&urls.tls, true, &mut peer.child);
            check_h2c(&urls.h2c);
        }
        peers
    };
    let mut peers = start_peers();
    if let Ok(gateway) = Api::<Gateway>::namespaced(cluster.client(), "bench")
        .get("gw")
        .await
    {
        eprintln!(
            "  fedway-proxy programmed: Gateway bench/gw Programmed={}",
            condition(&gateway, "Programmed")
        );
    }
    eprintln!(
        "  set-up (control plane, Gateway API objects, proxies) took {:.1} s",
        started.elapsed().as_secs_f64()
    );

    println!(
        "proxy bench: backend nginx ({}) on CPU {LOAD_CPU}, 1 worker, {}-byte body, at {backend}; each proxy alone on CPU {PROXY_CPU} with 1 worker/thread; h2load ({}) on CPU {LOAD_CPU}; {seconds} s per cell after 1 s warm-up; {IN_FLIGHT} requests in flight at peak",
        version("nginx", &["-v"]),
        BODY.len(),
        version("h2load", &["--version"]),
    );
    println!(
        "  proxies: fedway-proxy (this build, --threads 1), {} (1 worker), {} (nbthread 1); same ECDSA P-256 certificate (negotiated TLS in each cell's log line)",
        version("nginx", &["-v"]),
        version("haproxy", &["-v"]),
    );

    let mut memory = Vec::new();
    for tls in [false, true] {
        for peer in &peers {
            let client = tls.then(|| tls_client.clone());
            memory.push((peer.name, tls, idle_connections(peer, idle, client)));
        }
        stop_peers(&mut peers);
        peers = start_peers();
    }

    let mut rows = Vec::new();
    for (k, scenario) in SCENARIOS.iter().enumerate() {
        // Each scenario starts with another proxy, so a slow drift of the
        // machine's other load does not always favour the same one.
        let order: Vec<usize> = (0..peers.len()).map(|i| (i + k) % peers.len()).collect();
        let mut peaks = vec![None; peers.len()];
        for &i in &order {
            let peer = &peers[i];
            let url = peer.urls().for_scenario(scenario);
            let pids = process_tree(peer.child.id());
            let cpu_before = cpu_seconds(&pids);
            let wall = Instant::now();
            let result = h2load(path, scenario, &url, seconds, None).await;
            let cpu = (cpu_seconds(&pids) - cpu_before) / wall.elapsed().as_secs_f64();
            eprintln!(
                "  {} {}: {:.0} req/s at peak, proxy CPU {:.0} % ({})",
                peer.name,
                scenario.name,
                result.rps,
                cpu * 100.0,
                result.negotiated
            );
            peaks[i] = Some((result, cpu));
        }
        let peaks: Vec<(Load, f64)> = peaks.into_iter().flatten().collect();
        let slowest = peaks
            .iter()
            .map(|(r, _)| r.rps)
            .fold(f64::INFINITY, f64::min);
        let rate = ((slowest * FIXED_RATE_SHARE) as u64).max(scenario.clients as u64);
        let mut fixed = vec![None; peers.len()];
        for &i in &order {
            let peer = &peers[i];
            let url = peer.urls().for_scenario(scenario);
            let load = h2load(path, scenario, &url, seconds, Some(rate)).await;
            eprintln!(
                "  {} {} at {rate} req/s: p50 {:.2} ms, p99 {:.2} ms",
                peer.name, scenario.name, load.p50_ms, load.p99_ms
            );
            fixed[i] = Some(load);
        }
        for ((peer, (peak, cpu)), fixed) in peers.iter().zip(peaks).zip(fixed.into_iter().flatten())
        {
            rows.push(Row {
                scenario: scenario.name,
                proxy: peer.name,
                peak,
                cpu,
                rate,
                fixed,
            });
        }
    }

    stop_peers(&mut peers);
    stop(&mut backend_nginx);
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
    print_results(&rows, &memory);
}

struct Scenario {
    name: &'static str,
    h1: bool,
    tls: bool,
    /// Connections, and requests in flight on each (HTTP/2 streams).
    clients: usize,
    streams: usize,
}

const SCENARIOS: [Scenario; 4] = [
    Scenario {
        name: "h1 plain",
        h1: true,
        tls: false,
        clients: IN_FLIGHT,
        streams: 1,
    },
    Scenario {
        name: "h1 TLS",
        h1: true,
        tls: true,
        clients: IN_FLIGHT,
        streams: 1,
    },
    Scenario {
        name: "h2c",
        h1: false,
        tls: false,
        clients: 8,
        streams: IN_FLIGHT / 8,
    },
    Scenario {
        name: "h2 TLS",
        h1: false,
        tls: true,
        clients: 8,
        streams: IN_FLIGHT / 8,
    },
];

struct Urls {
    h1: String,
    h2c: String,
    tls: String,
}

impl Urls {
    fn for_scenario(&self, scenario: &Scenario) -> String {
        match (scenario.tls, scenario.h1) {
            (true, _) => self.tls.clone(),
            (false, true) => self.h1.clone(),
            (false, false) => self.h2c.clone(),
        }
    }
}

struct Peer {
    name: &'static str,
    ip: Ipv4Addr,
    /// nginx serves h2c on a port of its own (a plain `listen ... http2`
    /// speaks only HTTP/2); fedway-proxy and HAProxy detect the preface.
    h2c_port: u16,
    child: Child,
}

impl Peer {
    fn urls(&self) -> Urls {
        Urls {
            h1: format!("http://{}/", self.ip),
            h2c: format!("http://{}:{}/", self.ip, self.h2c_port),
            tls: format!("https://{}/", self.ip),
        }
    }
}

/// A CA and a certificate for `bench.example` it signs (ECDSA P-256),
/// written for the three proxies; returns the CA, which the idle TLS
/// client trusts.
fn write_certificate(dir: &Path) -> rustls::pki_types::CertificateDer<'static> {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["bench.example".to_owned()])
        .expect("cert params")
        .signed_by(&key, &issuer)
        .expect("certificate");
    std::fs::write(dir.join("cert.pem"), cert.pem()).expect("cert.pem");
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).expect("key.pem");
    // HAProxy wants certificate and key in one file.
    std::fs::write(
        dir.join("haproxy.pem"),
        format!("{}{}", cert.pem(), key.serialize_pem()),
    )
    .expect("haproxy.pem");
    ca.der().clone()
}

async fn apply(client: &Client, object: Value) {
    manifests::apply(client, object, "proxy bench")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// The Gateway API objects that make fedway-proxy the same reverse proxy
/// as the nginx and HAProxy configurations below.
async fn configure_fedway(client: &Client, dir: &Path, backend: SocketAddr) {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).expect("PEM file");
    apply(
        client,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}}),
    )
    .await;
    apply(
        client,
        json!({
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"namespace": "bench", "name": "bench-cert"},
            "stringData": {"tls.crt": read("cert.pem"), "tls.key": read("key.pem")},
        }),
    )
    .await;
    apply(
        client,
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
            "metadata": {"name": "fedway-proxy"},
            "spec": {"controllerName": "fedway.dev/lb-proxy"},
        }),
    )
    .await;
    apply(
        client,
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"namespace": "bench", "name": "gw"},
            "spec": {"gatewayClassName": "fedway-proxy", "listeners": [
                {"name": "http", "port": 80, "protocol": "HTTP"},
                {"name": "https", "port": 443, "protocol": "HTTPS",
                 "tls": {"mode": "Terminate", "certificateRefs": [{"name": "bench-cert"}]}},
            ]},
        }),
    )
    .await;
    apply(
        client,
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"namespace": "bench", "name": "backend"},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": backend.port()}]},
        }),
    )
    .await;
    apply(
        client,
        json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"namespace": "bench", "name": "backend-1",
                         "labels": {"kubernetes.io/service-name": "backend"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": backend.port(), "protocol": "TCP"}],
            "endpoints": [{"addresses": [backend.ip().to_string()], "conditions": {"ready": true}}],
        }),
    )
    .await;
    apply(
        client,
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"namespace": "bench", "name": "all"},
            "spec": {
                "parentRefs": [{"name": "gw"}],
                "rules": [{"backendRefs": [{"name": "backend", "port": 80}]}],
            },
        }),
    )
    .await;
}

fn condition(gateway: &Gateway, type_: &str) -> String {
    gateway
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == type_))
        .map_or_else(|| "absent".to_owned(), |c| c.status.clone())
}

/// `setpriv --pdeathsig TERM -- taskset -c CPU program args`: each exec
/// keeps the PID, so the child's PID is the server's, and a killed bench
/// takes its servers down (TERM, so nginx stops its workers too).
fn spawn(dir: &Path, name: &str, cpu: &str, program: &str, args: &[&str]) -> Child {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("log file");
    let err = log.try_clone().expect("log file");
    Command::new("setpriv")
        .args(["--pdeathsig", "TERM", "--", "taskset", "-c", cpu, program])
        .args(args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {name}: {e}"))
}

fn start_fedway(dir: &Path, kubeconfig: &Path) -> Peer {
    let child = spawn(
        dir,
        "fedway-proxy",
        PROXY_CPU,
        env!("CARGO_BIN_EXE_fedway-proxy"),
        &[
            "--kubeconfig",
            &kubeconfig.display().to_string(),
            "--address-pool",
            &FEDWAY_IP.to_string(),
            "--threads",
            "1",
            "--log",
            "warn",
        ],
    );
    Peer {
        name: "fedway-proxy",
        ip: FEDWAY_IP,
        h2c_port: 80,
        child,
    }
}

/// nginx's settings shared by the backend and the proxy: one worker, no
/// logs, files in the bench's directory, keep-alive that never ends a
/// connection during a run (the default closes it after 1000 requests,
/// which neither fedway-proxy nor HAProxy does).
fn nginx_common(dir: &Path, name: &str, connections: usize, nofile: usize) -> String {
    let d = dir.display();
    format!(
        "worker_processes 1;\ndaemon off;\npid {d}/{name}.pid;\nerror_log {d}/{name}.error.log warn;\nworker_rlimit_nofile {nofile};\nevents {{ worker_connections {connections}; }}\nhttp {{\n  access_log off;\n  client_body_temp_path {d}/{name}-body;\n  proxy_temp_path {d}/{name}-proxy;\n  fastcgi_temp_path {d}/{name}-fastcgi;\n  uwsgi_temp_path {d}/{name}-uwsgi;\n  scgi_temp_path {d}/{name}-scgi;\n  keepalive_requests 100000000;\n  keepalive_timeout 300s;\n"
    )
}

fn start_backend(dir: &Path, backend: SocketAddr) -> Child {
    let config = format!(
        "{}  server {{\n    listen {backend} backlog=4096;\n    location / {{ return 200 \"{}\\n\"; }}\n  }}\n}}\n",
        nginx_common(dir, "backend", 4096, 8192),
        BODY.trim_end()
    );
    let file = dir.join("backend.conf");
    std::fs::write(&file, config).expect("backend.conf");
    let prefix = format!("{}/", dir.display());
    spawn(
        dir,
        "backend",
        LOAD_CPU,
        "nginx",
        &["-p", &prefix, "-c", &file.display().to_string()],
    )
}

fn start_nginx(dir: &Path, backend: SocketAddr, nofile: usize) -> Peer {
    let d = dir.display();
    let ip = NGINX_IP;
    let config = format!(
        "{}  upstream backend {{ server {backend}; keepalive 64; keepalive_requests 100000000; }}\n  server {{\n    listen {ip}:80 backlog=4096;\n    listen {ip}:8081 http2 backlog=4096;\n    listen {ip}:443 ssl http2 backlog=4096;\n    ssl_certificate {d}/cert.pem;\n    ssl_certificate_key {d}/key.pem;\n    ssl_protocols TLSv1.2 TLSv1.3;\n    location / {{\n      proxy_pass http://backend;\n      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      proxy_set_header Host $http_host;\n      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n      proxy_set_header X-Forwarded-Proto $scheme;\n    }}\n  }}\n}}\n",
        // Client and upstream connections both count.
        nginx_common(dir, "nginx", nofile, nofile)
    );
    let file = dir.join("nginx.conf");
    std::fs::write(&file, config).expect("nginx.conf");
    let prefix = format!("{d}/");
    let child = spawn(
        dir,
        "nginx",
        PROXY_CPU,
        "nginx",
        &["-p", &prefix, "-c", &file.display().to_string()],
    );
    Peer {
        name: "nginx",
        ip,
        h2c_port: 8081,
        child,
    }
}

fn start_haproxy(dir: &Path, backend: SocketAddr, idle: usize, nofile: usize) -> Peer {
    // Room for the idle connections and the load runs' few hundred.
    let maxconn = idle + 500;
    let d = dir.display();
    let ip = HAPROXY_IP;
    let config = format!(
        "global\n  nbthread 1\n  maxconn {maxconn}\n  ulimit-n {nofile}\n  pidfile {d}/haproxy.pid\n  ssl-default-bind-options ssl-min-ver TLSv1.2\n\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 300s\n  timeout server 300s\n  timeout http-keep-alive 300s\n  timeout http-request 10s\n  option forwardfor\n  maxconn {maxconn}\n\nfrontend fe\n  bind {ip}:80\n  bind {ip}:443 ssl crt {d}/haproxy.pem alpn h2,http/1.1\n  http-request set-header X-Forwarded-Proto https if {{ ssl_fc }}\n  http-request set-header X-Forwarded-Proto http if !{{ ssl_fc }}\n  default_backend be\n\nbackend be\n  http-reuse always\n  server backend {backend} maxconn 1000\n"
    );
    let file = dir.join("haproxy.cfg");
    std::fs::write(&file, config).expect("haproxy.cfg");
    let child = spawn(
        dir,
        "haproxy",
        PROXY_CPU,
        "haproxy",
        &["-db", "-f", &file.display().to_string()],
    );
    Peer {
        name: "haproxy",
        ip,
        h2c_port: 80,
        child,
    }
}

/// Waits until `url` answers 200 with the backend's body.
fn wait_http(url: &str, tls: bool, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("server for {url} exited: {status}");
        }
        let mut curl = Command::new("curl");
        curl.args(["-s", "--max-time", "2"]);
        if tls {
            curl.arg("-k");
        }
        if let Ok(out) = curl.arg(url).output() {
            last = String::from_utf8_lossy(&out.stdout).into_owned();
            if last == BODY {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{url} did not answer with the backend's body (last answer: {last:?})");
}

fn check_h2c(url: &str) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "2", "--http2-prior-knowledge", url])
        .output()
        .expect("curl");
    assert!(
        String::from_utf8_lossy(&out.stdout) == BODY,
        "{url} does not answer h2c"
    );
}

#[derive(Clone)]
struct Load {
    rps: f64,
    /// What h2load negotiated: protocol, TLS version and cipher.
    negotiated: String,
    failed: u64,
    p50_ms: f64,
    p99_ms: f64,
}

/// One h2load run on the load CPU: closed loop (`rate` None) or `rate`
/// requests/s spread over the connections, with each request's latency
/// from h2load's log file (the first second, connection set-up, left out).
async fn h2load(
    dir: &Path,
    scenario: &Scenario,
    url: &str,
    seconds: u64,
    rate: Option<u64>,
) -> Load {
    let log = dir.join("h2load-requests.log");
    let _ = std::fs::remove_file(&log);
    let mut command = tokio::process::Command::new("taskset");
    command.args(["-c", LOAD_CPU, "h2load", "-t", "1"]);
    command.args(["-c", &scenario.clients.to_string()]);
    command.args(["-m", &scenario.streams.to_string()]);
    command.args(["-D", &seconds.to_string(), "--warm-up-time", "1"]);
    if scenario.h1 {
        command.arg("--h1");
    }
    if let Some(rate) = rate {
        let per_client = rate.div_ceil(scenario.clients as u64);
        command.arg(format!("--rps={per_client}"));
        command.arg(format!("--log-file={}", log.display()));
    }
    let out = command
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("h2load runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("finished in "))
        .and_then(|rest| rest.split(", ").nth(1))
        .and_then(|r| r.trim_end_matches(" req/s").parse::<f64>().ok())
        .unwrap_or_else(|| panic!("h2load printed no rate for {url}:\n{text}"));
    // "requests: N total, N started, N done, N succeeded, N failed, ..."
    let succeeded_and_failed =
        text.lines()
            .find_map(|l| l.strip_prefix("requests: "))
            .map(|rest| {
                let count = |label: &str| {
                    rest.split(", ")
                        .find_map(|p| p.strip_suffix(label))
                        .and_then(|n| n.trim().parse::<u64>().ok())
                        .unwrap_or(0)
                };
                (count(" succeeded"), count(" failed") + count(" errored"))
            });
    let non_2xx = text
        .lines()
        .find_map(|l| l.strip_prefix("status codes: "))
        .map_or(0, |rest| {
            rest.split(", ")
                .filter(|p| !p.ends_with("2xx"))
                .filter_map(|p| p.split_whitespace().next()?.parse::<u64>().ok())
                .sum()
        });
    let field = |label: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .map(str::trim)
    };
    let negotiated = [
        field("Application protocol:"),
        field("TLS Protocol:"),
        field("Cipher:"),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let failed = succeeded_and_failed.map_or(0, |(_, f)| f) + non_2xx;
    let (p50_ms, p99_ms) = if rate.is_some() {
        percentiles(&log)
    } else {
        (0.0, 0.0)
    };
    Load {
        rps,
        negotiated,
        failed,
        p50_ms,
        p99_ms,
    }
}

/// p50 and p99 in ms from h2load's per-request log (start µs, status,
/// duration µs), leaving out the first second.
fn percentiles(log: &Path) -> (f64, f64) {
    let text = std::fs::read_to_string(log).expect("h2load log file");
    let entries: Vec<(u64, u64)> = text
        .lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let start = fields.next()?.parse().ok()?;
            let _status = fields.next()?;
            let duration = fields.next()?.parse().ok()?;
            Some((start, duration))
        })
        .collect();
    let first = entries.iter().map(|e| e.0).min().unwrap_or(0);
    let mut durations: Vec<u64> = entries
        .iter()
        .filter(|(start, _)| *start >= first + 1_000_000)
        .map(|e| e.1)
        .collect();
    assert!(!durations.is_empty(), "h2load logged no requests");
    durations.sort_unstable();
    let at = |q: f64| {
        let index = ((durations.len() as f64 * q).ceil() as usize).clamp(1, durations.len()) - 1;
        durations[index] as f64 / 1000.0
    };
    (at(0.50), at(0.99))
}

/// Opens `connections` HTTP/1.1 keep-alive connections to `peer` (over
/// TLS with `tls`), one request each, keeps them open and idle, and
/// returns the proxy's resident memory before and with them (bytes), and
/// how many were open. They are opened in a few seconds: fedway-proxy
/// closes an idle keep-alive connection after 10 s (its header read
/// timeout).
fn idle_connections(
    peer: &Peer,
    connections: usize,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Memory {
    let pids = process_tree(peer.child.id());
    let before = rss_bytes(&pids);
    let addr = SocketAddr::from((peer.ip, if tls.is_some() { 443 } else { 80 }));
    let started = Instant::now();
    let threads = 8;
    let per_thread = connections / threads;
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let tls = tls.clone();
            std::thread::spawn(move || {
                let mut open = Vec::with_capacity(per_thread);
                let mut failures = 0usize;
                for _ in 0..per_thread {
                    match one_request(addr, tls.as_ref()) {
                        Ok(connection) => open.push(connection),
                        Err(_) => failures += 1,
                    }
                }
                (open, failures)
            })
        })
        .collect();
    let mut open = Vec::new();
    let mut failures = 0;
    for handle in handles {
        let (streams, failed) = handle.join().expect("client thread");
        open.extend(streams);
        failures += failed;
    }
    let opened_in = started.elapsed();
    // Let the proxy finish whatever it does after the last response.
    std::thread::sleep(Duration::from_millis(500));
    let pids = process_tree(peer.child.id());
    let with = rss_bytes(&pids);
    // Still open? A closed connection reads EOF (or a reset) at once; an
    // open one has nothing to read, or a late TLS session ticket.
    let still_open = open
        .iter()
        .filter(|held| {
            let mut socket = held.socket();
            socket.set_nonblocking(true).is_ok()
                && match socket.read(&mut [0u8; 1]) {
                    Ok(n) => n > 0,
                    Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
                }
        })
        .count();
    drop(open);
    eprintln!(
        "  {} {}: {still_open} idle connections open ({failures} failed) in {:.1} s, RSS {} -> {} KiB",
        peer.name,
        if tls.is_some() { "TLS" } else { "plain" },
        opened_in.as_secs_f64(),
        before / 1024,
        with / 1024
    );
    // Let the proxy see the closes before the next phase.
    std::thread::sleep(Duration::from_secs(2));
    Memory {
        before,
        with,
        open: still_open,
    }
}

/// A client connection kept open.
enum Held {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Held {
    fn socket(&self) -> &TcpStream {
        match self {
            Held::Plain(s) => s,
            Held::Tls(s) => s.get_ref(),
        }
    }
}

fn tls_client(ca: rustls::pki_types::CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).expect("CA certificate");
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

fn one_request(addr: SocketAddr, tls: Option<&Arc<rustls::ClientConfig>>) -> std::io::Result<Held> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut held = match tls {
        None => Held::Plain(stream),
        Some(config) => {
            let name = rustls::pki_types::ServerName::try_from("bench.example")
                .map_err(std::io::Error::other)?;
            let connection = rustls::ClientConnection::new(config.clone(), name)
                .map_err(std::io::Error::other)?;
            Held::Tls(Box::new(rustls::StreamOwned::new(connection, stream)))
        }
    };
    let io: &mut dyn ReadWrite = match &mut held {
        Held::Plain(s) => s,
        Held::Tls(s) => s.as_mut(),
    };
    io.write_all(b"GET / HTTP/1.1\r\nHost: bench.example\r\n\r\n")?;
    let mut response = Vec::new();
    let mut buf = [0u8; 1024];
    while !response.ends_with(BODY.as_bytes()) {
        let n = io.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        response.extend_from_slice(&buf[..n]);
    }
    if !response.starts_with(b"HTTP/1.1 200") {
        return Err(std::io::ErrorKind::InvalidData.into());
    }
    Ok(held)
}

trait ReadWrite: std::io::Read + std::io::Write {}
impl<T: std::io::Read + std::io::Write> ReadWrite for T {}

struct Memory {
    before: u64,
    with: u64,
    open: usize,
}

/// The process and its children (nginx's workers).
fn process_tree(pid: u32) -> Vec<u32> {
    let mut pids = vec![pid];
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // The fields after the command (which may hold spaces) in parentheses.
            let parent = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if parent == Some(pid) {
                pids.push(child);
            }
        }
    }
    pids
}

fn rss_bytes(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let kib: u64 = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()?;
            Some(kib * 1024)
        })
        .sum()
}

/// User + system CPU time of the processes, in seconds.
fn cpu_seconds(pids: &[u32]) -> f64 {
    // USER_HZ is 100 on every Linux this runs on.
    let ticks: u64 = pids
        .iter()
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let (_, rest) = stat.rsplit_once(')')?;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime are fields 14 and 15, i.e. 11 and 12 after ')'.
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some(utime + stime)
        })
        .sum();
    ticks as f64 / 100.0
}

struct Row {
    scenario: &'static str,
    proxy: &'static str,
    peak: Load,
    cpu: f64,
    rate: u64,
    fixed: Load,
}

fn print_results(rows: &[Row], memory: &[(&'static str, bool, Memory)]) {
    println!(
        "proxy results (same backend, same machine, one run; req/s per core = peak req/s / proxy CPU share):"
    );
    println!(
        "  {:<9} {:<13} {:>10} {:>5} {:>14} {:>8} {:>9} {:>8} {:>8} {:>6}",
        "protocol",
        "proxy",
        "peak req/s",
        "CPU",
        "req/s per core",
        "vs nginx",
        "fixed r/s",
        "p50 ms",
        "p99 ms",
        "errors"
    );
    for row in rows {
        let nginx = rows
            .iter()
            .find(|r| r.scenario == row.scenario && r.proxy == "nginx");
        let ratio = nginx.map_or(0.0, |n| per_core(row) / per_core(n));
        println!(
            "  {:<9} {:<13} {:>10.0} {:>4.0}% {:>14.0} {:>7.2}× {:>9} {:>8.2} {:>8.2} {:>6}",
            row.scenario,
            row.proxy,
            row.peak.rps,
            row.cpu * 100.0,
            per_core(row),
            ratio,
            row.rate,
            row.fixed.p50_ms,
            row.fixed.p99_ms,
            row.peak.failed + row.fixed.failed,
        );
    }
    println!(
        "idle HTTP/1.1 keep-alive connections (one request each, then idle; RSS of the proxy's processes, growth scaled to 10k):"
    );
    for (name, tls, m) in memory {
        let growth = m.with.saturating_sub(m.before) as f64;
        let per_10k = if m.open > 0 {
            growth * 10_000.0 / m.open as f64
        } else {
            0.0
        };
        println!(
            "  {:<5} {:<13} {:>6} open  RSS {:>7} KiB -> {:>7} KiB  {:>6.1} MiB per 10k connections ({:.1} KiB each)",
            if *tls { "TLS" } else { "plain" },
            name,
            m.open,
            m.before / 1024,
            m.with / 1024,
            per_10k / 1_048_576.0,
            per_10k / 10_000.0 / 1024.0
        );
    }
    for tls in [false, true] {
        let each = |proxy: &str| {
            memory
                .iter()
                .find(|(name, t, _)| *name == proxy && *t == tls)
                .map_or(0.0, |(_, _, m)| {
                    m.with.saturating_sub(m.before) as f64 / m.open.max(1) as f64 / 1024.0
                })
        };
        println!(
            "summary: fedway-proxy idle {} connection: {:.1} KiB vs {:.1} KiB (nginx), {:.1} KiB (haproxy); {:.0} MiB per 10k",
            if tls { "TLS" } else { "plain" },
            each("fedway-proxy"),
            each("nginx"),
            each("haproxy"),
            each("fedway-proxy") * 10_000.0 / 1024.0
        );
    }
    for scenario in SCENARIOS {
        let find = |proxy: &str| {
            rows.iter()
                .find(|r| r.scenario == scenario.name && r.proxy == proxy)
        };
        if let (Some(fedway), Some(nginx), Some(haproxy)) =
            (find("fedway-proxy"), find("nginx"), find("haproxy"))
        {
            println!(
                "summary: fedway-proxy {}: {:.2}× nginx rate per core ({:.2}× haproxy; peak {:.2}× nginx), p99 {:.2} ms vs {:.2} ms (nginx), {:.2} ms (haproxy) at {} req/s",
                scenario.name,
                per_core(fedway) / per_core(nginx),
                per_core(fedway) / per_core(haproxy),
                fedway.peak.rps / nginx.peak.rps,
                fedway.fixed.p99_ms,
                nginx.fixed.p99_ms,
                haproxy.fixed.p99_ms,
                fedway.rate
            );
        }
    }
}

/// Peak req/s over the share of its CPU the proxy used: where the load
/// side (h2load and the backend on the other CPU) saturates first, the
/// proxy's CPU is not full, and this extrapolates to a full core.
fn per_core(row: &Row) -> f64 {
    if row.cpu > 0.0 {
        row.peak.rps / row.cpu.min(1.0)
    } else {
        0.0
    }
}

fn stop_peers(peers: &mut [Peer]) {
    for peer in peers {
        stop(&mut peer.child);
    }
}

/// SIGTERM (nginx and HAProxy stop their workers), then reap; SIGKILL
/// after 10 s.
fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// First line of `program args` (stdout or stderr: nginx prints to stderr).
fn version(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|o| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            text.lines().next().map(|l| {
                l.trim_start_matches("nginx version: ")
                    .split(" - ")
                    .next()
                    .unwrap_or(l)
                    .to_owned()
            })
        })
        .unwrap_or_else(|| program.to_owned())
}
