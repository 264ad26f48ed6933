//! DNS data per member: the bytes of DNSZones and DNSRecords each member
//! that serves DNS receives, and the Works they are cut into, for fleets of
//! M members each running every one of H global hostnames (the worst case:
//! every record lists every member). Prints; asserts nothing.
//!
//!     cargo bench -p fedway-hub --bench dns_data
//!
//! Against: etcd's default request limit (1.5 MiB), which one Work holding
//! everything (Fedway before the chunks) passed at about 100 × 100.

use std::collections::BTreeMap;

use fedway_crds::{
    DNSRecordSpec, DNSZone, DNSZoneSpec,
    dns_record::{Endpoint, clusters},
    dns_zone::NameServer,
};
use fedway_hub::{dns_records, dns_works};

/// etcd's default `--max-request-bytes`.
const ETCD_LIMIT: usize = 1536 * 1024;
/// Members that serve DNS in the fleet layout the README recommends.
const DNS_SERVERS: usize = 3;

fn main() {
    println!(
        "{:>8} {:>9} {:>14} {:>6} {:>12} {:>22} {:>24}",
        "members",
        "hostnames",
        "bytes/member",
        "Works",
        "largest Work",
        "etcd, 3 serve DNS",
        "etcd, all serve DNS"
    );
    for members in [10, 100, 1000] {
        for hostnames in [10, 100] {
            row(members, hostnames);
        }
    }
    println!(
        "against etcd's request limit, {}: one Work holding everything (before the chunks) passes it at 100 members x 100 hostnames; every Work here stays under {}",
        human(ETCD_LIMIT),
        human(dns_works::MAX_BYTES)
    );
}

fn row(members: usize, hostnames: usize) {
    let zone = DNSZone::new(
        "global",
        DNSZoneSpec {
            zone: "global.example.com".into(),
            name_servers: (1..=DNS_SERVERS)
                .map(|i| NameServer {
                    name: format!("ns{i}.global.example.com"),
                    addresses: vec![format!("192.0.2.{i}")],
                })
                .collect(),
            ..Default::default()
        },
    );
    let endpoints: Vec<Endpoint> = (0..members)
        .map(|m| Endpoint {
            cluster_name: format!("member-{m:04}"),
            region: Some(["eu-west-1", "us-east-1", "ap-south-1"][m % 3].into()),
            addresses: vec![format!("10.{}.{}.{}", m / 65536, (m / 256) % 256, m % 256)],
            weight: 1,
            priority: 0,
            hub_healthy: true,
        })
        .collect();
    let records: BTreeMap<String, DNSRecordSpec> = (0..hostnames)
        .map(|h| {
            let hostname = format!("app-{h:03}.global.example.com");
            let spec = DNSRecordSpec {
                hostname: hostname.clone(),
                ttl_seconds: 30,
                endpoints: endpoints.clone(),
                clusters: clusters(&endpoints),
                ..Default::default()
            };
            (hostname, spec)
        })
        .collect();
    let manifests = dns_records::work_manifests(&[zone], &records);
    let dns_works::Chunks { chunks, bytes } = dns_works::chunks(&manifests);
    let largest = chunks
        .iter()
        .map(|c| c.iter().map(dns_works::size).sum::<usize>())
        .max()
        .unwrap_or(0);
    let works = chunks.iter().filter(|c| !c.is_empty()).count();
    println!(
        "{:>8} {:>9} {:>14} {:>6} {:>12} {:>22} {:>24}",
        members,
        hostnames,
        human(bytes),
        works,
        human(largest),
        human(bytes * DNS_SERVERS.min(members)),
        human(bytes * members),
    );
}

fn human(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / f64::from(1 << 30)),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1 << 20)),
        b => format!("{:.0} KiB", b as f64 / 1024.0),
    }
}
