//! Bad clients: garbage, huge heads, slow heads.

use std::time::Duration;

use fedway_proxy::dataplane::Options;
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::support::{
    Echo, H1, backend, config, fail, get, ip, proxy_addr, route, start, start_with,
};

/// Writes `bytes` on a fresh connection and returns everything read back
/// until the proxy closes it.
async fn raw(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| fail("connect", e));
    s.write_all(bytes)
        .await
        .unwrap_or_else(|e| fail("write", e));
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "proxy did not close the connection");
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn malformed_and_oversized_requests() {
    const T: u8 = 6;
    let a = Echo::start(ip(T, 10), "a").await;
    let r = route("r", json!({"rules": [{"backendRefs": [backend("a", 1)]}]}));
    let proxy = proxy_addr(T);
    let dp = start(config(proxy, &[r], &[("a", vec![a.addr])]));

    let reply = raw(proxy, b"\x16\x03\x01 this is not HTTP\r\n\r\n").await;
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");

    let reply = raw(proxy, b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n").await;
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");

    let huge = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "x".repeat(100 * 1024)
    );
    let reply = raw(proxy, huge.as_bytes()).await;
    assert!(reply.starts_with("HTTP/1.1 431"), "{reply}");

    let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let reply = raw(
        proxy,
        format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n").as_bytes(),
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 431"), "{reply}");

    // The proxy still serves after all that.
    assert_eq!(get(proxy, "example.com", "/").await.status, 200);
    assert_eq!(a.hits(), 1);
    dp.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn slow_heads_are_cut_off() {
    const T: u8 = 15;
    let r = route("r", json!({"rules": [{"backendRefs": [backend("a", 1)]}]}));
    let proxy = proxy_addr(T);
    let dp = start_with(
        config(proxy, &[r], &[]),
        Options {
            header_read_timeout: Duration::from_millis(300),
            ..Options::default()
        },
    );
    let started = tokio::time::Instant::now();
    // Half a head, then silence.
    let reply = raw(proxy, b"GET / HTTP/1.1\r\nHost: a\r\n").await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "cut after {took:?}");
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 408"),
        "{reply}"
    );

    // An idle keep-alive connection is closed after the same timeout.
    let mut conn = H1::connect(proxy).await;
    assert_eq!(conn.get("example.com", "/", &[]).await.status, 503);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(conn.try_get("example.com", "/", &[]).await.is_err());
    dp.shutdown(Duration::from_secs(1)).await;
}
