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
        matches!((self, ip), (Family::V4, IpAddr::V4(_)) | (Family::V6, IpAddr::V6(_)))
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
