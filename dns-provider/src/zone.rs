//! The served state, built once per input change and swapped in atomically:
//! zones with their apex records and every name that exists in them, so the
//! answer path is lookups only.

use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
    sync::Arc,
};

use fedway_crds::{
    DNSRecordSpec, DNSZoneSpec,
    dns_policy::{DnsStrategy, HealthCheck},
};
use hickory_proto::rr::{
    LowerName, Name, RData, Record,
    rdata::{A, AAAA, NS, SOA},
};

use crate::{
    geo::GeoTable,
    health::{Health, HealthCell},
};

/// Every zone served, most specific apex first, so the first zone that
/// contains a name is the one authoritative for it.
#[derive(Debug, Default)]
pub struct ZoneSet {
    zones: Vec<Zone>,
}

#[derive(Debug)]
pub struct Zone {
    pub apex: LowerName,
    pub serial: u32,
    pub soa: Record,
    /// The TTL of the SOA in negative answers (RFC 2308 §3:
    /// min(SOA TTL, SOA minimum)).
    pub negative_ttl: u32,
    pub ns: Vec<Record>,
    /// Every name that exists in the zone, empty non-terminals included.
    nodes: HashMap<LowerName, Node>,
}

/// What lives at one name.
#[derive(Debug, Default)]
pub struct Node {
    /// Static addresses: name-server glue.
    pub glue: Vec<Record>,
    /// A global hostname answered by steering.
    pub host: Option<Arc<Host>>,
}

impl Node {
    pub fn is_empty_non_terminal(&self) -> bool {
        self.glue.is_empty() && self.host.is_none()
    }
}

/// A global hostname: its candidates and how to choose among them.
#[derive(Debug)]
pub struct Host {
    pub hostname: String,
    pub ttl: u32,
    pub strategy: DnsStrategy,
    pub geo: Option<GeoTable>,
    pub fail_open: bool,
    pub endpoints: Vec<HostEndpoint>,
}

#[derive(Debug)]
pub struct HostEndpoint {
    pub cluster: String,
    pub region: Option<String>,
    pub weight: u64,
    pub priority: u32,
    pub hub_healthy: bool,
    pub addresses: Vec<EndpointAddress>,
}

#[derive(Debug)]
pub struct EndpointAddress {
    pub ip: IpAddr,
    /// This server's probe result; `None` when the record has no health
    /// check and only the hub's view counts.
    pub probe: Option<Arc<HealthCell>>,
}

impl EndpointAddress {
    pub fn probe_health(&self) -> Health {
        self.probe
            .as_ref()
            .map_or(Health::Unknown, |cell| cell.get())
    }
}

/// What to probe: one address of one endpoint of one hostname.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeTarget {
    pub hostname: String,
    pub cluster: String,
    pub address: IpAddr,
    pub check: HealthCheck,
    /// The DNSPolicy the record came from, for status reports.
    pub policy: Option<(String, String)>,
}

/// Identifies a probe across rebuilds: the same target with the same check
/// keeps its cell (and its health) when unrelated inputs change.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProbeKey {
    pub hostname: String,
    pub address: IpAddr,
    check: String,
}

impl ProbeTarget {
    pub fn key(&self) -> ProbeKey {
        ProbeKey {
            hostname: self.hostname.clone(),
            address: self.address,
            check: serde_json::to_string(&self.check).unwrap_or_default(),
        }
    }
}

/// A problem with one input that leaves it out of what is served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub object: String,
    pub reason: String,
}

/// The outcome of a build: the zones, what to probe, what was left out.
#[derive(Debug, Default)]
pub struct Built {
    pub zones: ZoneSet,
    pub probes: Vec<ProbeTarget>,
    pub skipped: Vec<Skipped>,
}

