//! Real clients over UDP and TCP: dig, kdig, hickory-resolver; EDNS,
//! truncation with TCP fallback, Client Subnet echo, rate limiting.

use std::{net::IpAddr, time::Duration};

use fedway_dns::rate_limit::RateLimitConfig;
use hickory_proto::rr::{
    RecordType,
    rdata::opt::{ClientSubnet, EdnsCode, EdnsOption},
};
use hickory_resolver::{
    Resolver,
    config::{ConnectionConfig, NameServerConfig, ResolverConfig},
    net::runtime::TokioRuntimeProvider,
};

use crate::support::{Dns, TCP, UDP, UDP_NO_EDNS, client, message, query, send};

fn zones(extra_endpoints: usize) -> String {
    let many: String = if extra_endpoints == 0 {
        " []".to_owned()
    } else {
        (0..extra_endpoints)
            .map(|i| {
                format!(
                    "\n  - {{clusterName: c{i}, addresses: [198.51.100.{}], hubHealthy: true}}",
                    i + 1
                )
            })
            .collect()
    };
    format!(
        r#"
kind: DNSZone
spec:
  zone: global.example.com
  nameServers: [{{name: ns1.global.example.com, addresses: [127.53.1.53]}}]
---
kind: DNSRecord
spec:
  hostname: shop.global.example.com
  ttlSeconds: 5
  endpoints:
  - {{clusterName: east, addresses: [192.0.2.1, "2001:db8::1"], hubHealthy: true}}
  - {{clusterName: west, addresses: [192.0.2.2], hubHealthy: true}}
---
kind: DNSRecord
spec:
  hostname: big.global.example.com
  ttlSeconds: 5
  endpoints:{many}
---
kind: DNSRecord
spec:
  hostname: weighted.global.example.com
  ttlSeconds: 5
  strategy: Weighted
  endpoints:
  - {{clusterName: east, addresses: [192.0.2.1], hubHealthy: true, weight: 3}}
  - {{clusterName: west, addresses: [192.0.2.2], hubHealthy: true, weight: 1}}
---
kind: DNSRecord
spec:
  hostname: geo.global.example.com
  ttlSeconds: 5
  strategy: Geo
  geo:
    clientRegions:
    - {{region: eu, cidrs: [10.1.0.0/16]}}
    - {{region: us, cidrs: [10.2.0.0/16]}}
  endpoints:
  - {{clusterName: east, region: eu, addresses: [192.0.2.1], hubHealthy: true}}
  - {{clusterName: west, region: us, addresses: [192.0.2.2], hubHealthy: true}}
"#
    )
}

