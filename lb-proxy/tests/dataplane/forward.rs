//! Requests that reach a backend: routing, rewrites, header edits, splits.

use serde_json::json;

use crate::support::{Echo, H1, backend, config, get, ip, post, proxy_addr, route, start};

#[tokio::test]
async fn routes_by_path_and_header() {
    const T: u8 = 1;
    let a = Echo::start(ip(T, 10), "a").await;
    let b = Echo::start(ip(T, 11), "b").await;
    let c = Echo::start(ip(T, 12), "c").await;
    let r = route(
        "r",
        json!({"rules": [
            {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": [backend("a", 1)]},
            {"matches": [{"path": {"type": "PathPrefix", "value": "/b"}}], "backendRefs": [backend("b", 1)]},
            {"matches": [{"path": {"type": "PathPrefix", "value": "/b"},
                          "headers": [{"name": "version", "value": "two"}]}], "backendRefs": [backend("c", 1)]},
        ]}),
    );
    let proxy = proxy_addr(T);
    let dp = start(config(
        proxy,
        &[r],
        &[
            ("a", vec![a.addr]),
            ("b", vec![b.addr]),
            ("c", vec![c.addr]),
        ],
    ));
    let mut conn = H1::connect(proxy).await;
    for (path, headers, want) in [
        ("/", vec![], "a"),
        ("/bee", vec![], "a"),
        ("/b/x", vec![], "b"),
        ("/b", vec![("version", "two")], "c"),
        ("/b", vec![("version", "three")], "b"),
    ] {
        let reply = conn.get("example.com", path, &headers).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.backend(), want, "{path} {headers:?}");
        assert_eq!(reply.echo()["path"], path);
    }
    // A chunked request body streams through whole.
    let reply = post(proxy, "example.com", "/upload", 3 * 1024 * 1024 + 7).await;
    assert_eq!(reply.backend(), "a");
    assert_eq!(reply.echo()["method"], "POST");
    assert_eq!(reply.echo()["body_len"], 3 * 1024 * 1024 + 7);
    dp.shutdown(std::time::Duration::from_secs(1)).await;
}

#[tokio::test]
async fn redirects_answer_with_location() {
    const T: u8 = 2;
    let r = route(
        "r",
        json!({"rules": [
            {"matches": [{"path": {"type": "PathPrefix", "value": "/old"}}],
             "filters": [{"type": "RequestRedirect", "requestRedirect": {
                 "scheme": "https", "hostname": "new.example.com",
                 "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/new"},
                 "statusCode": 301}}]},
            {"matches": [{"path": {"type": "PathPrefix", "value": "/port"}}],
             "filters": [{"type": "RequestRedirect", "requestRedirect": {"port": 8443}}]},
        ]}),
    );
    let proxy = proxy_addr(T);
    let dp = start(config(proxy, &[r], &[]));
    let reply = get(proxy, "example.com", "/old/page?q=1").await;
    assert_eq!(reply.status, 301);
    assert_eq!(
        reply.headers["location"],
        "https://new.example.com/new/page?q=1"
    );
    let reply = get(proxy, "example.com", "/port").await;
    assert_eq!(reply.status, 302);
    assert_eq!(reply.headers["location"], "http://example.com:8443/port");
    dp.shutdown(std::time::Duration::from_secs(1)).await;
}

