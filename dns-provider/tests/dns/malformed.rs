//! Bad input: malformed packets get FORMERR or no reply, never a panic, and
//! the server keeps answering.

use std::{path::Path, sync::Arc};

use fedway_dns::{fuzzing, health::HealthCell, inputs::Inputs, zone};
use hickory_proto::{
    op::{Message, OpCode, ResponseCode},
    rr::{DNSClass, Name, RecordType},
};

use crate::support::{Dns, UDP, message, query, send, send_raw};

const ZONE: &str = r#"
kind: DNSZone
spec:
  zone: bad.example
  nameServers: [{name: ns1.bad.example, addresses: [127.53.8.53]}]
---
kind: DNSRecord
spec:
  hostname: shop.bad.example
  ttlSeconds: 5
  strategy: Geo
  geo: {clientRegions: [{region: eu, cidrs: [10.0.0.0/8]}]}
  endpoints:
  - {clusterName: east, region: eu, addresses: [192.0.2.1], hubHealthy: true}
---
kind: DNSRecord
spec:
  hostname: "*.w.bad.example"
  ttlSeconds: 5
  strategy: Weighted
  endpoints:
  - {clusterName: east, addresses: [192.0.2.1], hubHealthy: true, weight: 2}
  - {clusterName: west, addresses: ["2001:db8::2"], hubHealthy: true}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_packets_get_formerr_or_nothing_and_service_continues() {
    let dns = Dns::serve("127.53.8.1", ZONE).await;
    // Shorter than a header: nothing to answer to.
    assert_eq!(send_raw(dns.address, &[1, 2, 3], false).await, None);
    // A header promising a question that is not there: FORMERR, same id.
    let header_only = [0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for tcp in [false, true] {
        let reply = send_raw(dns.address, &header_only, tcp)
            .await
            .expect("a reply");
        let reply = Message::from_vec(&reply).expect("decodable");
        assert_eq!(reply.metadata.id, 0xbeef);
        assert_eq!(
            reply.metadata.response_code,
            ResponseCode::FormErr,
            "tcp {tcp}"
        );
    }
    // A label running past the end of the packet.
    let mut truncated = message("shop.bad.example.", RecordType::A, UDP)
        .to_vec()
        .expect("encode");
    truncated.truncate(20);
    let reply = Message::from_vec(
        &send_raw(dns.address, &truncated, false)
            .await
            .expect("reply"),
    )
    .expect("decodable");
    assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);

    // Two questions: FORMERR (RFC 9619).
    let mut two = message("shop.bad.example.", RecordType::A, UDP);
    two.add_query(hickory_proto::op::Query::query(
        Name::from_ascii("bad.example.").expect("name"),
        RecordType::SOA,
    ));
    assert_eq!(
        send(dns.address, &two, false).await.metadata.response_code,
        ResponseCode::FormErr
    );
    // Opcodes other than QUERY: NOTIMP.
    for op_code in [OpCode::Update, OpCode::Notify, OpCode::Status] {
        let mut other = message("bad.example.", RecordType::SOA, UDP);
        other.metadata.op_code = op_code;
        assert_eq!(
            send(dns.address, &other, false)
                .await
                .metadata
                .response_code,
            ResponseCode::NotImp,
            "{op_code:?}"
        );
    }
    // Class CHAOS: not served here.
    let mut chaos = message("version.bind.", RecordType::TXT, UDP);
    chaos.queries[0].set_query_class(DNSClass::CH);
    assert_eq!(
        send(dns.address, &chaos, false)
            .await
            .metadata
            .response_code,
        ResponseCode::Refused
    );
    // A response is never answered (no reflection loops).
    let mut response = message("shop.bad.example.", RecordType::A, UDP);
    response.metadata.message_type = hickory_proto::op::MessageType::Response;
    assert_eq!(
        send_raw(dns.address, &response.to_vec().expect("encode"), false).await,
        None
    );

    // Random garbage, then a normal query still works.
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..500 {
        let length = rng.usize(0..600);
        let garbage: Vec<u8> = (0..length).map(|_| rng.u8(..)).collect();
        let _ = crate::support::send_raw_quick(dns.address, &garbage).await;
    }
    let reply = query(dns.address, "shop.bad.example.", RecordType::A, UDP).await;
    assert_eq!(reply.answers.len(), 1, "still answering after garbage");
}

/// The fuzz target's body on the stable toolchain: valid queries mutated at
/// random (byte flips, truncation, splices), through the whole request path.
/// Every reply must decode and carry the query's id; nothing may panic.
#[test]
fn mutated_queries_never_panic() {
    let inputs = Inputs::from_yaml(Path::new("zone"), ZONE).expect("inputs");
    let built = zone::build(
        &inputs.zones,
        &inputs.records,
        &Default::default(),
        &mut |_| Arc::new(HealthCell::default()),
    );
    let handler = fuzzing::handler(built.zones);
    let seeds: Vec<Vec<u8>> = [
        ("shop.bad.example.", RecordType::A),
        ("x.w.bad.example.", RecordType::AAAA),
        ("bad.example.", RecordType::NS),
        ("nope.bad.example.", RecordType::ANY),
    ]
    .iter()
    .map(|(name, qtype)| {
        let mut asked = message(name, *qtype, UDP);
        let subnet = "10.1.0.0/16".parse().expect("subnet");
        asked
            .edns
            .as_mut()
            .expect("edns")
            .options_mut()
            .insert(hickory_proto::rr::rdata::opt::EdnsOption::Subnet(subnet));
        asked.to_vec().expect("encode")
    })
    .collect();
    let source = "10.1.2.3:5353".parse().expect("addr");
    let mut rng = fastrand::Rng::with_seed(20261123);
    let (mut replies, mut formerr) = (0, 0);
    for round in 0..100_000 {
        let mut packet = seeds[round % seeds.len()].clone();
        for _ in 0..rng.usize(1..6) {
            match rng.u8(0..4) {
                0 if !packet.is_empty() => {
                    let at = rng.usize(0..packet.len());
                    packet[at] = rng.u8(..);
                }
                1 if !packet.is_empty() => packet.truncate(rng.usize(0..packet.len())),
                2 => {
                    let at = rng.usize(0..=packet.len());
                    packet.insert(at, rng.u8(..));
                }
                _ => {
                    let donor = &seeds[rng.usize(0..seeds.len())];
                    let from = rng.usize(0..donor.len());
                    packet.extend_from_slice(&donor[from..]);
                }
            }
        }
        if let Some(reply) = fuzzing::respond(&handler, &packet, source, round % 2 == 0) {
            let decoded = Message::from_vec(&reply).expect("every reply decodes");
            assert_eq!(&decoded.metadata.id.to_be_bytes()[..], &packet[..2]);
            replies += 1;
            if decoded.metadata.response_code == ResponseCode::FormErr {
                formerr += 1;
            }
        }
    }
    assert!(
        replies > 50_000,
        "most mutants still get a reply: {replies}"
    );
    assert!(formerr > 1_000, "and many are FORMERR: {formerr}");
}