/// Builds the served state. `serials` gives each zone's serial by apex;
/// `cell` hands out the health cell of a probe target (kept across builds).
pub fn build(
    zones: &BTreeMap<String, DNSZoneSpec>,
    records: &BTreeMap<String, DNSRecordSpec>,
    serials: &BTreeMap<String, u32>,
    cell: &mut dyn FnMut(&ProbeTarget) -> Arc<HealthCell>,
) -> Built {
    let mut built = Built::default();
    let mut by_apex: BTreeMap<String, Zone> = BTreeMap::new();
    for (object, spec) in zones {
        match build_zone(spec, serials.get(&apex_key(&spec.zone)).copied()) {
            Ok(zone) => match by_apex.entry(zone.apex.to_string()) {
                std::collections::btree_map::Entry::Occupied(taken) => {
                    built.skipped.push(Skipped {
                        object: format!("DNSZone {object}"),
                        reason: format!("another DNSZone already serves {}", taken.key()),
                    });
                }
                std::collections::btree_map::Entry::Vacant(free) => {
                    free.insert(zone);
                }
            },
            Err(reason) => built.skipped.push(Skipped {
                object: format!("DNSZone {object}"),
                reason,
            }),
        }
    }
    let mut zones: Vec<Zone> = by_apex.into_values().collect();
    zones.sort_by_key(|zone| std::cmp::Reverse(zone.apex.num_labels()));

    for (object, spec) in records {
        let skip = |reason: String| Skipped {
            object: format!("DNSRecord {object}"),
            reason,
        };
        let name = match parse_name(&spec.hostname) {
            Ok(name) => name,
            Err(reason) => {
                built.skipped.push(skip(reason));
                continue;
            }
        };
        let Some(zone) = zones.iter_mut().find(|zone| zone.apex.zone_of(&name)) else {
            built.skipped.push(skip(format!(
                "hostname {} is in no served zone",
                spec.hostname
            )));
            continue;
        };
        let node = zone.node_mut(&name);
        if node.host.is_some() {
            built.skipped.push(skip(format!(
                "another DNSRecord already answers for {}",
                spec.hostname
            )));
            continue;
        }
        let (host, probes) = build_host(spec, cell);
        node.host = Some(Arc::new(host));
        built.probes.extend(probes);
    }
    built.zones = ZoneSet { zones };
    built
}

/// The key serials are stored under: the apex as served (lowercase, with the
/// root dot).
pub fn apex_key(zone: &str) -> String {
    parse_name(zone)
        .map(|name| name.to_string())
        .unwrap_or_else(|_| zone.to_ascii_lowercase())
}

fn parse_name(text: &str) -> Result<LowerName, String> {
    let mut name =
        Name::from_ascii(text).map_err(|e| format!("{text:?} is not a DNS name: {e}"))?;
    name.set_fqdn(true);
    Ok(LowerName::new(&name))
}

fn build_zone(spec: &DNSZoneSpec, serial: Option<u32>) -> Result<Zone, String> {
    let apex = parse_name(&spec.zone)?;
    let apex_name = Name::from(&apex);
    let first_ns = spec
        .name_servers
        .first()
        .ok_or_else(|| format!("zone {} has no name servers", spec.zone))?;
    let mname = Name::from(&parse_name(&first_ns.name)?);
    let rname = match &spec.soa.rname {
        Some(rname) => Name::from(&parse_name(rname)?),
        None => Name::from_ascii("hostmaster")
            .and_then(|label| label.append_domain(&apex_name))
            .map_err(|e| format!("SOA rname: {e}"))?,
    };
    let as_i32 = |value: u32| i32::try_from(value).unwrap_or(i32::MAX);
    let serial = serial.unwrap_or(1);
    let soa = Record::from_rdata(
        apex_name.clone(),
        spec.ttl_seconds,
        RData::SOA(SOA::new(
            mname,
            rname,
            serial,
            as_i32(spec.soa.refresh),
            as_i32(spec.soa.retry),
            as_i32(spec.soa.expire),
            spec.soa.minimum,
        )),
    );
    let mut zone = Zone {
        apex: apex.clone(),
        serial,
        soa,
        negative_ttl: spec.ttl_seconds.min(spec.soa.minimum),
        ns: Vec::new(),
        nodes: HashMap::new(),
    };
    zone.nodes.insert(apex, Node::default());
    for server in &spec.name_servers {
        let ns_name = parse_name(&server.name)?;
        zone.ns.push(Record::from_rdata(
            apex_name.clone(),
            spec.ttl_seconds,
            RData::NS(NS(Name::from(&ns_name))),
        ));
        // Glue only for names inside the zone: anything else is another
        // zone's data, which an authoritative server must not vouch for.
        if !zone.apex.zone_of(&ns_name) {
            continue;
        }
        let mut glue = Vec::new();
        for address in &server.addresses {
            let ip: IpAddr = address
                .parse()
                .map_err(|_| format!("glue address {address:?} is not an IP address"))?;
            glue.push(address_record(Name::from(&ns_name), spec.ttl_seconds, ip));
        }
        zone.node_mut(&ns_name).glue.extend(glue);
    }
    Ok(zone)
}