fn sorted_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .collect();
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dig_and_kdig_over_udp_and_tcp() {
    let dns = Dns::serve("127.53.1.1", &zones(3)).await;
    for program in ["dig", "kdig"] {
        for transport in ["+notcp", "+tcp"] {
            let short = client(
                program,
                dns.address,
                &[transport, "+short", "shop.global.example.com", "A"],
            )
            .await;
            assert_eq!(
                sorted_lines(&short),
                ["192.0.2.1", "192.0.2.2"],
                "{program} {transport}"
            );
            let short = client(
                program,
                dns.address,
                &[transport, "+short", "SHOP.GLOBAL.example.com", "AAAA"],
            )
            .await;
            assert_eq!(
                sorted_lines(&short),
                ["2001:db8::1"],
                "{program} {transport} AAAA"
            );

            let full = client(
                program,
                dns.address,
                &[transport, "+norec", "nope.global.example.com", "A"],
            )
            .await;
            assert!(full.contains("NXDOMAIN"), "{program} {transport}: {full}");
            let flags = full
                .lines()
                .find(|l| l.to_ascii_lowercase().contains("flags:"))
                .unwrap_or_else(|| panic!("{program} prints flags: {full}"));
            let flags = flags.to_ascii_lowercase();
            assert!(flags.contains(" aa"), "authoritative: {flags}");
            assert!(!flags.contains(" ra"), "no recursion available: {flags}");
            assert!(full.contains("SOA"), "SOA in authority: {full}");

            let outside = client(
                program,
                dns.address,
                &[transport, "+norec", "example.org", "A"],
            )
            .await;
            assert!(
                outside.contains("REFUSED"),
                "{program} {transport}: {outside}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hickory_resolver_over_udp_and_tcp() {
    let dns = Dns::serve("127.53.2.1", &zones(0)).await;
    for connection in [ConnectionConfig::udp(), ConnectionConfig::tcp()] {
        let mut connection = connection;
        connection.port = dns.address.port();
        let mut server = NameServerConfig::udp(dns.address.ip());
        server.connections = vec![connection];
        let resolver = Resolver::builder_with_config(
            ResolverConfig::from_name_servers(vec![server]),
            TokioRuntimeProvider::default(),
        )
        .build()
        .expect("resolver");
        let mut ips: Vec<IpAddr> = resolver
            .lookup_ip("shop.global.example.com.")
            .await
            .expect("lookup")
            .iter()
            .collect();
        ips.sort();
        let expected: Vec<IpAddr> = ["192.0.2.1", "192.0.2.2", "2001:db8::1"]
            .iter()
            .map(|s| s.parse().expect("ip"))
            .collect();
        assert_eq!(ips, expected);
        let missing = resolver.lookup_ip("missing.global.example.com.").await;
        assert!(missing.is_err(), "NXDOMAIN is an error: {missing:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_answers_truncate_over_udp_and_complete_over_tcp() {
    // 100 A records: 100 × 16+ bytes exceed 512 (no EDNS) and 1232.
    let dns = Dns::serve("127.53.3.1", &zones(100)).await;
    for how in [UDP_NO_EDNS, UDP] {
        let reply = query(dns.address, "big.global.example.com.", RecordType::A, how).await;
        assert!(reply.metadata.truncation, "TC set over UDP ({how:?})");
        assert!(reply.answers.len() < 100);
    }
    let reply = query(dns.address, "big.global.example.com.", RecordType::A, TCP).await;
    assert!(!reply.metadata.truncation);
    assert_eq!(reply.answers.len(), 100);
    // dig retries over TCP by itself when it sees TC.
    let short = client(
        "dig",
        dns.address,
        &["+short", "big.global.example.com", "A"],
    )
    .await;
    assert_eq!(sorted_lines(&short).len(), 100, "{short}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edns_is_answered_in_kind() {
    let dns = Dns::serve("127.53.4.1", &zones(0)).await;
    let with = query(dns.address, "shop.global.example.com.", RecordType::A, UDP).await;
    let edns = with.edns.as_ref().expect("OPT answered with OPT");
    assert_eq!(edns.max_payload(), 1232);
    let without = query(
        dns.address,
        "shop.global.example.com.",
        RecordType::A,
        UDP_NO_EDNS,
    )
    .await;
    assert!(without.edns.is_none(), "no OPT without one in the query");

    // An EDNS version this server does not speak: BADVERS (RFC 6891).
    let mut future = message("shop.global.example.com.", RecordType::A, UDP);
    future.edns.as_mut().expect("edns").set_version(1);
    let reply = send(dns.address, &future, false).await;
    // 16 is BADVERS in an OPT context (hickory decodes it by its TSIG name).
    assert_eq!(u16::from(reply.metadata.response_code), 16);
    let printed = client(
        "dig",
        dns.address,
        &["+edns=1", "+noednsneg", "shop.global.example.com"],
    )
    .await;
    assert!(printed.contains("BADVERS"), "{printed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_subnet_steers_geo_answers_and_is_echoed_with_scope() {
    let dns = Dns::serve("127.53.5.1", &zones(0)).await;
    for (subnet, expected, scope) in [
        ("10.1.2.0/24", "192.0.2.1", 16),
        ("10.2.9.0/24", "192.0.2.2", 16),
    ] {
        let mut asked = message("geo.global.example.com.", RecordType::A, UDP);
        let subnet: ClientSubnet = subnet.parse().expect("subnet");
        asked
            .edns
            .as_mut()
            .expect("edns")
            .options_mut()
            .insert(EdnsOption::Subnet(subnet));
        let reply = send(dns.address, &asked, false).await;
        let answered: Vec<String> = reply.answers.iter().map(|r| r.data.to_string()).collect();
        assert_eq!(answered, [expected], "{subnet:?}");
        let echoed = match reply.edns.as_ref().and_then(|e| e.option(EdnsCode::Subnet)) {
            Some(EdnsOption::Subnet(echoed)) => *echoed,
            other => panic!("ECS echoed: {other:?}"),
        };
        assert_eq!(echoed.addr(), subnet.addr());
        assert_eq!(echoed.source_prefix(), 24);
        assert_eq!(echoed.scope_prefix(), scope);
    }
    // Through kdig's +subnet, a real client's ECS.
    let short = client(
        "kdig",
        dns.address,
        &[
            "+short",
            "+subnet=10.2.0.0/16",
            "geo.global.example.com",
            "A",
        ],
    )
    .await;
    assert_eq!(sorted_lines(&short), ["192.0.2.2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_floods_are_rate_limited_and_tcp_is_not() {
    let dns = Dns::serve_with(
        "127.53.6.1",
        &zones(0),
        RateLimitConfig {
            rate: 10,
            slip: 2,
            slots: 1024,
        },
    )
    .await;
    // 60 queries at once from one socket, then whatever comes back.
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    for id in 0..60u16 {
        let mut asked = message("shop.global.example.com.", RecordType::A, UDP);
        asked.metadata.id = id;
        socket
            .send_to(&asked.to_vec().expect("encode"), dns.address)
            .await
            .expect("send");
    }
    let (mut answered, mut slipped) = (0, 0);
    let mut buffer = vec![0u8; 4096];
    while let Ok(Ok((n, _))) =
        tokio::time::timeout(Duration::from_millis(500), socket.recv_from(&mut buffer)).await
    {
        let reply = hickory_proto::op::Message::from_vec(&buffer[..n]).expect("reply");
        if reply.metadata.truncation && reply.answers.is_empty() {
            slipped += 1;
        } else {
            answered += 1;
        }
    }
    // A burst of one second's worth (10) is answered; past it every second
    // response slips (TC, "retry over TCP") and the rest are dropped.
    assert!((10..15).contains(&answered), "answered {answered}");
    assert!((20..30).contains(&slipped), "slipped {slipped}");
    for _ in 0..20 {
        let reply = query(dns.address, "shop.global.example.com.", RecordType::A, TCP).await;
        assert_eq!(reply.answers.len(), 2, "TCP is never limited");
    }
    let page = dns.metrics_page().await;
    assert!(
        page.contains(&format!(
            "fedway_dns_rate_limited_total{{action=\"slip\"}} {slipped}"
        )),
        "{page}"
    );
}

/// The weighted split is decided per answer: each response carries one
/// endpoint, so however a resolver orders records, clients split 3:1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighted_answers_split_by_weight_per_query() {
    let dns = Dns::serve("127.53.12.1", &zones(0)).await;
    let (mut east, total) = (0u32, 4000u32);
    for _ in 0..total {
        let reply = query(
            dns.address,
            "weighted.global.example.com.",
            RecordType::A,
            TCP,
        )
        .await;
        assert_eq!(reply.answers.len(), 1, "one endpoint per answer");
        if reply.answers[0].data.ip_addr() == Some("192.0.2.1".parse().expect("ip")) {
            east += 1;
        }
    }
    // 3:1 is 75 %; the standard error over 4000 draws is 0.7 points.
    let share = f64::from(east) / f64::from(total);
    println!(
        "weighted: east answered {:.1} % of {total} queries (weight 3 of 4)",
        share * 100.0
    );
    assert!((0.72..0.78).contains(&share), "east share {share}");
}
