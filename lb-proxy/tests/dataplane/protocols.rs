//! gRPC through the proxy: GRPCRoute calls reach their backends over h2c
//! with trailers intact; calls the proxy answers itself carry a gRPC status;
//! HTTPRoute backends whose port says `kubernetes.io/h2c` get HTTP/2;
//! WebSocket upgrades are spliced through.

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use bytes::Bytes;
use fedway_proxy::{
    config::{AppProtocol, ProxyConfig},
    grpc::{self, RouteKind},
    routes::RouteInput,
};
use gateway_api::grpcroutes::GrpcRoute;
use http::{Request, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use tokio::net::TcpStream;

use crate::support::{Echo, H1, backend, config, fail, ip, proxy_addr, route, service, start};

fn grpc_route(spec: Value) -> RouteInput {
    let route: GrpcRoute = serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "GRPCRoute",
        "metadata": {"name": "calls", "namespace": "default"},
        "spec": spec,
    }))
    .unwrap_or_else(|e| fail("GRPCRoute JSON", e));
    let as_http = grpc::to_http_route(&route).unwrap_or_else(|e| fail("translate", e));
    RouteInput::of_kind(RouteKind::Grpc, &as_http, vec!["http".to_owned()])
}

/// What a gRPC client sees of one call: HTTP status, gRPC status (from the
/// trailers, or from the headers of a trailers-only answer) and the body.
struct Call {
    http_status: u16,
    grpc_status: Option<String>,
    body: Bytes,
}

