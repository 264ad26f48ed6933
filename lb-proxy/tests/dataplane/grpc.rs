//! gRPC through the proxy: GRPCRoute calls reach their backends over h2c
//! with trailers intact; calls the proxy answers itself carry a gRPC status;
//! HTTPRoute backends whose port says `kubernetes.io/h2c` get HTTP/2.

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