pub fn address_record(name: Name, ttl: u32, ip: IpAddr) -> Record {
    let rdata = match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    };
    Record::from_rdata(name, ttl, rdata)
}

fn build_host(
    spec: &DNSRecordSpec,
    cell: &mut dyn FnMut(&ProbeTarget) -> Arc<HealthCell>,
) -> (Host, Vec<ProbeTarget>) {
    let mut probes = Vec::new();
    let policy = spec
        .policy_ref
        .as_ref()
        .map(|p| (p.namespace.clone(), p.name.clone()));
    let endpoints = spec
        .endpoints
        .iter()
        .map(|endpoint| HostEndpoint {
            cluster: endpoint.cluster_name.clone(),
            region: endpoint.region.clone(),
            weight: u64::try_from(endpoint.weight).unwrap_or(0),
            priority: endpoint.priority,
            hub_healthy: endpoint.hub_healthy,
            // The API server validated these; a file may not have been, and
            // one bad address must not take the whole record down.
            addresses: endpoint
                .addresses
                .iter()
                .filter_map(|text| text.parse::<IpAddr>().ok())
                .map(|ip| {
                    let probe = spec.health_check.as_ref().map(|check| {
                        let target = ProbeTarget {
                            hostname: spec.hostname.to_ascii_lowercase(),
                            cluster: endpoint.cluster_name.clone(),
                            address: ip,
                            check: check.clone(),
                            policy: policy.clone(),
                        };
                        let found = cell(&target);
                        probes.push(target);
                        found
                    });
                    EndpointAddress { ip, probe }
                })
                .collect(),
        })
        .collect();
    let host = Host {
        hostname: spec.hostname.to_ascii_lowercase(),
        ttl: spec.ttl_seconds,
        strategy: spec.strategy,
        geo: spec.geo.as_ref().map(GeoTable::new),
        fail_open: spec.fail_open,
        endpoints,
    };
    (host, probes)
}

impl Zone {
    /// The node at `name`, created with every ancestor up to the apex (the
    /// empty non-terminals that make NODATA differ from NXDOMAIN).
    fn node_mut(&mut self, name: &LowerName) -> &mut Node {
        let mut ancestor = name.base_name();
        while self.apex.zone_of(&ancestor) && ancestor != self.apex {
            self.nodes.entry(ancestor.clone()).or_default();
            ancestor = ancestor.base_name();
        }
        self.nodes.entry(name.clone()).or_default()
    }

    pub fn node(&self, name: &LowerName) -> Option<&Node> {
        self.nodes.get(name)
    }

    pub fn hosts(&self) -> impl Iterator<Item = &Arc<Host>> {
        self.nodes.values().filter_map(|node| node.host.as_ref())
    }
}

impl ZoneSet {
    /// The zone authoritative for `name`, if any.
    pub fn find(&self, name: &LowerName) -> Option<&Zone> {
        self.zones.iter().find(|zone| zone.apex.zone_of(name))
    }

    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn zone_spec(zone: &str) -> DNSZoneSpec {
        serde_json::from_value(serde_json::json!({
            "zone": zone,
            "nameServers": [
                {"name": format!("ns1.{zone}"), "addresses": ["127.0.0.53", "::1"]},
                {"name": "ns.elsewhere.example.net", "addresses": ["192.0.2.99"]},
            ],
        }))
        .expect("valid zone")
    }

    fn record(hostname: &str, check: bool) -> DNSRecordSpec {
        let mut value = serde_json::json!({
            "hostname": hostname,
            "ttlSeconds": 5,
            "endpoints": [
                {"clusterName": "east", "addresses": ["192.0.2.1", "2001:db8::1", "not-an-ip"], "hubHealthy": true},
            ],
        });
        if check {
            value["healthCheck"] = serde_json::json!({"protocol": "TCP"});
        }
        serde_json::from_value(value).expect("valid record")
    }

