//! The route kinds the hub federates: every route of Gateway API v1.6's
//! Standard channel, as far as the hub serves it. A hub with older Gateway
//! API CRDs (TLSRoute, TCPRoute and UDPRoute reached Standard in v1.5 and
//! v1.6) federates the kinds it has: a watch on a kind the API server does
//! not serve would fail forever and hold back every other trigger, so only
//! the kinds found at start-up are watched and listed (new CRDs take a
//! restart, as for the agent).

use kube::{Client, core::ApiResource};

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
    let discovery = kube::Discovery::new(client.clone())
        .filter(&[GATEWAY_API_GROUP])
        .run()
        .await
        .map_err(api_error("discovering", "Gateway API kinds"))?;
    let served: Vec<ApiResource> = discovery
        .groups()
        .flat_map(|group| group.recommended_resources())
        .map(|(resource, _)| resource)
        .collect();
    Ok(ROUTE_KINDS
        .iter()
        .filter_map(|(kind, _)| served.iter().find(|r| r.kind == *kind).cloned())
        .collect())
}

/// Whether routes of `kind` name hostnames (`spec.hostnames`).
pub fn has_hostnames(kind: &str) -> bool {
    ROUTE_KINDS
        .iter()
        .any(|(k, hostnames)| *k == kind && *hostnames)
}
