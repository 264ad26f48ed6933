//! dnsperf against fedway-dns, NSD and Knot serving the same zone on this
//! machine, in one run, at 1 and 2 server threads. Prints queries/s,
//! latency and the ratio to NSD. Figures are printed, never asserted.
//!
//! `cargo bench -p fedway-dns --bench dnsperf` (installs Debian's nsd, knot,
//! dnsperf and dnsutils on first use). FEDWAY_DNSPERF_SECONDS sets the run
//! length.

use std::{
    fmt::Write as _,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const ZONE: &str = "bench.example";
const HOSTS: usize = 1000;
const IP: &str = "127.53.200.1";

fn main() {
    let seconds: u64 = std::env::var("FEDWAY_DNSPERF_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    fedway_e2e::packages::require(&[
        ("dnsperf", "dnsperf"),
        ("nsd", "nsd"),
        ("knotd", "knot"),
        ("dig", "dnsutils"),
        ("taskset", "util-linux"),
    ]);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path();
    std::fs::write(path.join("zone.yaml"), fedway_zone()).expect("zone yaml");
    std::fs::write(path.join("zone.txt"), zone_file()).expect("zone file");
    std::fs::write(path.join("queries.txt"), queries()).expect("queries");
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());

    println!(
        "dnsperf: {HOSTS} hostnames (2 A each), queries 80% A / 5% AAAA (NODATA) / 10% NXDOMAIN / 5% SOA, {seconds} s per run, {cpus} CPUs"
    );
    let mut rows = Vec::new();
    for threads in [1usize, 2] {
        let mut results = Vec::new();
        for server in [Server::Fedway, Server::Nsd, Server::Knot] {
            let port = free_port();
            let mut child = server.start(path, port, threads);
            wait_ready(port, &mut child, server, path);
            // One server thread: server on CPU 1, dnsperf on CPU 0. Two: both
            // share the machine's CPUs (there are only two).
            let pin = if threads == 1 && cpus >= 2 {
                Some("0")
            } else {
                None
            };
            let result = dnsperf(path, port, seconds, pin);
            stop(&mut child);
            eprintln!(
                "  {} at {threads} thread(s): {:.0} q/s",
                server.name(),
                result.qps
            );
            results.push((server, result));
        }
        let nsd_qps = results
            .iter()
            .find(|(s, _)| *s == Server::Nsd)
            .map_or(0.0, |(_, r)| r.qps);
        for (server, result) in results {
            let ratio = if nsd_qps > 0.0 {
                result.qps / nsd_qps
            } else {
                0.0
            };
            rows.push(format!(
                "{threads} thread{}  {:<10} {:>10.0} q/s  avg {:>7.1} µs  stddev {:>7.1} µs  lost {:>5}  {:.2}× NSD",
                if threads == 1 { " " } else { "s" },
                server.name(),
                result.qps,
                result.avg_latency_us,
                result.stddev_us,
                result.lost,
                ratio
            ));
        }
    }
    println!("dnsperf results (same zone, same machine, one run):");
    for row in rows {
        println!("  {row}");
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Server {
    Fedway,
    Nsd,
    Knot,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::Fedway => "fedway-dns",
            Server::Nsd => "NSD",
            Server::Knot => "Knot",
        }
    }

    fn start(self, dir: &Path, port: u16, threads: usize) -> Child {
        let mut command = if threads == 1 {
            let mut c = Command::new("taskset");
            c.args(["-c", "1"]);
            c
        } else {
            Command::new("env")
        };
        let d = dir.display();
        match self {
            Server::Fedway => {
                command.arg(env!("CARGO_BIN_EXE_fedway-dns")).args([
                    "--file",
                    &format!("{d}/zone.yaml"),
                    "--listen",
                    &format!("{IP}:{port}"),
                    "--threads",
                    &threads.to_string(),
                    "--udp-sockets",
                    &threads.to_string(),
                    "--rate-limit",
                    "0",
                    "--log",
                    "warn",
                ]);
            }
            Server::Nsd => {
                let config = format!(
                    "server:\n  ip-address: {IP}@{port}\n  port: {port}\n  username: \"\"\n  chroot: \"\"\n  zonesdir: \"{d}\"\n  database: \"\"\n  zonelistfile: \"{d}/nsd-zone.list\"\n  xfrdfile: \"{d}/nsd-xfrd.state\"\n  xfrdir: \"{d}\"\n  pidfile: \"{d}/nsd.pid\"\n  logfile: \"{d}/nsd.log\"\n  server-count: {threads}\n  reuseport: yes\n  verbosity: 0\n  rrl-ratelimit: 0\nremote-control:\n  control-enable: no\nzone:\n  name: \"{ZONE}\"\n  zonefile: \"{d}/zone.txt\"\n"
                );
                std::fs::write(dir.join("nsd.conf"), config).expect("nsd.conf");
                command.args(["nsd", "-d", "-c", &format!("{d}/nsd.conf")]);
            }
            Server::Knot => {
                let storage = dir.join(format!("knot-{port}"));
                std::fs::create_dir_all(&storage).expect("knot storage");
                let s = storage.display();
                let config = format!(
                    "server:\n    listen: {IP}@{port}\n    udp-workers: {threads}\n    tcp-workers: 1\n    background-workers: 1\n    rundir: \"{s}\"\ndatabase:\n    storage: \"{s}\"\nlog:\n  - target: stderr\n    any: error\nzone:\n  - domain: {ZONE}\n    file: \"{d}/zone.txt\"\n    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n"
                );
                std::fs::write(dir.join("knot.conf"), config).expect("knot.conf");
                command.args(["knotd", "-c", &format!("{d}/knot.conf")]);
            }
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.name()))
    }
}

