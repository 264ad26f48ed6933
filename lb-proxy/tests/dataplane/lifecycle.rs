//! Config swaps, removed sockets and shutdown, with requests in flight.

use std::time::Duration;

use serde_json::json;

use crate::support::{
    Echo, backend, config, fail, get, ip, proxy_addr, route, start, wait_refused,
};

#[tokio::test]
async fn config_swap_lets_the_request_in_flight_finish() {
    const T: u8 = 10;
    let a = Echo::start(ip(T, 10), "a").await;
    let b = Echo::start(ip(T, 11), "b").await;
    let proxy = proxy_addr(T);
    let to = |name: &str| route("r", json!({"rules": [{"backendRefs": [backend(name, 1)]}]}));
    let dp = start(config(proxy, &[to("a")], &[("a", vec![a.addr])]));
    let in_flight = tokio::spawn(async move { get(proxy, "example.com", "/?sleep=400").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The new config drops Service a altogether.
    dp.apply(config(proxy, &[to("b")], &[("b", vec![b.addr])]))
        .unwrap_or_else(|e| fail("apply", e));
    let reply = in_flight.await.unwrap_or_else(|e| fail("join", e));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.backend(), "a");
    assert_eq!(get(proxy, "example.com", "/").await.backend(), "b");
    dp.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn removed_sockets_stop_accepting_and_new_ones_open() {
    const T: u8 = 12;
    let a = Echo::start(ip(T, 10), "a").await;
    let r = || route("r", json!({"rules": [{"backendRefs": [backend("a", 1)]}]}));
    let first = proxy_addr(T);
    let second = std::net::SocketAddr::new(ip(T, 2), 8081);
    let dp = start(config(first, &[r()], &[("a", vec![a.addr])]));
    assert_eq!(get(first, "example.com", "/").await.status, 200);
    let in_flight = tokio::spawn(async move { get(first, "example.com", "/?sleep=300").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    dp.apply(config(second, &[r()], &[("a", vec![a.addr])]))
        .unwrap_or_else(|e| fail("apply", e));
    assert!(
        wait_refused(first).await,
        "the removed socket still accepts"
    );
    assert_eq!(get(second, "example.com", "/").await.status, 200);
    // The request on the removed socket drained rather than dropped: it
    // still had the config it started with.
    let reply = in_flight.await.unwrap_or_else(|e| fail("join", e));
    assert_eq!(reply.status, 200);
    // And the old address can be served again.
    dp.apply(config(first, &[r()], &[("a", vec![a.addr])]))
        .unwrap_or_else(|e| fail("re-apply", e));
    assert_eq!(get(first, "example.com", "/").await.status, 200);
    dp.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn shutdown_drains_requests_in_flight() {
    const T: u8 = 11;
    let a = Echo::start(ip(T, 10), "a").await;
    let r = route("r", json!({"rules": [{"backendRefs": [backend("a", 1)]}]}));
    let proxy = proxy_addr(T);
    let dp = start(config(proxy, &[r], &[("a", vec![a.addr])]));
    let in_flight = tokio::spawn(async move { get(proxy, "example.com", "/?sleep=400").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = tokio::time::Instant::now();
    dp.shutdown(Duration::from_secs(5)).await;
    let took = started.elapsed();
    let reply = in_flight.await.unwrap_or_else(|e| fail("join", e));
    assert_eq!(reply.status, 200, "the request in flight finished");
    assert!(took < Duration::from_secs(2), "shutdown waited {took:?}");
    assert!(wait_refused(proxy).await);
}

#[tokio::test]
async fn shutdown_cuts_requests_past_the_grace() {
    const T: u8 = 16;
    let a = Echo::start(ip(T, 10), "a").await;
    let r = route("r", json!({"rules": [{"backendRefs": [backend("a", 1)]}]}));
    let proxy = proxy_addr(T);
    let dp = start(config(proxy, &[r], &[("a", vec![a.addr])]));
    let in_flight = tokio::spawn(async move {
        let mut c = crate::support::H1::connect(proxy).await;
        c.try_get("example.com", "/?sleep=5000", &[]).await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = tokio::time::Instant::now();
    dp.shutdown(Duration::from_millis(200)).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    let result = in_flight.await.unwrap_or_else(|e| fail("join", e));
    assert!(result.is_err(), "the slow request was cut: {result:?}");
}
