//! HTTP/2 (h2c by prior knowledge, and over TLS by ALPN), SNI certificate
//! choice, and certificate swaps that leave open connections alone.

use std::{collections::BTreeMap, net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use fedway_proxy::{
    config::{ProxyConfig, SocketConfig, TlsCertificates},
    filters::Scheme,
};
use http::{Request, Version};
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use tokio::net::TcpStream;
use tokio_rustls::{TlsConnector, client::TlsStream};

use crate::support::{
    Echo, H1, Reply, backend, cert, config, fail, ip, proxy_addr, route, service, start, table,
    tls_certs,
};

async fn h2_get(
    sender: &mut hyper::client::conn::http2::SendRequest<Empty<Bytes>>,
    uri: &str,
) -> Reply {
    let req = Request::get(uri)
        .body(Empty::new())
        .unwrap_or_else(|e| fail("request", e));
    let resp = sender
        .send_request(req)
        .await
        .unwrap_or_else(|e| fail("h2 request", e));
    assert_eq!(resp.version(), Version::HTTP_2);
    Reply::read(resp)
        .await
        .unwrap_or_else(|e| fail("h2 body", e))
}

#[tokio::test]
async fn h2c_by_prior_knowledge() {
    const T: u8 = 7;
    let a = Echo::start(ip(T, 10), "a").await;
    let r = route("r", json!({"rules": [{"backendRefs": [backend("a", 1)]}]}));
    let proxy = proxy_addr(T);
    let dp = start(config(proxy, &[r], &[("a", vec![a.addr])]));
    let stream = TcpStream::connect(proxy)
        .await
        .unwrap_or_else(|e| fail("connect", e));
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap_or_else(|e| fail("h2 handshake", e));
    tokio::spawn(conn);
    for path in ["/one", "/two"] {
        let reply = h2_get(&mut sender, &format!("http://example.com{path}")).await;
        assert_eq!(reply.status, 200);
        let echo = reply.echo();
        assert_eq!(echo["path"], path);
        // The backend speaks HTTP/1.1 and gets the authority as Host.
        assert_eq!(echo["host"], "example.com");
    }
    dp.shutdown(Duration::from_secs(1)).await;
}

fn tls_config(
    socket: SocketAddr,
    certs: Arc<TlsCertificates>,
    backend_addr: SocketAddr,
) -> ProxyConfig {
    let r = route("r", json!({"rules": [{"backendRefs": [backend("a", 1)]}]}));
    let mut sockets = BTreeMap::new();
    sockets.insert(
        socket,
        SocketConfig {
            port: socket.port(),
            table: table(&[r], Scheme::Https),
            tls: Some(certs),
        },
    );
    ProxyConfig {
        sockets,
        endpoints: [(service("a"), vec![backend_addr])].into_iter().collect(),
        ..Default::default()
    }
}

async fn tls_connect(
    addr: SocketAddr,
    sni: &str,
    trusted: &[&Vec<u8>],
    alpn: &[&[u8]],
) -> TlsStream<TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for der in trusted {
        roots
            .add((*der).clone().into())
            .unwrap_or_else(|e| fail("root", e));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| fail("versions", e))
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let name = rustls::pki_types::ServerName::try_from(sni.to_owned())
        .unwrap_or_else(|e| fail("server name", e));
    let tcp = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| fail("connect", e));
    TlsConnector::from(Arc::new(client))
        .connect(name, tcp)
        .await
        .unwrap_or_else(|e| fail(&format!("TLS to {sni}"), e))
}

fn served_cert(tls: &TlsStream<TcpStream>) -> Vec<u8> {
    tls.get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .unwrap_or_default()
}

#[tokio::test]
async fn tls_alpn_h2_and_sni_choose_the_certificate() {
    const T: u8 = 8;
    let a = Echo::start(ip(T, 10), "a").await;
    let (exact, exact_der) = cert(&["a.example.com"]);
    let (wild, wild_der) = cert(&["*.wild.example.com", "x.y.wild.example.com"]);
    let (default, default_der) = cert(&["other.example.com"]);
    let certs = Arc::new(TlsCertificates {
        by_hostname: [
            ("a.example.com".to_owned(), exact),
            ("*.wild.example.com".to_owned(), wild),
        ]
        .into_iter()
        .collect(),
        default: Some(default),
    });
    let proxy = proxy_addr(T);
    let dp = start(tls_config(proxy, certs, a.addr));
    let trusted = [&exact_der, &wild_der, &default_der];
    for (sni, want) in [
        ("a.example.com", &exact_der),
        ("b.wild.example.com", &wild_der),
        ("x.y.wild.example.com", &wild_der),
        ("other.example.com", &default_der),
    ] {
        let tls = tls_connect(proxy, sni, &trusted, &[b"h2", b"http/1.1"]).await;
        assert_eq!(&served_cert(&tls), want, "{sni}");
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        // The request runs over h2, and the backend hears it came over TLS.
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                .await
                .unwrap_or_else(|e| fail("h2 handshake", e));
        tokio::spawn(conn);
        let reply = h2_get(&mut sender, &format!("https://{sni}/tls")).await;
        assert_eq!(reply.status, 200, "{sni}");
        assert_eq!(reply.echo()["headers"]["x-forwarded-proto"], "https");
    }
    // ALPN http/1.1 gets HTTP/1.1.
    let tls = tls_connect(proxy, "a.example.com", &trusted, &[b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let reply = H1::over(TokioIo::new(tls))
        .await
        .get("a.example.com", "/h1", &[])
        .await;
    assert_eq!(reply.status, 200);
    dp.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn certificate_swap_keeps_open_connections() {
    const T: u8 = 9;
    let a = Echo::start(ip(T, 10), "a").await;
    let (old, old_der) = cert(&["a.example.com"]);
    let (new, new_der) = cert(&["a.example.com"]);
    let proxy = proxy_addr(T);
    let dp = start(tls_config(
        proxy,
        tls_certs(&[("a.example.com", old)]),
        a.addr,
    ));
    let trusted = [&old_der, &new_der];
    let tls = tls_connect(proxy, "a.example.com", &trusted, &[b"http/1.1"]).await;
    assert_eq!(served_cert(&tls), old_der);
    let mut open = H1::over(TokioIo::new(tls)).await;
    assert_eq!(open.get("a.example.com", "/1", &[]).await.status, 200);

    dp.apply(tls_config(
        proxy,
        tls_certs(&[("a.example.com", new)]),
        a.addr,
    ))
    .unwrap_or_else(|e| fail("apply", e));

    // The open keep-alive connection still serves...
    assert_eq!(open.get("a.example.com", "/2", &[]).await.status, 200);
    // ...and new handshakes get the new certificate.
    let tls = tls_connect(proxy, "a.example.com", &trusted, &[b"http/1.1"]).await;
    assert_eq!(served_cert(&tls), new_der);
    dp.shutdown(Duration::from_secs(1)).await;
}
