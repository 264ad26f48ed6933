//! Differential test: NSD serves the same static zone; every query in the
//! table gets the same rcode, flags, answer set and authority types from
//! both servers.

use std::collections::BTreeSet;

use hickory_proto::{
    op::Message,
    rr::{Record, RecordType},
};

use crate::support::{Dns, How, Nsd, TCP, UDP, UDP_NO_EDNS, query};

const ZONE: &str = r#"
kind: DNSZone
spec:
  zone: diff.example
  ttlSeconds: 300
  nameServers:
  - {name: ns1.diff.example, addresses: [127.53.7.53]}
  - {name: ns.other.example.net}
---
kind: DNSRecord
spec:
  hostname: shop.diff.example
  ttlSeconds: 5
  endpoints:
  - {clusterName: east, addresses: [192.0.2.1, "2001:db8::1"], hubHealthy: true}
  - {clusterName: west, addresses: [192.0.2.2], hubHealthy: true}
---
kind: DNSRecord
spec:
  hostname: "*.apps.diff.example"
  ttlSeconds: 7
  endpoints: [{clusterName: east, addresses: [192.0.2.7, "2001:db8::7"], hubHealthy: true}]
---
kind: DNSRecord
spec:
  hostname: x.apps.diff.example
  ttlSeconds: 9
  endpoints: [{clusterName: east, addresses: [192.0.2.9], hubHealthy: true}]
---
kind: DNSRecord
spec:
  hostname: a.b.deep.diff.example
  ttlSeconds: 5
  endpoints: [{clusterName: east, addresses: [192.0.2.5], hubHealthy: true}]
"#;

/// The same data as an RFC 1035 zone file, for NSD.
fn zone_file(serial: u32) -> String {
    format!(
        "$ORIGIN diff.example.\n\
         @ 300 IN SOA ns1.diff.example. hostmaster.diff.example. {serial} 3600 600 604800 30\n\
         @ 300 IN NS ns1.diff.example.\n\
         @ 300 IN NS ns.other.example.net.\n\
         ns1 300 IN A 127.53.7.53\n\
         shop 5 IN A 192.0.2.1\n\
         shop 5 IN A 192.0.2.2\n\
         shop 5 IN AAAA 2001:db8::1\n\
         *.apps 7 IN A 192.0.2.7\n\
         *.apps 7 IN AAAA 2001:db8::7\n\
         x.apps 9 IN A 192.0.2.9\n\
         a.b.deep 5 IN A 192.0.2.5\n"
    )
}

/// What must match: rcode, flags, OPT presence, the answer set, and for
/// negative answers the authority section's owners and types (negative
/// TTLs may differ: Fedway caps them at a global hostname's TTL). Positive
/// answers may differ in authority: NSD adds the zone's NS records there,
/// Fedway sends minimal responses (the section is optional, RFC 2181 §6.1).
#[derive(Debug, PartialEq, Eq)]
struct Shape {
    rcode: String,
    aa: bool,
    tc: bool,
    ra: bool,
    rd: bool,
    opt: bool,
    answers: BTreeSet<String>,
    authority: BTreeSet<String>,
}

fn shape(message: &Message) -> Shape {
    let record =
        |r: &Record| format!("{} {} {} {}", r.name, r.ttl, r.record_type(), r.data).to_lowercase();
    Shape {
        rcode: message.metadata.response_code.to_string(),
        aa: message.metadata.authoritative,
        tc: message.metadata.truncation,
        ra: message.metadata.recursion_available,
        rd: message.metadata.recursion_desired,
        opt: message.edns.is_some(),
        answers: message.answers.iter().map(record).collect(),
        authority: message
            .authorities
            .iter()
            .filter(|_| message.answers.is_empty())
            .map(|r| format!("{} {}", r.name, r.record_type()).to_lowercase())
            .collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_answers_as_nsd() {
    let dns = Dns::serve("127.53.7.1", ZONE).await;
    let soa = query(dns.address, "diff.example.", RecordType::SOA, UDP).await;
    let serial = match soa.answers.first().map(|r| &r.data) {
        Some(hickory_proto::rr::RData::SOA(soa)) => soa.serial,
        other => panic!("SOA answered: {other:?}"),
    };
    let nsd = Nsd::serve("127.53.7.2", "diff.example", &zone_file(serial)).await;

    use RecordType::*;
    let cases: &[(&str, RecordType)] = &[
        ("diff.example.", SOA),
        ("diff.example.", NS),
        ("diff.example.", A),
        ("diff.example.", MX),
        ("diff.example.", ANY),
        ("ns1.diff.example.", ANY),
        ("y.apps.diff.example.", ANY),
        ("DIFF.example.", SOA),
        ("shop.diff.example.", A),
        ("shop.diff.example.", AAAA),
        ("ShOp.DiFf.ExAmPlE.", A),
        ("shop.diff.example.", MX),
        ("shop.diff.example.", TXT),
        ("shop.diff.example.", CNAME),
        ("shop.diff.example.", ANY),
        ("ns1.diff.example.", A),
        ("ns1.diff.example.", AAAA),
        ("missing.diff.example.", A),
        ("MISSING.diff.example.", AAAA),
        ("deep.diff.example.", A),
        ("b.deep.diff.example.", A),
        ("a.b.deep.diff.example.", A),
        ("z.a.b.deep.diff.example.", A),
        ("y.apps.diff.example.", A),
        ("y.apps.diff.example.", AAAA),
        ("Y.APPS.diff.example.", A),
        ("z.y.apps.diff.example.", A),
        ("y.apps.diff.example.", MX),
        ("apps.diff.example.", A),
        ("*.apps.diff.example.", A),
        ("x.apps.diff.example.", A),
        ("x.apps.diff.example.", AAAA),
        ("z.x.apps.diff.example.", A),
        ("example.", SOA),
        ("other.example.", A),
        ("diff.example.org.", A),
        (".", NS),
    ];
    let mut mismatches = Vec::new();
    for (name, qtype) in cases {
        for (how_name, how) in [("udp", UDP), ("udp-no-edns", UDP_NO_EDNS), ("tcp", TCP)] {
            let ours = shape(&query(dns.address, name, *qtype, how).await);
            let theirs = shape(&query(nsd.address, name, *qtype, How { ..how }).await);
            if ours != theirs {
                mismatches.push(format!(
                    "{name} {qtype} {how_name}:\n  fedway {ours:?}\n  nsd    {theirs:?}"
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} differ:\n{}",
        mismatches.len(),
        cases.len() * 3,
        mismatches.join("\n")
    );
}
