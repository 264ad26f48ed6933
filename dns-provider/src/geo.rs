//! Which region a client is in: the DNSPolicy's CIDR table, longest prefix
//! first, else its default region.

use std::net::IpAddr;

use fedway_crds::dns_policy::GeoSteering;
use ipnet::IpNet;

#[derive(Clone, Debug, PartialEq)]
pub struct GeoTable {
    /// The cluster label that names a cluster's region (for reports).
    pub region_label: String,
    /// Networks with their region, longest prefix first.
    networks: Vec<(IpNet, String)>,
    default_region: Option<String>,
}

/// A client's region and how far the answer may be reused: the prefix
/// length of the network that decided it (the ECS scope).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRegion<'a> {
    pub region: Option<&'a str>,
    pub scope_prefix: u8,
}

impl GeoTable {
    /// Builds the table; CIDRs the API server would reject (a file may hold
    /// them) are left out rather than failing the record.
    pub fn new(geo: &GeoSteering) -> Self {
        let mut networks: Vec<(IpNet, String)> = geo
            .client_regions
            .iter()
            .flat_map(|entry| {
                entry.cidrs.iter().filter_map(|cidr| {
                    cidr.parse::<IpNet>()
                        .ok()
                        .map(|net| (net.trunc(), entry.region.clone()))
                })
            })
            .collect();
        // Stable sort: equal prefixes keep the policy's order, first wins.
        networks.sort_by_key(|(net, _)| std::cmp::Reverse(net.prefix_len()));
        Self {
            region_label: geo.region_label.clone(),
            networks,
            default_region: geo.default_region.clone(),
        }
    }

    /// The region of a client network `ip/source_prefix`. A table entry
    /// longer than what the client revealed still decides by the address,
    /// and its length becomes the scope (RFC 7871 §7.2.1 lets the scope
    /// exceed the source prefix). No match: the default region, scoped to
    /// what the client revealed, since a more specific entry could exist.
    pub fn region_of(&self, ip: IpAddr, source_prefix: u8) -> ClientRegion<'_> {
        let ip = canonical(ip);
        match self.networks.iter().find(|(net, _)| net.contains(&ip)) {
            Some((net, region)) => ClientRegion {
                region: Some(region),
                scope_prefix: net.prefix_len(),
            },
            None => ClientRegion {
                region: self.default_region.as_deref(),
                scope_prefix: source_prefix,
            },
        }
    }
}

/// IPv4-mapped IPv6 clients are IPv4 clients.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> GeoTable {
        GeoTable::new(
            &serde_json::from_value(serde_json::json!({
                "clientRegions": [
                    {"region": "eu", "cidrs": ["10.0.0.0/8", "2001:db8:e::/48", "bogus"]},
                    {"region": "us", "cidrs": ["10.1.0.0/16", "10.2.3.4/24"]},
                ],
                "defaultRegion": "ap",
            }))
            .expect("geo"),
        )
    }

    #[test]
    fn longest_prefix_wins_and_scope_is_its_length() {
        let table = table();
        for (ip, source, region, scope) in [
            ("10.9.9.9", 32, Some("eu"), 8),
            ("10.1.2.3", 24, Some("us"), 16),
            // Host bits in the policy's CIDR are ignored: 10.2.3.0/24.
            ("10.2.3.200", 32, Some("us"), 24),
            ("2001:db8:e::5", 56, Some("eu"), 48),
            ("::ffff:10.1.0.1", 128, Some("us"), 16),
            ("192.0.2.1", 24, Some("ap"), 24),
            ("2001:db8:f::1", 56, Some("ap"), 56),
        ] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert_eq!(
                table.region_of(ip, source),
                ClientRegion {
                    region,
                    scope_prefix: scope
                },
                "{ip}/{source}"
            );
        }
    }

    #[test]
    fn without_default_region_unmatched_clients_have_none() {
        let table = GeoTable::new(&GeoSteering::default());
        assert_eq!(
            table.region_of("192.0.2.1".parse().expect("ip"), 32).region,
            None
        );
        assert_eq!(table.region_label, "");
    }
}
