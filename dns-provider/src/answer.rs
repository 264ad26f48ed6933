//! The authoritative answer to one question, from the served zones alone:
//! REFUSED outside them, NXDOMAIN versus NODATA, wildcards as RFC 4592 says
//! (the closest encloser's `*` child synthesises answers for names that do
//! not exist), SOA in the authority section of negative answers.

use hickory_proto::{
    op::ResponseCode,
    rr::{LowerName, Name, RData, Record, RecordType},
};

use crate::{
    steering::{self, ClientNet, Family},
    zone::{Node, Zone, ZoneSet, address_record},
};

#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub rcode: ResponseCode,
    pub authoritative: bool,
    pub answers: Vec<Record>,
    pub authorities: Vec<Record>,
    pub additionals: Vec<Record>,
    /// ECS scope prefix to echo (0: valid for every client).
    pub scope_prefix: u8,
}

impl Answer {
    fn refused() -> Self {
        Self {
            rcode: ResponseCode::Refused,
            authoritative: false,
            answers: Vec::new(),
            authorities: Vec::new(),
            additionals: Vec::new(),
            scope_prefix: 0,
        }
    }
}

/// Answers `qtype` for `name` (`original` keeps the asker's spelling for
/// the owner names). `draw` is a random number for steering.
pub fn answer(
    zones: &ZoneSet,
    name: &LowerName,
    original: &Name,
    qtype: RecordType,
    client: ClientNet,
    draw: u64,
) -> Answer {
    let Some(zone) = zones.find(name) else {
        return Answer::refused();
    };
    if let Some(node) = zone.node(name) {
        return from_node(
            zone,
            node,
            name == &zone.apex,
            original,
            qtype,
            client,
            draw,
        );
    }
    // The closest encloser: the longest existing ancestor. The apex always
    // exists, so the walk ends inside the zone.
    let mut encloser = name.base_name();
    while zone.node(&encloser).is_none() && encloser.num_labels() > zone.apex.num_labels() {
        encloser = encloser.base_name();
    }
    let source = Name::from(&encloser)
        .prepend_label("*")
        .map(|wildcard| LowerName::new(&wildcard));
    match source.as_ref().ok().and_then(|source| zone.node(source)) {
        // The owner of synthesised records is the name asked for.
        Some(node) => from_node(zone, node, false, original, qtype, client, draw),
        None => negative(zone, ResponseCode::NXDomain, None),
    }
}

fn from_node(
    zone: &Zone,
    node: &Node,
    is_apex: bool,
    owner: &Name,
    qtype: RecordType,
    client: ClientNet,
    draw: u64,
) -> Answer {
    let mut answers: Vec<Record> = Vec::new();
    let mut additionals: Vec<Record> = Vec::new();
    let mut scope_prefix = 0;
    // ANY gets one RRset, the first that exists (RFC 8482 §4.1, as NSD).
    let wanted: &[RecordType] = match qtype {
        RecordType::ANY => &[
            RecordType::SOA,
            RecordType::NS,
            RecordType::A,
            RecordType::AAAA,
        ],
        _ => std::slice::from_ref(&qtype),
    };
    for &rtype in wanted {
        match rtype {
            RecordType::SOA if is_apex => answers.push(with_owner(&zone.soa, owner)),
            RecordType::NS if is_apex => {
                answers.extend(zone.ns.iter().map(|ns| with_owner(ns, owner)));
                if qtype == RecordType::NS {
                    additionals = glue(zone);
                }
            }
            RecordType::A | RecordType::AAAA => {
                let family = if rtype == RecordType::A {
                    Family::V4
                } else {
                    Family::V6
                };
                answers.extend(
                    node.glue
                        .iter()
                        .filter(|glue| glue.record_type() == rtype)
                        .map(|glue| with_owner(glue, owner)),
                );
                if let Some(host) = &node.host {
                    let selection = steering::select(host, family, client, draw);
                    scope_prefix = scope_prefix.max(selection.scope_prefix);
                    answers.extend(
                        selection
                            .addresses
                            .into_iter()
                            .map(|ip| address_record(owner.clone(), host.ttl, ip)),
                    );
                }
            }
            _ => {}
        }
        if !answers.is_empty() {
            break;
        }
    }
    if answers.is_empty() {
        // NODATA. A hostname with nothing to hand out right now is cached
        // no longer than its own TTL, so it comes back as soon as it heals.
        let cap = node.host.as_ref().map(|host| host.ttl);
        let mut answer = negative(zone, ResponseCode::NoError, cap);
        answer.scope_prefix = scope_prefix;
        return answer;
    }
    Answer {
        rcode: ResponseCode::NoError,
        authoritative: true,
        answers,
        authorities: Vec::new(),
        additionals,
        scope_prefix,
    }
}