    fn lower(text: &str) -> LowerName {
        parse_name(text).expect("name")
    }

    fn build_simple(records: &[(&str, DNSRecordSpec)]) -> Built {
        let zones = [
            ("a".to_owned(), zone_spec("example.com")),
            ("b".to_owned(), zone_spec("global.example.com")),
        ]
        .into();
        let records = records
            .iter()
            .map(|(name, spec)| ((*name).to_owned(), spec.clone()))
            .collect();
        build(&zones, &records, &BTreeMap::new(), &mut |_| {
            Arc::new(HealthCell::default())
        })
    }

    #[test]
    fn the_most_specific_zone_serves_a_name() {
        let built = build_simple(&[("shop", record("shop.global.example.com", false))]);
        let zone = built
            .zones
            .find(&lower("shop.Global.example.com"))
            .expect("served");
        assert_eq!(zone.apex, lower("global.example.com"));
        assert_eq!(
            built.zones.find(&lower("www.example.com")).map(|z| &z.apex),
            Some(&lower("example.com"))
        );
        assert!(built.zones.find(&lower("example.org")).is_none());
        assert!(built.zones.find(&lower("com")).is_none());
    }

    #[test]
    fn ancestors_become_empty_non_terminals() {
        let built = build_simple(&[("deep", record("a.b.c.global.example.com", false))]);
        let zone = built
            .zones
            .find(&lower("global.example.com"))
            .expect("zone");
        for ent in ["b.c.global.example.com", "c.global.example.com"] {
            assert!(zone.node(&lower(ent)).expect(ent).is_empty_non_terminal());
        }
        assert!(zone.node(&lower("a.b.c.global.example.com")).is_some());
        assert!(zone.node(&lower("x.c.global.example.com")).is_none());
    }

    #[test]
    fn glue_only_for_in_zone_name_servers() {
        let built = build_simple(&[]);
        let zone = built.zones.find(&lower("example.com")).expect("zone");
        assert_eq!(zone.ns.len(), 2);
        assert_eq!(
            zone.node(&lower("ns1.example.com")).expect("ns").glue.len(),
            2
        );
        assert!(zone.node(&lower("ns.elsewhere.example.net")).is_none());
        assert_eq!(zone.negative_ttl, 30, "min(300, minimum 30)");
        assert_eq!(zone.serial, 1);
    }

    #[test]
    fn skips_records_outside_zones_and_duplicates_with_reasons() {
        let built = build_simple(&[
            ("one", record("shop.global.example.com", false)),
            ("two", record("SHOP.global.example.com", false)),
            ("three", record("shop.example.org", false)),
        ]);
        let reasons: Vec<String> = built
            .skipped
            .iter()
            .map(|s| format!("{}: {}", s.object, s.reason))
            .collect();
        assert_eq!(
            reasons,
            [
                // Objects are taken in name order: "three" before "two".
                "DNSRecord three: hostname shop.example.org is in no served zone",
                "DNSRecord two: another DNSRecord already answers for SHOP.global.example.com",
            ]
        );
    }

    #[test]
    fn probes_only_with_a_health_check_and_cells_are_reused() {
        let unchecked = build_simple(&[("one", record("shop.global.example.com", false))]);
        assert!(unchecked.probes.is_empty());
        let checked = build_simple(&[("one", record("shop.global.example.com", true))]);
        let addresses: Vec<String> = checked
            .probes
            .iter()
            .map(|p| p.address.to_string())
            .collect();
        assert_eq!(
            addresses,
            ["192.0.2.1", "2001:db8::1"],
            "bad address dropped"
        );

        // The caller's cell function decides reuse; the key is stable.
        let again = build_simple(&[("renamed", record("shop.global.example.com", true))]);
        assert_eq!(checked.probes[0].key(), again.probes[0].key());
    }

    #[test]
    fn serials_come_from_the_caller() {
        let zones = [("a".to_owned(), zone_spec("Example.COM"))].into();
        let serials = [(apex_key("example.com"), 42)].into();
        let built = build(&zones, &BTreeMap::new(), &serials, &mut |_| {
            Arc::new(HealthCell::default())
        });
        assert_eq!(built.zones.zones()[0].serial, 42);
        assert_eq!(apex_key("Example.COM"), "example.com.");
    }
}
