//! WebSocket: an HTTP/1.1 request asking to upgrade to `websocket` keeps its
//! Upgrade/Connection headers on the way to the backend; when the backend
//! answers 101, both connections are handed over and their bytes copied
//! both ways until either side closes. Other upgrade protocols are not
//! proxied (their Upgrade header is dropped as hop-by-hop).

use std::net::SocketAddr;

use http::{HeaderMap, HeaderValue, header};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

/// Whether the client asks for a WebSocket upgrade (RFC 6455 §4.1:
/// `Connection` lists `upgrade`, `Upgrade` lists `websocket`).
pub fn is_websocket(headers: &HeaderMap) -> bool {
    let lists = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    lists(header::CONNECTION, "upgrade") && lists(header::UPGRADE, "websocket")
}

/// Puts back the two headers hop-by-hop stripping removed, on the request
/// to the backend and on the 101 back to the client.
pub fn set_websocket_headers(headers: &mut HeaderMap) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
}

/// Copies bytes between the client and the backend once both upgrades
/// complete; ends when either side closes.
pub fn splice(client: OnUpgrade, backend: OnUpgrade, endpoint: SocketAddr) {
    tokio::spawn(async move {
        let (client, backend) = match tokio::try_join!(client, backend) {
            Ok(pair) => pair,
            Err(error) => {
                tracing::debug!(%endpoint, %error, "WebSocket upgrade failed");
                return;
            }
        };
        let (mut client, mut backend) = (TokioIo::new(client), TokioIo::new(backend));
        match tokio::io::copy_bidirectional(&mut client, &mut backend).await {
            Ok((up, down)) => {
                tracing::debug!(%endpoint, up, down, "WebSocket closed");
            }
            Err(error) => tracing::debug!(%endpoint, %error, "WebSocket ended"),
        }
    });
}
