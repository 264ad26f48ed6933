//! Test support: a fedway-dns on its own loopback address, raw queries,
//! the real clients (dig, kdig) and a real NSD to compare with.

use std::{
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use fedway_dns::{Config, Running, Source, rate_limit::RateLimitConfig};
use hickory_proto::{
    op::{Edns, Message, MessageType, OpCode, Query},
    rr::{Name, RecordType},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpStream, UdpSocket},
};

/// A fedway-dns serving a YAML file, on `ip` (port chosen by the kernel).
pub struct Dns {
    pub address: SocketAddr,
    pub metrics: SocketAddr,
    pub file: PathBuf,
    pub cache: PathBuf,
    running: Option<Running>,
    _dir: tempfile::TempDir,
}

impl Dns {
    pub async fn serve(ip: &str, yaml: &str) -> Dns {
        Self::serve_with(ip, yaml, RateLimitConfig::default()).await
    }

    pub async fn serve_with(ip: &str, yaml: &str, rate_limit: RateLimitConfig) -> Dns {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("zones.yaml");
        std::fs::write(&file, yaml).expect("write zones");
        let cache = dir.path().join("cache.json");
        let running = start(ip, &file, &cache, rate_limit).await;
        Dns {
            address: running.dns[0],
            metrics: running.metrics.expect("metrics bound"),
            file,
            cache,
            running: Some(running),
            _dir: dir,
        }
    }

    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }

    /// Starts again with the same files, on the same address.
    pub async fn restart(&mut self) {
        self.stop().await;
        let running = start_at(
            self.address,
            &self.file,
            &self.cache,
            RateLimitConfig::default(),
        )
        .await;
        self.metrics = running.metrics.expect("metrics bound");
        self.running = Some(running);
    }

    pub async fn metrics_page(&self) -> String {
        let mut stream = TcpStream::connect(self.metrics).await.expect("metrics");
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            .await
            .expect("request");
        let mut page = String::new();
        stream.read_to_string(&mut page).await.expect("response");
        page
    }
}

async fn start(ip: &str, file: &Path, cache: &Path, rate_limit: RateLimitConfig) -> Running {
    start_at(
        SocketAddr::new(ip.parse().expect("ip"), 0),
        file,
        cache,
        rate_limit,
    )
    .await
}