/// NXDOMAIN or NODATA: the SOA in the authority section with the negative
/// caching TTL (RFC 2308 §3), optionally capped lower.
fn negative(zone: &Zone, rcode: ResponseCode, cap: Option<u32>) -> Answer {
    let mut soa = zone.soa.clone();
    let ttl = cap.map_or(zone.negative_ttl, |cap| cap.min(zone.negative_ttl));
    soa.ttl = ttl;
    Answer {
        rcode,
        authoritative: true,
        answers: Vec::new(),
        authorities: vec![soa],
        additionals: Vec::new(),
        scope_prefix: 0,
    }
}

/// Addresses of the zone's own name servers, for the additional section.
fn glue(zone: &Zone) -> Vec<Record> {
    zone.ns
        .iter()
        .filter_map(|ns| match &ns.data {
            RData::NS(target) => zone.node(&LowerName::new(&target.0)),
            _ => None,
        })
        .flat_map(|node| node.glue.iter().cloned())
        .collect()
}

fn with_owner(record: &Record, owner: &Name) -> Record {
    let mut record = record.clone();
    record.name = owner.clone();
    record
}

#[cfg(test)]
mod tests {
    use std::{path::Path, sync::Arc};

    use super::*;
    use crate::{health::HealthCell, inputs::Inputs, zone};

    const INPUTS: &str = r#"
kind: DNSZone
spec:
  zone: global.example.com
  ttlSeconds: 300
  soa: {minimum: 60}
  nameServers:
  - {name: ns1.global.example.com, addresses: [127.0.0.53, "::53"]}
  - {name: ns.other.example.net}
---
kind: DNSRecord
spec:
  hostname: shop.global.example.com
  ttlSeconds: 5
  endpoints: [{clusterName: east, addresses: [192.0.2.1], hubHealthy: true}]
---
kind: DNSRecord
spec:
  hostname: "*.apps.global.example.com"
  ttlSeconds: 7
  endpoints: [{clusterName: east, addresses: ["2001:db8::7"], hubHealthy: true}]
---
kind: DNSRecord
spec:
  hostname: x.apps.global.example.com
  ttlSeconds: 9
  endpoints: [{clusterName: east, addresses: [192.0.2.9], hubHealthy: true}]
---
kind: DNSRecord
spec:
  hostname: a.b.deep.global.example.com
  ttlSeconds: 5
  endpoints: [{clusterName: east, addresses: [192.0.2.5], hubHealthy: true}]
---
kind: DNSRecord
spec:
  hostname: down.global.example.com
  ttlSeconds: 4
  failOpen: false
  endpoints: [{clusterName: east, addresses: [192.0.2.4], hubHealthy: false}]
"#;

    fn zones() -> ZoneSet {
        let inputs = Inputs::from_yaml(Path::new("t"), INPUTS).expect("inputs");
        let serials = [("global.example.com.".to_owned(), 2026)].into();
        zone::build(&inputs.zones, &inputs.records, &serials, &mut |_| {
            Arc::new(HealthCell::default())
        })
        .zones
    }

