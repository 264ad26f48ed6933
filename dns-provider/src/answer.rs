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
        return from_node(zone, node, name == &zone.apex, original, qtype, client, draw);
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
    let wants = |t: RecordType| qtype == t || qtype == RecordType::ANY;
    if is_apex && wants(RecordType::SOA) {
        answers.push(with_owner(&zone.soa, owner));
    }
    if is_apex && wants(RecordType::NS) {
        answers.extend(zone.ns.iter().map(|ns| with_owner(ns, owner)));
        if qtype == RecordType::NS {
            additionals = glue(zone);
        }
    }
    let families = [
        (RecordType::A, Family::V4),
        (RecordType::AAAA, Family::V6),
    ];
    for (record_type, family) in families {
        if !wants(record_type) {
            continue;
        }
        answers.extend(
            node.glue
                .iter()
                .filter(|glue| glue.record_type() == record_type)
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
