//! What a user's client does: ask a DNS server for a global hostname's
//! addresses (optionally with an EDNS Client Subnet, as a public resolver
//! would send), then speak HTTP/1.1 (or HTTPS) to one of them with that
//! Host. Small on purpose: the journey's narration prints exactly
//! what went over the wire.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use serde_json::Value;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    net::TcpStream,
};

/// The A records one UDP query for `hostname` gets from `server`, sorted;
/// `subnet` (e.g. `10.1.0.0/16`) is sent as EDNS Client Subnet.
pub async fn resolve(
    server: SocketAddr,
    hostname: &str,
    subnet: Option<&str>,
) -> Result<Vec<IpAddr>, String> {
    fedway_hub::dns_query::a_records(server, hostname, subnet, Duration::from_secs(1)).await
}

/// One HTTP answer as the journey reports it.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// The echo backend's pod (echo-basic's JSON `pod`), when it answered.
    pub pod: Option<String>,
    pub body: String,
}

/// `GET path` with `Host: host` and `headers` on `address`, one connection.
pub async fn get(
    address: SocketAddr,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Reply, String> {
    within_3s(address, async {
        let conn = TcpStream::connect(address)
            .await
            .map_err(|e| format!("connect {address}: {e}"))?;
        exchange(conn, host, path, headers).await
    })
    .await
}

/// `GET path` over TLS to `address`, with SNI and `Host: host`, trusting
/// only `trusted` (PEM certificates): an answer proves the gateway served
/// a certificate for `host` that chains to one of them.
pub async fn get_https(
    address: SocketAddr,
    host: &str,
    path: &str,
    trusted: &[u8],
) -> Result<Reply, String> {
    within_3s(address, async {
        let tls = tls_connect(address, host, trusted).await?;
        exchange(tls, host, path, &[]).await
    })
    .await
}

/// A TLS connection to `address` for `host`, trusting only `trusted`.
async fn tls_connect(
    address: SocketAddr,
    host: &str,
    trusted: &[u8],
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(trusted) {
        roots
            .add(cert.map_err(|e| format!("trusted certificate: {e}"))?)
            .map_err(|e| format!("trusted certificate: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| format!("server name {host}: {e}"))?;
    let tcp = TcpStream::connect(address)
        .await
        .map_err(|e| format!("connect {address}: {e}"))?;
    tokio_rustls::TlsConnector::from(Arc::new(client))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake with {address} for {host}: {e}"))
}

/// One HTTPS connection kept open (HTTP/1.1 keep-alive), as a browser
/// holds one: what a certificate swap must leave alone.
pub struct HttpsConnection {
    address: SocketAddr,
    host: String,
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
}

impl HttpsConnection {
    /// Opens it, trusting only `trusted` (PEM certificates).
    pub async fn open(address: SocketAddr, host: &str, trusted: &[u8]) -> Result<Self, String> {
        let tls = tokio::time::timeout(Duration::from_secs(3), tls_connect(address, host, trusted))
            .await
            .map_err(|_| format!("no TLS handshake with {address} within 3s"))??;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| format!("HTTP/1.1 on {address}: {e}"))?;
        // Ends when either side closes the connection.
        tokio::spawn(connection);
        Ok(Self {
            address,
            host: host.to_owned(),
            sender,
        })
    }

    /// `GET path` on this connection (never a new one).
    pub async fn get(&mut self, path: &str) -> Result<Reply, String> {
        let request = http::Request::get(path)
            .header(http::header::HOST, &self.host)
            .body(Empty::new())
            .map_err(|e| format!("request: {e}"))?;
        let address = self.address;
        let sender = &mut self.sender;
        within_3s(address, async move {
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| format!("GET {path} on the open connection to {address}: {e}"))?;
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("body: {e}"))?
                .to_bytes();
            let body = String::from_utf8_lossy(&body).into_owned();
            let pod = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|echo| echo["pod"].as_str().map(str::to_owned));
            Ok(Reply { status, pod, body })
        })
        .await
    }
}

async fn within_3s(
    address: SocketAddr,
    exchange: impl Future<Output = Result<Reply, String>>,
) -> Result<Reply, String> {
    tokio::time::timeout(Duration::from_secs(3), exchange)
        .await
        .map_err(|_| format!("no answer from {address} within 3s"))?
}

/// One request on `conn`, read until the server closes it.
async fn exchange(
    mut conn: impl AsyncRead + AsyncWrite + Unpin,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Reply, String> {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    conn.write_all(request.as_bytes())
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut reply = Vec::new();
    conn.read_to_end(&mut reply)
        .await
        .map_err(|e| format!("receive: {e}"))?;
    let reply = String::from_utf8_lossy(&reply);
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {head:?}"))?;
    // Chunked bodies are not decoded: echo-basic sends a Content-Length.
    let pod = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|echo| echo["pod"].as_str().map(str::to_owned));
    Ok(Reply {
        status,
        pod,
        body: body.to_owned(),
    })
}
