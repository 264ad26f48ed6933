//! Which addresses answer for a global hostname, per strategy, from the
//! endpoints' health and the client's network. Pure: the random draw comes
//! in as a number, so every case is a table row.

use std::net::IpAddr;

use fedway_crds::dns_policy::DnsStrategy;

use crate::zone::{Host, HostEndpoint};

/// The address family a query asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    fn holds(self, ip: &IpAddr) -> bool {
        matches!(
            (self, ip),
            (Family::V4, IpAddr::V4(_)) | (Family::V6, IpAddr::V6(_))
        )
    }
}

/// The client as far as steering cares: the network it revealed through
/// EDNS Client Subnet, else the resolver's own address as a host route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientNet {
    pub ip: IpAddr,
    pub source_prefix: u8,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    pub addresses: Vec<IpAddr>,
    /// The ECS scope prefix to echo: 0 when the answer does not depend on
    /// the client.
    pub scope_prefix: u8,
    /// Whether nothing was healthy and every candidate was handed out.
    pub failed_open: bool,
}

/// A candidate endpoint with the addresses of the asked family that may be
/// answered.
struct Candidate<'a> {
    endpoint: &'a HostEndpoint,
    addresses: Vec<IpAddr>,
}

/// Chooses the answer. `draw` is a uniformly random number: it rotates
/// round-robin answers and picks the weighted endpoint, per query, so the
/// split holds whatever order resolvers put the records in.
pub fn select(host: &Host, family: Family, client: ClientNet, draw: u64) -> Selection {
    let healthy = candidates(host, family, true);
    let (pool, failed_open) = if !healthy.is_empty() {
        (healthy, false)
    } else if host.fail_open {
        let every = candidates(host, family, false);
        let any = !every.is_empty();
        (every, any)
    } else {
        (Vec::new(), false)
    };

    let mut scope_prefix = 0;
    let chosen: Vec<&Candidate<'_>> = match host.strategy {
        DnsStrategy::RoundRobin => pool.iter().collect(),
        DnsStrategy::Failover => {
            let best = pool.iter().map(|c| c.endpoint.priority).min();
            pool.iter()
                .filter(|c| Some(c.endpoint.priority) == best)
                .collect()
        }
        DnsStrategy::Weighted => weighted(&pool, draw).into_iter().collect(),
        DnsStrategy::Geo => {
            let region = host
                .geo
                .as_ref()
                .map(|table| table.region_of(client.ip, client.source_prefix));
            scope_prefix = region.as_ref().map_or(0, |r| r.scope_prefix);
            let wanted = region.and_then(|r| r.region);
            let local: Vec<&Candidate<'_>> = pool
                .iter()
                .filter(|c| wanted.is_some() && c.endpoint.region.as_deref() == wanted)
                .collect();
            // No healthy endpoint in the client's region: every healthy
            // one, rather than nothing (the policy has no distances).
            if local.is_empty() {
                pool.iter().collect()
            } else {
                local
            }
        }
    };

    let mut addresses: Vec<IpAddr> = chosen
        .iter()
        .flat_map(|c| c.addresses.iter().copied())
        .collect();
    if !addresses.is_empty() {
        // Rotation spreads load among resolvers that take the first record.
        let offset = (draw % addresses.len() as u64) as usize;
        addresses.rotate_left(offset);
    }
    Selection {
        addresses,
        scope_prefix,
        failed_open,
    }
}

/// Endpoints with addresses of `family`, only those that may be answered
/// (hub says healthy and this server's probe does not say otherwise) when
/// `only_healthy`.
fn candidates(host: &Host, family: Family, only_healthy: bool) -> Vec<Candidate<'_>> {
    host.endpoints
        .iter()
        .filter(|endpoint| !only_healthy || endpoint.hub_healthy)
        .filter_map(|endpoint| {
            let addresses: Vec<IpAddr> = endpoint
                .addresses
                .iter()
                .filter(|address| family.holds(&address.ip))
                .filter(|address| !only_healthy || address.probe_health().serves())
                .map(|address| address.ip)
                .collect();
            (!addresses.is_empty()).then_some(Candidate {
                endpoint,
                addresses,
            })
        })
        .collect()
}

