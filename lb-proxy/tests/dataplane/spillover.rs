//! Cross-cluster spillover: a gateway whose backend has no endpoint here
//! forwards the request to a peer cluster's gateway (same port), which
//! routes it itself; the peer never forwards it again.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use fedway_proxy::{config::Spillover, hostname::HostPattern};
use serde_json::json;

use crate::support::{Echo, H1, PROXY_PORT, backend, config, ip, route, start};

fn peers(to: SocketAddr) -> Arc<Spillover> {
    let mut table = Spillover::default();
    table
        .by_host
        .entry(&HostPattern::parse(Some("*.example.com")), Vec::new)
        .push(to.ip());
    Arc::new(table)
}

#[tokio::test]
async fn no_local_endpoint_spills_over_to_a_peer_once() {
    const T: u8 = 20;
    let here = SocketAddr::new(ip(T, 1), PROXY_PORT);
    let peer = SocketAddr::new(ip(T, 2), PROXY_PORT);
    let echo = Echo::start(ip(T, 10), "peer-pod").await;
    let r = || route("r", json!({"rules": [{"backendRefs": [backend("a", 1)]}]}));

    // Here: Service a has no endpoint; the peer has one.
    let mut local = config(here, &[r()], &[("a", vec![])]);
    local.spillover = peers(peer);
    let mut remote = config(peer, &[r()], &[("a", vec![echo.addr])]);
    remote.spillover = peers(here);
    let dp_here = start(local);
    let dp_peer = start(remote);

    let mut client = H1::connect(here).await;
    let reply = client.get("shop.example.com", "/cart?x=1", &[]).await;
    assert_eq!(reply.status, 200);
    let seen = reply.echo();
    assert_eq!(seen["backend"], "peer-pod");
    assert_eq!(seen["path"], "/cart?x=1");
    assert_eq!(seen["host"], "shop.example.com");
    assert_eq!(seen["headers"]["fedway-spillover"], "1");
    // A host no peer serves is not spilled.
    let other = client.get("shop.example.org", "/", &[]).await;
    assert_eq!(other.status, 503);

    // The peer loses its endpoint too: one hop only, no ping-pong.
    let mut remote = config(peer, &[r()], &[("a", vec![])]);
    remote.spillover = peers(here);
    dp_peer
        .apply(remote)
        .unwrap_or_else(|e| panic!("apply: {e}"));
    let reply = client.get("shop.example.com", "/cart", &[]).await;
    assert_eq!(reply.status, 503);
    assert_eq!(echo.hits(), 1);

    dp_here.shutdown(Duration::from_secs(1)).await;
    dp_peer.shutdown(Duration::from_secs(1)).await;
}

/// Behind a Service the socket is bound on a pod port (the Service's
/// target port): the peer is reached on the listener's port, where its
/// Service listens, not on the port this socket happens to be bound to.
#[tokio::test]
async fn behind_a_service_spillover_goes_to_the_listener_port() {
    const T: u8 = 21;
    let here = SocketAddr::new(ip(T, 1), 26460);
    let peer = SocketAddr::new(ip(T, 2), PROXY_PORT);
    let echo = Echo::start(ip(T, 10), "peer-pod").await;
    let r = || route("r", json!({"rules": [{"backendRefs": [backend("a", 1)]}]}));

    let mut local = config(here, &[r()], &[("a", vec![])]);
    for socket in local.sockets.values_mut() {
        socket.port = PROXY_PORT;
    }
    local.spillover = peers(peer);
    let remote = config(peer, &[r()], &[("a", vec![echo.addr])]);
    let dp_here = start(local);
    let dp_peer = start(remote);

    let mut client = H1::connect(here).await;
    let reply = client.get("shop.example.com", "/", &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.echo()["backend"], "peer-pod");

    dp_here.shutdown(Duration::from_secs(1)).await;
    dp_peer.shutdown(Duration::from_secs(1)).await;
}