    /// An answer as text: rcode, AA, then each section's records as
    /// `owner ttl TYPE rdata`, lowercased.
    fn render(answer: &Answer) -> String {
        let section = |records: &[Record]| -> String {
            records
                .iter()
                .map(|r| {
                    format!("{} {} {} {}", r.name, r.ttl, r.record_type(), r.data).to_lowercase()
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "{}{} | {} | {} | {}",
            answer.rcode,
            if answer.authoritative { " aa" } else { "" },
            section(&answer.answers),
            section(&answer.authorities),
            section(&answer.additionals),
        )
    }

    #[test]
    fn answer_table() {
        let zones = zones();
        let soa = "global.example.com. 60 soa ns1.global.example.com. hostmaster.global.example.com. 2026 3600 600 604800 60";
        let nodata = format!("No Error aa |  | {soa} | ");
        // At a global hostname, negative answers are cached no longer than
        // its records: an address family or endpoint may appear any time.
        let nodata_at = |ttl: u32| {
            format!(
                "No Error aa |  | {} | ",
                soa.replacen(" 60 ", &format!(" {ttl} "), 1)
            )
        };
        let nxdomain = format!("Non-Existent Domain aa |  | {soa} | ");
        #[rustfmt::skip]
        let cases: Vec<(&str, RecordType, String)> = vec![
            ("global.example.com", RecordType::SOA, "No Error aa | global.example.com. 300 soa ns1.global.example.com. hostmaster.global.example.com. 2026 3600 600 604800 60 |  | ".into()),
            ("global.example.com", RecordType::NS, "No Error aa | global.example.com. 300 ns ns1.global.example.com., global.example.com. 300 ns ns.other.example.net. |  | ns1.global.example.com. 300 a 127.0.0.53, ns1.global.example.com. 300 aaaa ::53".into()),
            ("global.example.com", RecordType::A, nodata.clone()),
            ("shop.global.example.com", RecordType::A, "No Error aa | shop.global.example.com. 5 a 192.0.2.1 |  | ".into()),
            ("SHOP.Global.Example.com", RecordType::A, "No Error aa | shop.global.example.com. 5 a 192.0.2.1 |  | ".into()),
            ("shop.global.example.com", RecordType::AAAA, nodata_at(5)),
            ("shop.global.example.com", RecordType::MX, nodata_at(5)),
            ("global.example.com", RecordType::ANY, "No Error aa | global.example.com. 300 soa ns1.global.example.com. hostmaster.global.example.com. 2026 3600 600 604800 60 |  | ".into()),
            ("shop.global.example.com", RecordType::ANY, "No Error aa | shop.global.example.com. 5 a 192.0.2.1 |  | ".into()),
            ("ns1.global.example.com", RecordType::A, "No Error aa | ns1.global.example.com. 300 a 127.0.0.53 |  | ".into()),
            ("missing.global.example.com", RecordType::A, nxdomain.clone()),
            ("deep.global.example.com", RecordType::A, nodata.clone()),
            ("b.deep.global.example.com", RecordType::A, nodata.clone()),
            ("c.a.b.deep.global.example.com", RecordType::A, nxdomain.clone()),
            // RFC 4592: the closest encloser's wildcard answers, with the
            // asked name as owner, at any depth...
            ("y.apps.global.example.com", RecordType::AAAA, "No Error aa | y.apps.global.example.com. 7 aaaa 2001:db8::7 |  | ".into()),
            ("z.y.apps.global.example.com", RecordType::AAAA, "No Error aa | z.y.apps.global.example.com. 7 aaaa 2001:db8::7 |  | ".into()),
            ("y.apps.global.example.com", RecordType::A, nodata_at(7)),
            // ...but not below an existing name (x.apps is the encloser and
            // has no wildcard child)...
            ("z.x.apps.global.example.com", RecordType::AAAA, nxdomain.clone()),
            ("x.apps.global.example.com", RecordType::A, "No Error aa | x.apps.global.example.com. 9 a 192.0.2.9 |  | ".into()),
            // ...and the wildcard's parent exists as an empty non-terminal.
            ("apps.global.example.com", RecordType::AAAA, nodata.clone()),
            ("*.apps.global.example.com", RecordType::AAAA, "No Error aa | *.apps.global.example.com. 7 aaaa 2001:db8::7 |  | ".into()),
            // Nothing to hand out and fail-closed: NODATA cached no longer
            // than the record's TTL.
            ("down.global.example.com", RecordType::A, nodata_at(4)),
            ("example.com", RecordType::SOA, "Query Refused |  |  | ".into()),
            ("shop.example.org", RecordType::A, "Query Refused |  |  | ".into()),
            (".", RecordType::NS, "Query Refused |  |  | ".into()),
        ];
        let client = ClientNet {
            ip: "192.0.2.200".parse().expect("ip"),
            source_prefix: 32,
        };
        for (name, qtype, expected) in cases {
            // Names from the wire are always fully qualified.
            let mut original = Name::from_ascii(name).expect("name");
            original.set_fqdn(true);
            let lower = LowerName::new(&original);
            let got = answer(&zones, &lower, &original, qtype, client, 0);
            assert_eq!(render(&got), expected, "{name} {qtype}");
        }
    }

    #[test]
    fn answers_keep_the_askers_spelling() {
        let zones = zones();
        let original = Name::from_ascii("ShOp.global.example.com.").expect("name");
        let got = answer(
            &zones,
            &LowerName::new(&original),
            &original,
            RecordType::A,
            ClientNet {
                ip: "192.0.2.200".parse().expect("ip"),
                source_prefix: 32,
            },
            0,
        );
        assert_eq!(got.answers[0].name.to_string(), "ShOp.global.example.com.");
    }
}