async fn start_at(
    address: SocketAddr,
    file: &Path,
    cache: &Path,
    rate_limit: RateLimitConfig,
) -> Running {
    let running = fedway_dns::start(Config {
        listen: vec![address],
        udp_sockets: 2,
        source: Source::File(file.to_owned()),
        cache: Some(cache.to_owned()),
        metrics_listen: Some(SocketAddr::new(address.ip(), 0)),
        rate_limit,
        report_policy_status: false,
    })
    .await
    .expect("fedway-dns starts");
    // The file is read by the source task; wait until something is served.
    for _ in 0..100 {
        if !running.served.zones.load().zones().is_empty() {
            return running;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{} serves no zone (see the log for why)", file.display());
}

/// How a query goes out.
#[derive(Clone, Copy, Debug)]
pub struct How {
    pub tcp: bool,
    pub edns: Option<u16>,
}

pub const UDP: How = How {
    tcp: false,
    edns: Some(1232),
};
pub const UDP_NO_EDNS: How = How {
    tcp: false,
    edns: None,
};
pub const TCP: How = How {
    tcp: true,
    edns: Some(1232),
};

pub fn message(name: &str, qtype: RecordType, how: How) -> Message {
    let mut message = Message::new(fastrand::u16(..), MessageType::Query, OpCode::Query);
    let name = Name::from_ascii(name).expect("name");
    message.add_query(Query::query(name, qtype));
    if let Some(size) = how.edns {
        let mut edns = Edns::new();
        edns.set_max_payload(size);
        message.edns = Some(edns);
    }
    message
}

pub async fn query(server: SocketAddr, name: &str, qtype: RecordType, how: How) -> Message {
    send(server, &message(name, qtype, how), how.tcp).await
}

pub async fn send(server: SocketAddr, message: &Message, tcp: bool) -> Message {
    let bytes = message.to_vec().expect("encode");
    let reply = send_raw(server, &bytes, tcp).await.expect("a reply");
    Message::from_vec(&reply).expect("decodable reply")
}

/// Sends raw bytes; `None` when no reply came within a second.
pub async fn send_raw(server: SocketAddr, bytes: &[u8], tcp: bool) -> Option<Vec<u8>> {
    let exchange = async {
        if tcp {
            let mut stream = TcpStream::connect(server).await.ok()?;
            let length = u16::try_from(bytes.len()).ok()?;
            stream.write_all(&length.to_be_bytes()).await.ok()?;
            stream.write_all(bytes).await.ok()?;
            let mut length = [0u8; 2];
            stream.read_exact(&mut length).await.ok()?;
            let mut reply = vec![0u8; usize::from(u16::from_be_bytes(length))];
            stream.read_exact(&mut reply).await.ok()?;
            Some(reply)
        } else {
            let local: SocketAddr = match server.ip() {
                IpAddr::V4(_) => "127.0.0.1:0".parse().ok()?,
                IpAddr::V6(_) => "[::1]:0".parse().ok()?,
            };
            let socket = UdpSocket::bind(local).await.ok()?;
            socket.send_to(bytes, server).await.ok()?;
            let mut reply = vec![0u8; 65_535];
            let (n, _) = socket.recv_from(&mut reply).await.ok()?;
            reply.truncate(n);
            Some(reply)
        }
    };
    tokio::time::timeout(Duration::from_secs(1), exchange)
        .await
        .ok()
        .flatten()
}

/// Runs a DNS command-line client (`dig`, `kdig`) and returns its output.
pub async fn client(program: &str, server: SocketAddr, args: &[&str]) -> String {
    fedway_e2e::packages::require(&[("dig", "dnsutils"), ("kdig", "knot-dnsutils")]);
    let output = tokio::process::Command::new(program)
        .arg(format!("@{}", server.ip()))
        .arg("-p")
        .arg(server.port().to_string())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A real NSD serving one zone file.
pub struct Nsd {
    pub address: SocketAddr,
    child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl Nsd {
    pub async fn serve(ip: &str, zone: &str, zone_file: &str) -> Nsd {
        fedway_e2e::packages::require(&[("nsd", "nsd")]);
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port(ip);
        let path = dir.path();
        std::fs::write(path.join("zone.txt"), zone_file).expect("zone file");
        let config = format!(
            "server:\n  ip-address: {ip}@{port}\n  port: {port}\n  username: \"\"\n  chroot: \"\"\n  zonesdir: \"{dir}\"\n  database: \"\"\n  zonelistfile: \"{dir}/zone.list\"\n  xfrdfile: \"{dir}/xfrd.state\"\n  xfrdir: \"{dir}\"\n  pidfile: \"{dir}/nsd.pid\"\n  logfile: \"{dir}/nsd.log\"\n  server-count: 1\n  verbosity: 1\n  hide-version: yes\n  rrl-ratelimit: 0\nremote-control:\n  control-enable: no\nzone:\n  name: \"{zone}\"\n  zonefile: \"{dir}/zone.txt\"\n",
            dir = path.display()
        );
        std::fs::write(path.join("nsd.conf"), config).expect("nsd.conf");
        let child = tokio::process::Command::new("nsd")
            .arg("-d")
            .arg("-c")
            .arg(path.join("nsd.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("nsd runs");
        let address = SocketAddr::new(ip.parse().expect("ip"), port);
        for _ in 0..100 {
            let probe = message(zone, RecordType::SOA, UDP);
            if let Some(reply) = send_raw(address, &probe.to_vec().expect("encode"), false).await
                && Message::from_vec(&reply).is_ok_and(|m| !m.answers.is_empty())
            {
                return Nsd {
                    address,
                    child,
                    _dir: dir,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let log = std::fs::read_to_string(path.join("nsd.log")).unwrap_or_default();
        panic!("NSD did not serve {zone}: {log}");
    }
}

impl Drop for Nsd {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// A port free for both UDP and TCP on `ip`, for servers that cannot be
/// told to pick one.
pub fn free_port(ip: &str) -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind((ip, 0)).expect("bind udp");
        let port = udp.local_addr().expect("addr").port();
        if std::net::TcpListener::bind((ip, port)).is_ok() {
            return port;
        }
    }
}

/// Polls `check` every 50 ms until it returns Some, or panics after `limit`.
pub async fn within<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends a datagram and waits briefly for a reply (garbage floods).
pub async fn send_raw_quick(server: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.ok()?;
    socket.send_to(bytes, server).await.ok()?;
    let mut reply = vec![0u8; 65_535];
    let (n, _) = tokio::time::timeout(Duration::from_millis(20), socket.recv_from(&mut reply))
        .await
        .ok()?
        .ok()?;
    reply.truncate(n);
    Some(reply)
}