/// One endpoint, drawn by weight. Weight 0 leaves an endpoint out; when
/// every candidate weighs 0 they share equally rather than answer nothing.
fn weighted<'c, 'e>(candidates: &'c [Candidate<'e>], draw: u64) -> Option<&'c Candidate<'e>> {
    let total: u64 = candidates.iter().map(|c| c.endpoint.weight).sum();
    if total == 0 {
        let n = candidates.len() as u64;
        return (n > 0).then(|| &candidates[(draw % n) as usize]);
    }
    let mut point = draw % total;
    for candidate in candidates {
        if point < candidate.endpoint.weight {
            return Some(candidate);
        }
        point -= candidate.endpoint.weight;
    }
    None
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use fedway_crds::dns_policy::GeoSteering;

    use super::*;
    use crate::{
        geo::GeoTable,
        health::{Health, HealthCell},
        zone::EndpointAddress,
    };

    /// An endpoint: cluster, region, weight, priority, hub health, and
    /// addresses with this server's probe state (`+` healthy, `-`
    /// unhealthy, `?` not probed, no suffix: no health check).
    fn endpoint(
        cluster: &str,
        region: &str,
        weight: u64,
        priority: u32,
        hub_healthy: bool,
        addresses: &[&str],
    ) -> HostEndpoint {
        HostEndpoint {
            cluster: cluster.into(),
            region: Some(region.into()),
            weight,
            priority,
            hub_healthy,
            addresses: addresses
                .iter()
                .map(|text| {
                    let (ip, probe) = match text.chars().last() {
                        Some('+') => (&text[..text.len() - 1], Some(Health::Healthy)),
                        Some('-') => (&text[..text.len() - 1], Some(Health::Unhealthy)),
                        Some('?') => (&text[..text.len() - 1], Some(Health::Unknown)),
                        _ => (*text, None),
                    };
                    EndpointAddress {
                        ip: ip.parse().expect("ip"),
                        probe: probe.map(|health| {
                            let cell = HealthCell::default();
                            cell.set(health);
                            Arc::new(cell)
                        }),
                    }
                })
                .collect(),
        }
    }

    fn host(strategy: DnsStrategy, fail_open: bool, endpoints: Vec<HostEndpoint>) -> Host {
        Host {
            hostname: "shop.global.example.com".into(),
            ttl: 5,
            strategy,
            geo: Some(GeoTable::new(
                &serde_json::from_value::<GeoSteering>(serde_json::json!({
                    "clientRegions": [
                        {"region": "eu", "cidrs": ["10.1.0.0/16"]},
                        {"region": "us", "cidrs": ["10.2.0.0/16"]},
                    ],
                }))
                .expect("geo"),
            )),
            fail_open,
            endpoints,
        }
    }

    fn client(ip: &str, prefix: u8) -> ClientNet {
        ClientNet {
            ip: ip.parse().expect("ip"),
            source_prefix: prefix,
        }
    }

    fn three() -> Vec<HostEndpoint> {
        vec![
            endpoint("east", "eu", 3, 0, true, &["192.0.2.1+", "2001:db8::1+"]),
            endpoint("west", "us", 1, 1, true, &["192.0.2.2", "192.0.2.3"]),
            endpoint("south", "ap", 0, 2, true, &["192.0.2.4?"]),
        ]
    }

    fn sorted(selection: &Selection) -> Vec<String> {
        let mut addresses: Vec<String> = selection
            .addresses
            .iter()
            .map(ToString::to_string)
            .collect();
        addresses.sort();
        addresses
    }

    /// Name, host, family, client, expected addresses, ECS scope, failed open.
    type Case<'a> = (&'a str, Host, Family, ClientNet, &'a [&'a str], u8, bool);

    #[test]
    fn strategy_table() {
        use DnsStrategy::*;
        let eu = client("10.1.2.3", 24);
        let nowhere = client("192.0.2.200", 32);
        let down = |mut endpoints: Vec<HostEndpoint>, index: usize| {
            endpoints[index].hub_healthy = false;
            endpoints
        };
        let probe_down = || {
            vec![
                endpoint("east", "eu", 3, 0, true, &["192.0.2.1-", "2001:db8::1-"]),
                endpoint("west", "us", 1, 1, true, &["192.0.2.2-", "192.0.2.3+"]),
            ]
        };
        #[rustfmt::skip]
        let cases: Vec<Case<'_>> = vec![
            ("round robin: every healthy v4 address",
             host(RoundRobin, true, three()), Family::V4, nowhere,
             &["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"], 0, false),
            ("family filter: only endpoints with v6",
             host(RoundRobin, true, three()), Family::V6, nowhere, &["2001:db8::1"], 0, false),
            ("hub says down: left out",
             host(RoundRobin, true, down(three(), 1)), Family::V4, nowhere,
             &["192.0.2.1", "192.0.2.4"], 0, false),
            ("probe says down: that address left out, the endpoint's others stay",
             host(RoundRobin, true, probe_down()), Family::V4, nowhere, &["192.0.2.3"], 0, false),
            ("failover: lowest priority group",
             host(Failover, true, three()), Family::V4, nowhere, &["192.0.2.1"], 0, false),
            ("failover: primary down, next group",
             host(Failover, true, down(three(), 0)), Family::V4, nowhere,
             &["192.0.2.2", "192.0.2.3"], 0, false),
            ("failover: probe failures move it too",
             host(Failover, true, probe_down()), Family::V4, nowhere, &["192.0.2.3"], 0, false),
            ("nothing healthy, fail open: every address",
             host(Failover, true, down(down(down(three(), 0), 1), 2)), Family::V4, nowhere,
             &["192.0.2.1"], 0, true),
            ("nothing healthy, fail closed: nothing",
             host(RoundRobin, false, down(down(down(three(), 0), 1), 2)), Family::V4, nowhere,
             &[], 0, false),
            ("geo: client subnet in eu",
             host(Geo, true, three()), Family::V4, eu, &["192.0.2.1"], 16, false),
            ("geo: us client",
             host(Geo, true, three()), Family::V4, client("10.2.0.9", 32),
             &["192.0.2.2", "192.0.2.3"], 16, false),
            ("geo: region down, every healthy endpoint",
             host(Geo, true, down(three(), 0)), Family::V4, eu,
             &["192.0.2.2", "192.0.2.3", "192.0.2.4"], 16, false),
            ("geo: unknown client, no default region: every healthy endpoint",
             host(Geo, true, three()), Family::V4, nowhere,
             &["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"], 32, false),
            ("no endpoints at all",
             host(RoundRobin, true, Vec::new()), Family::V4, nowhere, &[], 0, false),
        ];
        for (name, host, family, client, expected, scope, failed_open) in cases {
            for draw in [0, 1, 7, u64::MAX] {
                let selection = select(&host, family, client, draw);
                assert_eq!(sorted(&selection), expected, "{name} (draw {draw})");
                assert_eq!(selection.scope_prefix, scope, "{name}");
                assert_eq!(selection.failed_open, failed_open, "{name}");
            }
        }
    }

    #[test]
    fn round_robin_rotates_with_the_draw() {
        let host = host(DnsStrategy::RoundRobin, true, three());
        let firsts: std::collections::BTreeSet<String> = (0..4)
            .map(|draw| {
                select(&host, Family::V4, client("192.0.2.9", 32), draw).addresses[0].to_string()
            })
            .collect();
        assert_eq!(firsts.len(), 4, "each address leads once: {firsts:?}");
    }

    /// The weighted split is made per answer, so it holds whatever order a
    /// resolver shuffles records into: over every draw modulo the total
    /// weight, each endpoint is chosen exactly its weight's share.
    #[test]
    fn weighted_split_is_exact_over_the_draw_space() {
        let host = host(DnsStrategy::Weighted, true, three());
        let mut counts = std::collections::BTreeMap::new();
        for draw in 0..4000u64 {
            let selection = select(&host, Family::V4, client("192.0.2.9", 32), draw);
            let chosen = if selection
                .addresses
                .contains(&"192.0.2.1".parse().expect("ip"))
            {
                "east"
            } else {
                "west"
            };
            assert!(selection.addresses.len() <= 2, "one endpoint per answer");
            *counts.entry(chosen).or_insert(0) += 1;
        }
        // Weights 3 : 1 : 0 (south never answers).
        assert_eq!(counts["east"], 3000);
        assert_eq!(counts["west"], 1000);

        // All weights zero: equal shares rather than nothing.
        let zero = host_with_zero_weights();
        let answered: std::collections::BTreeSet<String> = (0..10)
            .flat_map(|draw| sorted(&select(&zero, Family::V4, client("192.0.2.9", 32), draw)))
            .collect();
        assert_eq!(answered.len(), 2);
    }

    fn host_with_zero_weights() -> Host {
        host(
            DnsStrategy::Weighted,
            true,
            vec![
                endpoint("a", "eu", 0, 0, true, &["192.0.2.1"]),
                endpoint("b", "eu", 0, 0, true, &["192.0.2.2"]),
            ],
        )
    }
}
