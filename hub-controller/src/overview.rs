//! `fedwayctl status`: the federation at a glance, from the hub — members
//! with readiness and the Gateway API implementations found there, each
//! federated Gateway × member with Programmed and addresses, each DNS
//! endpoint with the hub's and the probes' view of its health, and what
//! each DNS server (the DNSZones' name servers) answers right now.
//!
//! [`gather`] reads (no writes); [`render`] is pure.

use std::{collections::BTreeMap, fmt::Write as _, net::SocketAddr, time::Duration};

use fedway_crds::{DNSPolicy, DNSRecord, DNSZone, MemberCluster, Work};
use kube::{Api, Client, ResourceExt, api::ListParams};

use crate::{
    Error, api_error,
    gateways::{CONTROLLER_NAME, GATEWAY_ANNOTATION},
    status,
};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overview {
    pub members: Vec<MemberRow>,
    pub gateways: Vec<GatewayRow>,
    pub endpoints: Vec<EndpointRow>,
    pub answers: Vec<AnswerRow>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemberRow {
    pub name: String,
    pub ready: String,
    pub reason: String,
    /// `class (controllerName)` of each GatewayClass found, `!` when not
    /// accepted by its implementation.
    pub implementations: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct GatewayRow {
    pub gateway: String,
    pub member: String,
    pub programmed: bool,
    /// Why not, when not.
    pub detail: String,
    pub addresses: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointRow {
    pub hostname: String,
    pub strategy: String,
    pub member: String,
    pub address: String,
    pub hub_healthy: bool,
    /// The probes' verdict (from the DNSPolicy status the DNS server beside
    /// the hub reports), when reported.
    pub probed: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AnswerRow {
    pub hostname: String,
    pub server: String,
    /// The A records it answered, or why there was no answer.
    pub answer: Result<Vec<String>, String>,
}

/// Reads everything [`render`] shows. DNS servers are the DNSZones'
/// name-server addresses (port 53) plus `extra_servers`.
pub async fn gather(client: &Client, extra_servers: &[SocketAddr]) -> Result<Overview, Error> {
    let members = Api::<MemberCluster>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(api_error("listing", "MemberClusters"))?;
    let works = Api::<Work>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(api_error("listing", "Works"))?;
    let records = Api::<DNSRecord>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(api_error("listing", "DNSRecords"))?;
    let policies = Api::<DNSPolicy>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(api_error("listing", "DNSPolicies"))?;
    let zones = Api::<DNSZone>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map_err(api_error("listing", "DNSZones"))?;

    let mut overview = Overview {
        members: members.items.iter().map(member_row).collect(),
        ..Overview::default()
    };
    for work in &works.items {
        let Some(gateway) = work.annotations().get(GATEWAY_ANNOTATION) else {
            continue;
        };
        let member = work
            .namespace()
            .unwrap_or_default()
            .trim_start_matches(crate::join::MEMBER_NAMESPACE_PREFIX)
            .to_owned();
        let name = gateway.rsplit('/').next().unwrap_or(gateway);
        let state = status::member_gateway_state(name, work.status.as_ref());
        let addresses = status::member_addresses(name, work.status.as_ref());
        overview.gateways.push(GatewayRow {
            gateway: gateway.clone(),
            member,
            programmed: state.is_ok(),
            detail: state.err().unwrap_or_default(),
            addresses,
        });
    }
    overview
        .gateways
        .sort_by(|a, b| (&a.gateway, &a.member).cmp(&(&b.gateway, &b.member)));

    // The probes' view, per (cluster, address), from every policy's status.
    let probed: BTreeMap<(String, String), bool> = policies
        .items
        .iter()
        .flat_map(|p| p.status.iter().flat_map(|s| &s.endpoints))
        .map(|e| ((e.cluster_name.clone(), e.address.clone()), e.healthy))
        .collect();
    for record in &records.items {
        for endpoint in &record.spec.endpoints {
            for address in &endpoint.addresses {
                overview.endpoints.push(EndpointRow {
                    hostname: record.spec.hostname.clone(),
                    strategy: format!("{:?}", record.spec.strategy),
                    member: endpoint.cluster_name.clone(),
                    address: address.clone(),
                    hub_healthy: endpoint.hub_healthy,
                    probed: probed
                        .get(&(endpoint.cluster_name.clone(), address.clone()))
                        .copied(),
                });
            }
        }
    }

    let mut servers: Vec<SocketAddr> = zones
        .items
        .iter()
        .flat_map(|z| &z.spec.name_servers)
        .flat_map(|ns| &ns.addresses)
        .filter_map(|a| a.parse().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .chain(extra_servers.iter().copied())
        .collect();
    servers.sort();
    servers.dedup();
    for record in &records.items {
        for server in &servers {
            let answer = crate::dns_query::a_records(
                *server,
                &record.spec.hostname,
                None,
                Duration::from_secs(1),
            )
            .await
            .map(|ips| ips.iter().map(ToString::to_string).collect());
            overview.answers.push(AnswerRow {
                hostname: record.spec.hostname.clone(),
                server: server.to_string(),
                answer,
            });
        }
    }
    Ok(overview)
}

fn member_row(m: &MemberCluster) -> MemberRow {
    let ready = m
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
    MemberRow {
        name: m.name_any(),
        ready: ready.map_or_else(|| "Unknown".to_owned(), |c| c.status.clone()),
        reason: ready.map(|c| c.reason.clone()).unwrap_or_default(),
        implementations: m
            .status
            .iter()
            .flat_map(|s| &s.gateway_classes)
            .map(|c| {
                format!(
                    "{}{} ({})",
                    c.name,
                    if c.accepted { "" } else { "!" },
                    c.controller_name
                )
            })
            .collect(),
    }
}

/// The overview as text tables.
pub fn render(o: &Overview) -> String {
    let mut out = String::new();
    let yes = |b: bool| if b { "yes" } else { "no" };
    let _ = writeln!(out, "MEMBERS");
    let _ = writeln!(
        out,
        "  {:<16} {:<6} {:<18} IMPLEMENTATIONS",
        "NAME", "READY", "REASON"
    );
    for m in &o.members {
        let _ = writeln!(
            out,
            "  {:<16} {:<6} {:<18} {}",
            m.name,
            m.ready,
            m.reason,
            if m.implementations.is_empty() {
                "none found (fedway-proxy is placed)".to_owned()
            } else {
                m.implementations.join(", ")
            }
        );
    }
    let _ = writeln!(
        out,
        "\nGATEWAYS (class with controller {CONTROLLER_NAME}) × MEMBERS"
    );
    let _ = writeln!(
        out,
        "  {:<24} {:<16} {:<11} ADDRESSES",
        "GATEWAY", "MEMBER", "PROGRAMMED"
    );
    for g in &o.gateways {
        let addresses = if g.addresses.is_empty() {
            "-".to_owned()
        } else {
            g.addresses.join(",")
        };
        let _ = writeln!(
            out,
            "  {:<24} {:<16} {:<11} {addresses}{}",
            g.gateway,
            g.member,
            yes(g.programmed),
            if g.detail.is_empty() {
                String::new()
            } else {
                format!("  ({})", g.detail)
            }
        );
    }
    let _ = writeln!(out, "\nDNS ENDPOINTS");
    let _ = writeln!(
        out,
        "  {:<32} {:<11} {:<16} {:<16} {:<12} PROBES",
        "HOSTNAME", "STRATEGY", "MEMBER", "ADDRESS", "HUB-HEALTHY"
    );
    for e in &o.endpoints {
        let _ = writeln!(
            out,
            "  {:<32} {:<11} {:<16} {:<16} {:<12} {}",
            e.hostname,
            e.strategy,
            e.member,
            e.address,
            yes(e.hub_healthy),
            e.probed
                .map_or("not reported", |p| if p { "healthy" } else { "failing" })
        );
    }
    let _ = writeln!(out, "\nDNS ANSWERS NOW (A)");
    for a in &o.answers {
        let answer = match &a.answer {
            Ok(ips) if ips.is_empty() => "NODATA".to_owned(),
            Ok(ips) => ips.join(" "),
            Err(e) => format!("no answer: {e}"),
        };
        let _ = writeln!(out, "  {:<32} @{:<22} {answer}", a.hostname, a.server);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_section() {
        let o = Overview {
            members: vec![MemberRow {
                name: "member-eu".into(),
                ready: "True".into(),
                reason: "HeartbeatFresh".into(),
                implementations: vec!["traefik (traefik.io/gateway-controller)".into()],
            }],
            gateways: vec![GatewayRow {
                gateway: "web/shop".into(),
                member: "member-us".into(),
                programmed: false,
                detail: "Programmed=False: AddressNotAssigned".into(),
                addresses: vec![],
            }],
            endpoints: vec![EndpointRow {
                hostname: "shop.global.example.com".into(),
                strategy: "Failover".into(),
                member: "member-eu".into(),
                address: "127.20.65.100".into(),
                hub_healthy: true,
                probed: Some(false),
            }],
            answers: vec![
                AnswerRow {
                    hostname: "shop.global.example.com".into(),
                    server: "127.20.65.53:53".into(),
                    answer: Ok(vec!["127.20.66.100".into()]),
                },
                AnswerRow {
                    hostname: "shop.global.example.com".into(),
                    server: "127.20.67.53:53".into(),
                    answer: Err("timed out".into()),
                },
            ],
        };
        let text = render(&o);
        for want in [
            "member-eu        True   HeartbeatFresh     traefik (traefik.io/gateway-controller)",
            "web/shop                 member-us        no          -  (Programmed=False: AddressNotAssigned)",
            "127.20.65.100    yes          failing",
            "@127.20.65.53:53        127.20.66.100",
            "@127.20.67.53:53        no answer: timed out",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }
}
