//! Cross-cluster spillover targets, from the DNSRecords the hub replicates
//! to every member: for each global hostname, the gateways of the *other*
//! clusters that serve it and the hub last saw healthy, in the record's
//! failover order. When a request's backend has no healthy endpoint here,
//! the data plane forwards it to one of them (see `dataplane::proxy`), so
//! requests still routed to this cluster by cached DNS answers succeed.
//! Pure.

use std::net::IpAddr;

use fedway_crds::DNSRecord;

use crate::{config::Spillover, hostname::HostPattern};

/// The spillover table: per record hostname, the healthy endpoints of the
/// lowest priority that has any (Failover's next group; every endpoint for
/// RoundRobin, Weighted and Geo records, whose priorities are equal), minus
/// `own` (this proxy's Gateway addresses: never spill to itself).
pub fn spillover(records: &[&DNSRecord], own: &[IpAddr]) -> Spillover {
    let mut out = Spillover::default();
    for record in records {
        let peers = record
            .spec
            .endpoints
            .iter()
            .filter(|e| e.hub_healthy)
            .map(|e| {
                let addresses: Vec<IpAddr> = e
                    .addresses
                    .iter()
                    .filter_map(|a| a.parse().ok())
                    .filter(|a| !own.contains(a))
                    .collect();
                (e.priority, addresses)
            })
            .filter(|(_, addresses)| !addresses.is_empty());
        let Some(best) = peers.clone().map(|(priority, _)| priority).min() else {
            continue;
        };
        let mut addresses: Vec<IpAddr> = peers
            .filter(|(priority, _)| *priority == best)
            .flat_map(|(_, addresses)| addresses)
            .collect();
        addresses.sort();
        addresses.dedup();
        let hostname = record.spec.hostname.to_ascii_lowercase();
        out.by_host
            .entry(&HostPattern::parse(Some(&hostname)), Vec::new)
            .extend(addresses);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(hostname: &str, endpoints: serde_json::Value) -> DNSRecord {
        serde_json::from_value(json!({
            "apiVersion": "fedway.dev/v1alpha1", "kind": "DNSRecord",
            "metadata": {"name": hostname.replace('*', "wildcard"), "namespace": "fedway-system"},
            "spec": {"hostname": hostname, "ttlSeconds": 5, "endpoints": endpoints},
        }))
        .expect("valid DNSRecord")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn peers_by_hostname() {
        let own = [ip("10.0.0.1")];
        let failover = record(
            "shop.example.com",
            json!([
                {"clusterName": "here", "addresses": ["10.0.0.1"], "priority": 0, "hubHealthy": true},
                {"clusterName": "eu-2", "addresses": ["10.0.0.2"], "priority": 0, "hubHealthy": false},
                {"clusterName": "us", "addresses": ["10.0.0.3", "10.0.0.4"], "priority": 1, "hubHealthy": true},
                {"clusterName": "ap", "addresses": ["10.0.0.5"], "priority": 2, "hubHealthy": true},
            ]),
        );
        let round_robin = record(
            "*.apps.example.com",
            json!([
                {"clusterName": "here", "addresses": ["10.0.0.1"], "hubHealthy": true},
                {"clusterName": "b", "addresses": ["10.0.0.7", "bogus"], "hubHealthy": true},
                {"clusterName": "c", "addresses": ["10.0.0.6"], "hubHealthy": true},
            ]),
        );
        let only_here = record(
            "solo.example.com",
            json!([{"clusterName": "here", "addresses": ["10.0.0.1"], "hubHealthy": true}]),
        );
        let table = spillover(&[&failover, &round_robin, &only_here], &own);
        // Own address and unhealthy peers out; the next priority group in.
        assert_eq!(
            table.peers("shop.example.com"),
            [ip("10.0.0.3"), ip("10.0.0.4")]
        );
        assert_eq!(
            table.peers("a.apps.example.com"),
            [ip("10.0.0.6"), ip("10.0.0.7")]
        );
        assert!(table.peers("solo.example.com").is_empty());
        assert!(table.peers("elsewhere.example.org").is_empty());
    }
}
