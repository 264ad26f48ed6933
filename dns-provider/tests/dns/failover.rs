//! Failover on real sockets: every endpoint is a listener on its own
//! loopback address, probed for real. Stopping one takes it out of the
//! answers within failureThreshold × interval (+ one interval); starting it
//! brings it back after successThreshold probes.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use hickory_proto::rr::RecordType;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    task::JoinHandle,
};

use crate::support::{Dns, UDP, free_port, query, within};

/// A gateway stand-in: answers `GET` with 200 when the Host header is
/// `host`, 421 (misdirected) otherwise, optionally over TLS.
struct Gateway {
    task: JoinHandle<()>,
}

impl Gateway {
    async fn start(
        address: SocketAddr,
        host: &'static str,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Gateway {
        let listener = TcpListener::bind(address).await.expect("bind gateway");
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(config) => {
                            if let Ok(stream) =
                                tokio_rustls::TlsAcceptor::from(config).accept(stream).await
                            {
                                serve(stream, host).await;
                            }
                        }
                        None => serve(stream, host).await,
                    }
                });
            }
        });
        Gateway { task }
    }

    fn stop(self) {
        self.task.abort();
    }
}

async fn serve<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(mut stream: S, host: &str) {
    let mut request = Vec::new();
    let mut buffer = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
    }
    let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
    let status = if text.contains(&format!("\r\nhost: {host}\r\n")) {
        "200 OK"
    } else {
        "421 Misdirected Request"
    };
    let _ = stream
        .write_all(
            format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await;
    let _ = stream.shutdown().await;
}

fn at(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().expect("ip"), port)
}

async fn answers(dns: &Dns, name: &str) -> Vec<IpAddr> {
    let reply = query(dns.address, name, RecordType::A, UDP).await;
    let mut ips: Vec<IpAddr> = reply
        .answers
        .iter()
        .filter_map(|r| r.data.ip_addr())
        .collect();
    ips.sort();
    ips
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().expect("ip")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_gateway_leaves_the_answers_and_returns_after_recovery() {
    let port = free_port("127.53.9.1");
    let east = Gateway::start(at("127.53.9.1", port), "shop.fail.example", None).await;
    let _west = Gateway::start(at("127.53.9.2", port), "shop.fail.example", None).await;
    // Healthy TCP-wise but insists on another Host: never answered.
    let _strict = Gateway::start(at("127.53.9.3", port), "other.example", None).await;
    let zone = format!(
        r#"
kind: DNSZone
spec:
  zone: fail.example
  nameServers: [{{name: ns1.fail.example, addresses: [127.53.9.53]}}]
---
kind: DNSRecord
spec:
  hostname: shop.fail.example
  ttlSeconds: 5
  strategy: Failover
  healthCheck: {{protocol: HTTP, port: {port}, path: /healthz, interval: 1s, timeout: 500ms, failureThreshold: 2, successThreshold: 2}}
  endpoints:
  - {{clusterName: east, addresses: [127.53.9.1], hubHealthy: true, priority: 0}}
  - {{clusterName: west, addresses: [127.53.9.2], hubHealthy: true, priority: 1}}
  - {{clusterName: strict, addresses: [127.53.9.3], hubHealthy: true, priority: 0}}
"#
    );
    let dns = Dns::serve("127.53.9.10", &zone).await;
    let name = "shop.fail.example.";
    within(
        Duration::from_secs(5),
        "east healthy, strict out",
        || async { (answers(&dns, name).await == ips(&["127.53.9.1"])).then_some(()) },
    )
    .await;

    let (interval, failures, successes) = (Duration::from_secs(1), 2u32, 2u32);
    east.stop();
    let stopped = Instant::now();
    let bound = interval * (failures + 1) + Duration::from_millis(500);
    within(bound, "failover to west", || async {
        (answers(&dns, name).await == ips(&["127.53.9.2"])).then_some(())
    })
    .await;
    let failover = stopped.elapsed();
    println!("failover: east stopped → out of the answers in {failover:?} (bound {bound:?})");

    let _east = Gateway::start(at("127.53.9.1", port), "shop.fail.example", None).await;
    let started = Instant::now();
    within(
        interval * (successes + 1) + Duration::from_millis(500),
        "fail-back to east",
        || async { (answers(&dns, name).await == ips(&["127.53.9.1"])).then_some(()) },
    )
    .await;
    let failback = started.elapsed();
    println!("fail-back: east started → back in the answers in {failback:?}");
    // Hysteresis: one good probe is not enough.
    assert!(
        failback >= interval * (successes - 1),
        "returned after {failback:?}, before {successes} successes"
    );

    let page = dns.metrics_page().await;
    for line in [
        "fedway_dns_endpoint_healthy{hostname=\"shop.fail.example\",cluster=\"east\",address=\"127.53.9.1\"} 1",
        "fedway_dns_endpoint_healthy{hostname=\"shop.fail.example\",cluster=\"strict\",address=\"127.53.9.3\"} 0",
    ] {
        assert!(page.contains(line), "{line} in\n{page}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_and_https_probes() {
    let port = free_port("127.53.10.1");
    let _tcp_up = TcpListener::bind(at("127.53.10.1", port))
        .await
        .expect("bind");
    let certified =
        rcgen::generate_simple_self_signed(vec!["tls.probe.example".to_owned()]).expect("cert");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![certified.cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into()),
    )
    .expect("tls config");
    let _https = Gateway::start(
        at("127.53.10.3", port),
        "tls.probe.example",
        Some(Arc::new(config)),
    )
    .await;
    let zone = format!(
        r#"
kind: DNSZone
spec:
  zone: probe.example
  nameServers: [{{name: ns1.probe.example, addresses: [127.53.10.53]}}]
---
kind: DNSRecord
spec:
  hostname: tcp.probe.example
  ttlSeconds: 5
  healthCheck: {{protocol: TCP, port: {port}, interval: 1s, timeout: 500ms}}
  endpoints:
  - {{clusterName: up, addresses: [127.53.10.1], hubHealthy: true}}
  - {{clusterName: down, addresses: [127.53.10.2], hubHealthy: true}}
---
kind: DNSRecord
spec:
  hostname: tls.probe.example
  ttlSeconds: 5
  healthCheck: {{protocol: HTTPS, port: {port}, interval: 1s, timeout: 500ms}}
  endpoints:
  - {{clusterName: up, addresses: [127.53.10.3], hubHealthy: true}}
  - {{clusterName: plain, addresses: [127.53.10.1], hubHealthy: true}}
"#
    );
    let dns = Dns::serve("127.53.10.10", &zone).await;
    within(
        Duration::from_secs(5),
        "only the listening TCP endpoint",
        || async {
            (answers(&dns, "tcp.probe.example.").await == ips(&["127.53.10.1"])).then_some(())
        },
    )
    .await;
    // A TCP listener that speaks no TLS fails the HTTPS check.
    within(Duration::from_secs(5), "only the TLS endpoint", || async {
        (answers(&dns, "tls.probe.example.").await == ips(&["127.53.10.3"])).then_some(())
    })
    .await;
}