/// SIGTERM, so NSD and Knot take their worker processes down with them
/// (SIGKILL would orphan NSD's), then reap.
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

fn wait_ready(port: u16, child: &mut Child, server: Server, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{} exited: {status}", server.name());
        }
        let out = Command::new("dig")
            .args([
                &format!("@{IP}"),
                "-p",
                &port.to_string(),
                "+short",
                "+time=1",
                "+tries=1",
                "host-1.bench.example",
                "A",
            ])
            .output()
            .expect("dig");
        if String::from_utf8_lossy(&out.stdout).lines().count() == 2 {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    stop(child);
    let log = std::fs::read_to_string(dir.join("nsd.log")).unwrap_or_default();
    panic!(
        "{} did not answer on port {port} (NSD log: {log})",
        server.name()
    );
}

struct Result {
    qps: f64,
    avg_latency_us: f64,
    stddev_us: f64,
    lost: u64,
}

fn dnsperf(dir: &Path, port: u16, seconds: u64, pin: Option<&str>) -> Result {
    let mut command = match pin {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.args(["-c", cpu, "dnsperf"]);
            c
        }
        None => Command::new("dnsperf"),
    };
    let out = command
        .args([
            "-s",
            IP,
            "-p",
            &port.to_string(),
            "-d",
            &format!("{}/queries.txt", dir.display()),
            "-l",
            &seconds.to_string(),
            "-c",
            "8",
            "-q",
            "200",
            "-T",
            "1",
        ])
        .output()
        .expect("dnsperf runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let number = |label: &str| -> f64 {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(label))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("dnsperf printed no {label:?}:\n{text}"))
    };
    Result {
        qps: number("Queries per second:"),
        avg_latency_us: number("Average Latency (s):") * 1e6,
        stddev_us: number("Latency StdDev (s):") * 1e6,
        lost: number("Queries lost:") as u64,
    }
}

fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind((IP, 0)).expect("bind");
        let port = udp.local_addr().expect("addr").port();
        if std::net::TcpListener::bind((IP, port)).is_ok() {
            return port;
        }
    }
}

fn address(i: usize, which: usize) -> String {
    format!("198.18.{}.{}", i / 125, (i % 125) * 2 + which + 1)
}

fn fedway_zone() -> String {
    let mut yaml = format!(
        "kind: DNSZone\nspec:\n  zone: {ZONE}\n  ttlSeconds: 300\n  nameServers: [{{name: ns1.{ZONE}, addresses: [{IP}]}}]\n"
    );
    for i in 0..HOSTS {
        let _ = write!(
            yaml,
            "---\nkind: DNSRecord\nspec:\n  hostname: host-{i}.{ZONE}\n  ttlSeconds: 30\n  endpoints:\n  - {{clusterName: east, addresses: [{}], hubHealthy: true}}\n  - {{clusterName: west, addresses: [{}], hubHealthy: true}}\n",
            address(i, 0),
            address(i, 1)
        );
    }
    yaml
}

fn zone_file() -> String {
    let mut text = format!(
        "$ORIGIN {ZONE}.\n@ 300 IN SOA ns1.{ZONE}. hostmaster.{ZONE}. 1 3600 600 604800 30\n@ 300 IN NS ns1.{ZONE}.\nns1 300 IN A {IP}\n"
    );
    for i in 0..HOSTS {
        let _ = writeln!(
            text,
            "host-{i} 30 IN A {}\nhost-{i} 30 IN A {}",
            address(i, 0),
            address(i, 1)
        );
    }
    text
}

fn queries() -> String {
    let mut text = String::new();
    for i in 0..HOSTS {
        let _ = writeln!(text, "host-{i}.{ZONE} A");
        if i % 8 == 0 {
            let _ = writeln!(text, "missing-{i}.{ZONE} A");
        }
        if i % 16 == 0 {
            let _ = writeln!(text, "host-{i}.{ZONE} AAAA\n{ZONE} SOA");
        }
    }
    text
}