#[tokio::test]
async fn rewrites_and_header_modifiers_reach_the_backend() {
    const T: u8 = 3;
    let a = Echo::start(ip(T, 10), "a").await;
    let r = route(
        "r",
        json!({"rules": [
            {"matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
             "filters": [
                {"type": "URLRewrite", "urlRewrite": {"hostname": "internal.svc",
                    "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/v2"}}},
                {"type": "RequestHeaderModifier", "requestHeaderModifier": {
                    "set": [{"name": "X-Set", "value": "set"}],
                    "add": [{"name": "X-Add", "value": "added"}],
                    "remove": ["X-Remove"]}},
                {"type": "ResponseHeaderModifier", "responseHeaderModifier": {
                    "set": [{"name": "X-Resp", "value": "yes"}],
                    "remove": ["content-type"]}},
             ],
             "backendRefs": [backend("a", 1)]},
            {"matches": [{"path": {"type": "PathPrefix", "value": "/plain"}}],
             "backendRefs": [backend("a", 1)]},
        ]}),
    );
    let proxy = proxy_addr(T);
    let dp = start(config(proxy, &[r], &[("a", vec![a.addr])]));
    let mut conn = H1::connect(proxy).await;
    let reply = conn
        .get(
            "example.com",
            "/api/items?x=1",
            &[
                ("x-set", "original"),
                ("x-add", "first"),
                ("x-remove", "gone"),
                ("connection", "x-hop"),
                ("x-hop", "must not pass"),
            ],
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["x-resp"], "yes");
    assert!(reply.headers.get("content-type").is_none());
    let echo = reply.echo();
    assert_eq!(echo["path"], "/v2/items?x=1");
    assert_eq!(echo["host"], "internal.svc");
    let h = &echo["headers"];
    assert_eq!(h["x-set"], "set");
    assert_eq!(h["x-add"], "first,added");
    assert!(h.get("x-remove").is_none());
    assert!(
        h.get("x-hop").is_none(),
        "hop-by-hop field named by Connection"
    );
    // The client's loopback source address, whichever the kernel chose.
    let xff = h["x-forwarded-for"].as_str().unwrap_or_default();
    assert!(
        xff.parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback()),
        "{xff}"
    );
    assert_eq!(h["x-forwarded-proto"], "http");

    // Without a rewrite the client's Host (with its port) goes through.
    let echo = conn.get("example.com:8080", "/plain", &[]).await.echo();
    assert_eq!(echo["host"], "example.com:8080");
    assert_eq!(echo["path"], "/plain");
    dp.shutdown(std::time::Duration::from_secs(1)).await;
}

#[tokio::test]
async fn weighted_split_is_roughly_right() {
    const T: u8 = 4;
    let a = Echo::start(ip(T, 10), "a").await;
    let b = Echo::start(ip(T, 11), "b").await;
    let r = route(
        "r",
        json!({"rules": [{"backendRefs": [backend("a", 1), backend("b", 3)]}]}),
    );
    let proxy = proxy_addr(T);
    let dp = start(config(
        proxy,
        &[r],
        &[("a", vec![a.addr]), ("b", vec![b.addr])],
    ));
    let mut conn = H1::connect(proxy).await;
    let n = 400;
    let mut to_b = 0;
    for _ in 0..n {
        if conn.get("example.com", "/", &[]).await.backend() == "b" {
            to_b += 1;
        }
    }
    // Expected 300 of 400; binomial sd ≈ 8.7, so ±50 is over 5 sd.
    assert!((250..=350).contains(&to_b), "b got {to_b} of {n}");
    dp.shutdown(std::time::Duration::from_secs(1)).await;
}

#[tokio::test]
async fn mirrors_get_a_copy() {
    const T: u8 = 13;
    let a = Echo::start(ip(T, 10), "a").await;
    let m = Echo::start(ip(T, 11), "m").await;
    let r = route(
        "r",
        json!({"rules": [{
            "filters": [{"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "m", "port": 8080}}}],
            "backendRefs": [backend("a", 1)]}]}),
    );
    let proxy = proxy_addr(T);
    let dp = start(config(
        proxy,
        &[r],
        &[("a", vec![a.addr]), ("m", vec![m.addr])],
    ));
    let reply = get(proxy, "example.com", "/copy").await;
    assert_eq!(reply.backend(), "a");
    for _ in 0..100 {
        if m.hits() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(m.hits(), 1);
    assert_eq!(a.hits(), 1);
    dp.shutdown(std::time::Duration::from_secs(1)).await;
}
