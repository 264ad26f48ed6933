//! Requests the proxy answers itself: 404, 500, 502, 503, 504, and passive
//! ejection of a dead endpoint.

use std::time::Duration;

use fedway_proxy::dataplane::{Options, endpoints::EjectionOptions};
use serde_json::json;

use crate::support::{
    Echo, H1, backend, config, dead_endpoint, get, ip, proxy_addr, route, start, start_with,
};

#[tokio::test]
async fn status_codes_say_which_side_failed() {
    const T: u8 = 5;
    let slow = Echo::start(ip(T, 10), "slow").await;
    let dead = dead_endpoint(ip(T, 11)).await;
    let r = route(
        "r",
        json!({"hostnames": ["example.com"], "rules": [
            {"matches": [{"path": {"type": "PathPrefix", "value": "/invalid"}}],
             "backendRefs": [{"kind": "ConfigMap", "name": "x", "port": 8080}]},
            {"matches": [{"path": {"type": "PathPrefix", "value": "/none"}}]},
            {"matches": [{"path": {"type": "PathPrefix", "value": "/empty"}}],
             "backendRefs": [backend("empty", 1)]},
            {"matches": [{"path": {"type": "PathPrefix", "value": "/dead"}}],
             "backendRefs": [backend("dead", 1)]},
            {"matches": [{"path": {"type": "PathPrefix", "value": "/backend-timeout"}}],
             "timeouts": {"backendRequest": "200ms"},
             "backendRefs": [backend("slow", 1)]},
            {"matches": [{"path": {"type": "PathPrefix", "value": "/request-timeout"}}],
             "timeouts": {"request": "200ms"},
             "backendRefs": [backend("slow", 1)]},
            {"matches": [{"path": {"type": "PathPrefix", "value": "/drip"}}],
             "timeouts": {"request": "350ms"},
             "backendRefs": [backend("slow", 1)]},
            {"matches": [{"path": {"type": "PathPrefix", "value": "/status"}}],
             "backendRefs": [backend("slow", 1)]},
        ]}),
    );
    let proxy = proxy_addr(T);
    let dp = start(config(
        proxy,
        &[r],
        &[
            ("slow", vec![slow.addr]),
            ("empty", vec![]),
            ("dead", vec![dead]),
        ],
    ));
    for (host, path, want) in [
        ("other.com", "/", 404),
        ("example.com", "/invalid", 500),
        ("example.com", "/none", 500),
        ("example.com", "/empty", 503),
        ("example.com", "/dead", 502),
        ("example.com", "/backend-timeout?sleep=1000", 504),
        ("example.com", "/request-timeout?sleep=1000", 504),
        ("example.com", "/backend-timeout?sleep=0", 200),
        ("example.com", "/status/503", 503),
    ] {
        let reply = get(proxy, host, path).await;
        assert_eq!(reply.status, want, "{host}{path}: {:?}", reply.body);
    }
    // The request timeout covers the whole exchange: a response still
    // streaming when it expires is cut (its head has gone out already).
    let mut conn = H1::connect(proxy).await;
    assert!(conn.try_get("example.com", "/drip/2", &[]).await.is_ok());
    let cut = conn.try_get("example.com", "/drip/10", &[]).await;
    assert!(cut.is_err(), "{cut:?}");
    dp.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_refusing_endpoint_is_ejected() {
    const T: u8 = 14;
    let live = Echo::start(ip(T, 10), "live").await;
    let dead = dead_endpoint(ip(T, 11)).await;
    let r = route("r", json!({"rules": [{"backendRefs": [backend("s", 1)]}]}));
    let proxy = proxy_addr(T);
    let dp = start_with(
        config(proxy, &[r], &[("s", vec![live.addr, dead])]),
        Options {
            ejection: EjectionOptions {
                threshold: 2,
                duration: Duration::from_secs(60),
                max_tracked: 16,
            },
            ..Options::default()
        },
    );
    let mut conn = H1::connect(proxy).await;
    let mut failed = 0;
    for _ in 0..40 {
        let reply = conn.get("example.com", "/", &[]).await;
        if reply.status == 502 {
            failed += 1;
        } else {
            assert_eq!(reply.status, 200);
        }
    }
    assert!(failed <= 2, "{failed} requests hit the dead endpoint");
    dp.shutdown(Duration::from_secs(1)).await;
}