async fn call(proxy: SocketAddr, path: &str) -> Call {
    let stream = TcpStream::connect(proxy)
        .await
        .unwrap_or_else(|e| fail("connect", e));
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap_or_else(|e| fail("h2 handshake", e));
    tokio::spawn(conn);
    let req = Request::post(format!("http://grpc.example.com{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        // An empty message: compressed flag 0, length 0.
        .body(Full::new(Bytes::from_static(&[0, 0, 0, 0, 0])))
        .unwrap_or_else(|e| fail("request", e));
    let resp = sender
        .send_request(req)
        .await
        .unwrap_or_else(|e| fail("h2 request", e));
    assert_eq!(resp.version(), Version::HTTP_2);
    let http_status = resp.status().as_u16();
    let header_status = resp
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let collected = resp
        .into_body()
        .collect()
        .await
        .unwrap_or_else(|e| fail("h2 body", e));
    let trailer_status = collected
        .trailers()
        .and_then(|t| t.get("grpc-status"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Call {
        http_status,
        grpc_status: trailer_status.or(header_status),
        body: collected.to_bytes(),
    }
}

fn echo_of(call: &Call) -> Value {
    serde_json::from_slice(&call.body).unwrap_or_else(|e| fail("echo JSON", e))
}

#[tokio::test]
async fn grpc_calls_reach_h2c_backends_with_trailers() {
    const T: u8 = 17;
    let a = Echo::start(ip(T, 10), "a").await;
    let b = Echo::start(ip(T, 11), "b").await;
    let r = grpc_route(json!({"rules": [
        {"matches": [{"method": {"service": "echo.Echo", "method": "Say"}}],
         "backendRefs": [backend("a", 1)]},
        {"matches": [{"method": {"service": "echo.Echo"}}],
         "backendRefs": [backend("b", 1)]},
        {"matches": [{"method": {"service": "echo.Empty"}}],
         "backendRefs": [backend("nobody", 1)]},
    ]}));
    let proxy = proxy_addr(T);
    let dp = start(config(
        proxy,
        &[r],
        &[("a", vec![a.addr]), ("b", vec![b.addr]), ("nobody", vec![])],
    ));

    let said = call(proxy, "/echo.Echo/Say").await;
    assert_eq!(
        (said.http_status, said.grpc_status.as_deref()),
        (200, Some("0"))
    );
    let echo = echo_of(&said);
    assert_eq!(echo["backend"], "a");
    // gRPC needs HTTP/2 end to end, with the client's authority and TE.
    assert_eq!(echo["version"], "HTTP/2.0");
    assert_eq!(echo["host"], "grpc.example.com");
    assert_eq!(echo["headers"]["te"], "trailers");
    assert_eq!(echo["path"], "/echo.Echo/Say");

    let other = call(proxy, "/echo.Echo/Shout").await;
    assert_eq!(echo_of(&other)["backend"], "b");

    // Answered by the proxy: the status a gRPC client understands.
    let unmatched = call(proxy, "/other.Service/Say").await;
    assert_eq!(
        (unmatched.http_status, unmatched.grpc_status.as_deref()),
        (200, Some("12")),
        "UNIMPLEMENTED"
    );
    let no_endpoints = call(proxy, "/echo.Empty/Say").await;
    assert_eq!(
        (
            no_endpoints.http_status,
            no_endpoints.grpc_status.as_deref()
        ),
        (200, Some("14")),
        "UNAVAILABLE"
    );
    dp.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn h2c_app_protocol_backends_get_http2() {
    const T: u8 = 18;
    let a = Echo::start(ip(T, 10), "a").await;
    let b = Echo::start(ip(T, 11), "b").await;
    let r = route(
        "r",
        json!({"rules": [
            {"matches": [{"path": {"type": "PathPrefix", "value": "/h2c"}}],
             "backendRefs": [backend("a", 1)]},
            {"backendRefs": [backend("b", 1)]},
        ]}),
    );
    let proxy = proxy_addr(T);
    let mut cfg: ProxyConfig = config(proxy, &[r], &[("a", vec![a.addr]), ("b", vec![b.addr])]);
    cfg.protocols = HashMap::from([(service("a"), AppProtocol::H2c)]);
    let dp = start(cfg);
    let mut client = H1::connect(proxy).await;
    for _ in 0..3 {
        let h2c = client.get("shop.example.com", "/h2c/x", &[]).await;
        assert_eq!(h2c.status, 200);
        assert_eq!(h2c.echo()["version"], "HTTP/2.0");
        assert_eq!(h2c.echo()["host"], "shop.example.com");
        let plain = client.get("shop.example.com", "/plain", &[]).await;
        assert_eq!(plain.echo()["version"], "HTTP/1.1");
        assert_eq!(plain.echo()["host"], "shop.example.com");
    }
    assert_eq!(a.hits(), 3);
    dp.shutdown(Duration::from_secs(1)).await;
}

/// A WebSocket upgrade goes through: the backend's 101 reaches the client
/// with its Upgrade headers, then bytes flow both ways on the spliced
/// connections; the keep-alive client connection is not reused afterwards.
#[tokio::test]
async fn websocket_upgrade_splices_the_connections() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const T: u8 = 19;
    let a = Echo::start(ip(T, 10), "a").await;
    let r = route("r", json!({"rules": [{"backendRefs": [backend("a", 1)]}]}));
    let proxy = proxy_addr(T);
    let dp = start(config(proxy, &[r], &[("a", vec![a.addr])]));
    let mut stream = TcpStream::connect(proxy)
        .await
        .unwrap_or_else(|e| fail("connect", e));
    stream
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: shop.example.com\r\nConnection: keep-alive, Upgrade\r\n\
              Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .await
        .unwrap_or_else(|e| fail("write", e));
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte))
            .await
            .unwrap_or_else(|e| fail("101 in time", e))
            .unwrap_or_else(|e| fail("read", e));
        assert!(n == 1, "connection closed before the 101: {head:?}");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    assert!(head.contains("connection: upgrade"), "{head}");
    assert!(head.contains("x-backend: a"), "{head}");
    for message in [&b"Websocket Support!"[..], &[1, 2, 3, 4, 5, 6, 7]] {
        stream
            .write_all(message)
            .await
            .unwrap_or_else(|e| fail("write frame", e));
        let mut back = vec![0u8; message.len()];
        tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut back))
            .await
            .unwrap_or_else(|e| fail("echo in time", e))
            .unwrap_or_else(|e| fail("read echo", e));
        assert_eq!(back, message);
    }
    dp.shutdown(Duration::from_secs(1)).await;
}
