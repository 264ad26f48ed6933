//! What a proxy must do to headers on the way through: drop hop-by-hop
//! fields (RFC 9110 §7.6.1) and say who the client was (X-Forwarded-*).

use std::net::IpAddr;

use http::{HeaderMap, HeaderName, HeaderValue, header};

/// Fields that describe one connection, not the message, so they never cross
/// the proxy. `te` is dropped too: HTTP/1.1 backends get no `TE: trailers`
/// promise we cannot keep for them.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Removes hop-by-hop fields, including any the `Connection` header names.
/// `Upgrade` goes too; WebSocket upgrades put it back (see `upgrade`).
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(header::UPGRADE);
}

/// Appends the client to `X-Forwarded-For` (keeping what earlier proxies
/// wrote) and sets `X-Forwarded-Proto` to the scheme the client used here.
pub fn set_forwarded(headers: &mut HeaderMap, client: IpAddr, tls: bool) {
    let xff = HeaderName::from_static("x-forwarded-for");
    let client = client.to_string();
    let value = match headers.get(&xff).and_then(|v| v.to_str().ok()) {
        Some(prior) if !prior.trim().is_empty() => format!("{prior}, {client}"),
        _ => client,
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(xff, v);
    }
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(if tls { "https" } else { "http" }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_named_fields_are_dropped() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, X-Secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        let names: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["x-kept"]);
    }

    #[test]
    fn forwarded_for_appends() {
        let mut h = HeaderMap::new();
        set_forwarded(&mut h, IpAddr::from([10, 0, 0, 1]), false);
        assert_eq!(h["x-forwarded-for"], "10.0.0.1");
        h.insert("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
        set_forwarded(&mut h, IpAddr::from([10, 0, 0, 1]), true);
        assert_eq!(h["x-forwarded-for"], "1.2.3.4, 10.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "https");
    }
}
