//! The route kinds the hub federates: every route of Gateway API v1.6's
//! Standard channel, as far as the hub serves it. A hub with older Gateway
//! API CRDs (TLSRoute, TCPRoute and UDPRoute reached Standard in v1.5 and
//! v1.6) federates the kinds it has: a watch on a kind the API server does
//! not serve would fail forever and hold back every other trigger, so only
//! the kinds found at start-up are watched and listed (new CRDs take a
//! restart, as for the agent). Policy kinds (GEP-713) are found the same
//! way.

use kube::{Client, core::ApiResource};

use fedway_crds::group_kind::GroupKind;

use crate::{Error, api_error, work_builder::GATEWAY_API_GROUP};

/// Route kinds of the Standard channel, with whether their
/// `spec.hostnames` name the hostnames they serve (TCP and UDP routes have
/// none).
pub const ROUTE_KINDS: [(&str, bool); 5] = [
    ("HTTPRoute", true),
    ("GRPCRoute", true),
    ("TLSRoute", true),
    ("TCPRoute", false),
    ("UDPRoute", false),
];

/// The route kinds the hub serves, at their preferred versions, in
/// [`ROUTE_KINDS`] order.
pub async fn served(client: &Client) -> Result<Vec<ApiResource>, Error> {
    let wanted: Vec<(&str, &str)> = ROUTE_KINDS
        .iter()
        .map(|(kind, _)| (GATEWAY_API_GROUP, *kind))
        .collect();
    discover(client, &wanted).await
}

/// The policy kinds the hub federates: BackendTLSPolicy (the Standard
/// channel's policy kind since v1.4) and those the
/// operator names (`--policy-kind`), as far as the hub serves them. One
/// named but not served is said in the log: federating it takes its CRD
/// and a restart.
pub async fn served_policies(
    client: &Client,
    named: &[GroupKind],
) -> Result<Vec<ApiResource>, Error> {
    let backend_tls = GroupKind::new("BackendTLSPolicy", GATEWAY_API_GROUP);
    let mut kinds = vec![backend_tls.clone()];
    kinds.extend(named.iter().filter(|k| **k != backend_tls).cloned());
    let wanted: Vec<(&str, &str)> = kinds
        .iter()
        .map(|k| (k.group.as_str(), k.kind.as_str()))
        .collect();
    let served = discover(client, &wanted).await?;
    for kind in named {
        if !served
            .iter()
            .any(|r| r.kind == kind.kind && r.group == kind.group)
        {
            tracing::warn!(%kind, "a policy kind to federate is not served by the hub; its policies stay in the hub");
        }
    }
    Ok(served)
}

/// ListenerSet (Standard since v1.6), when the hub serves it.
pub async fn served_listener_sets(client: &Client) -> Result<Option<ApiResource>, Error> {
    Ok(discover(client, &[(GATEWAY_API_GROUP, "ListenerSet")])
        .await?
        .into_iter()
        .next())
}

/// The kinds of `wanted` (group, kind) the API server serves, at their
/// preferred versions, in `wanted`'s order.
async fn discover(client: &Client, wanted: &[(&str, &str)]) -> Result<Vec<ApiResource>, Error> {
    let mut groups: Vec<&str> = wanted.iter().map(|(group, _)| *group).collect();
    groups.dedup();
    let discovery = kube::Discovery::new(client.clone())
        .filter(&groups)
        .run()
        .await
        .map_err(api_error(
            "discovering",
            format!("the kinds of {}", groups.join(", ")),
        ))?;
    let served: Vec<ApiResource> = discovery
        .groups()
        .flat_map(|group| group.recommended_resources())
        .map(|(resource, _)| resource)
        .collect();
    Ok(wanted
        .iter()
        .filter_map(|(group, kind)| {
            served
                .iter()
                .find(|r| r.group == *group && r.kind == *kind)
                .cloned()
        })
        .collect())
}

/// Whether routes of `kind` name hostnames (`spec.hostnames`).
pub fn has_hostnames(kind: &str) -> bool {
    ROUTE_KINDS
        .iter()
        .any(|(k, hostnames)| *k == kind && *hostnames)
}
