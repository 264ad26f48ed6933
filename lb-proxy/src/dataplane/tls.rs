//! TLS termination: the certificate is chosen per handshake by SNI from the
//! config in force at that moment, so a certificate change reaches new
//! handshakes without touching open connections.

use std::{net::SocketAddr, sync::Arc};

use arc_swap::ArcSwap;
use rustls::{
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};

use crate::config::{ProxyConfig, TlsCertificates};

/// Builds the rustls config of one socket. ALPN offers h2 first, so clients
/// that speak it get HTTP/2; everyone else gets HTTP/1.1.
pub fn server_config(
    socket: SocketAddr,
    config: Arc<ArcSwap<ProxyConfig>>,
) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver { socket, config }));
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(tls))
}

/// Reads the socket's certificates from the live config on every handshake.
struct SniResolver {
    socket: SocketAddr,
    config: Arc<ArcSwap<ProxyConfig>>,
}

// rustls wants `Debug`; the config (routing tables, keys) has none to give.
impl std::fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SniResolver")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let config = self.config.load();
        let certs = config.sockets.get(&self.socket)?.tls.as_ref()?;
        select(certs, hello.server_name())
    }
}

/// Exact hostname first, then the most specific wildcard covering it (a
/// Gateway wildcard covers one or more labels), then the default.
pub fn select(certs: &TlsCertificates, sni: Option<&str>) -> Option<Arc<CertifiedKey>> {
    if let Some(name) = sni {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(cert) = certs.by_hostname.get(&name) {
            return Some(cert.clone());
        }
        let mut rest = name.as_str();
        while let Some((_, parent)) = rest.split_once('.') {
            if let Some(cert) = certs.by_hostname.get(&format!("*.{parent}")) {
                return Some(cert.clone());
            }
            rest = parent;
        }
    }
    certs.default.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Arc<CertifiedKey> {
        let Ok(generated) = rcgen::generate_simple_self_signed(vec![name.to_owned()]) else {
            panic!("rcgen");
        };
        let der =
            rustls::pki_types::PrivateKeyDer::Pkcs8(generated.signing_key.serialize_der().into());
        let Ok(signer) = rustls::crypto::ring::sign::any_supported_type(&der) else {
            panic!("signer");
        };
        Arc::new(CertifiedKey::new(
            vec![generated.cert.der().clone()],
            signer,
        ))
    }

    #[test]
    fn exact_then_most_specific_wildcard_then_default() {
        let certs = TlsCertificates {
            by_hostname: ["a.example.com", "*.example.com", "*.b.example.com"]
                .into_iter()
                .map(|h| (h.to_owned(), key(h)))
                .collect(),
            default: Some(key("default")),
        };
        let pick = |sni| {
            let chosen = select(&certs, sni);
            ["a.example.com", "*.example.com", "*.b.example.com"]
                .into_iter()
                .find(|h| {
                    chosen
                        .as_ref()
                        .is_some_and(|c| Arc::ptr_eq(c, &certs.by_hostname[*h]))
                })
                .unwrap_or("default")
        };
        assert_eq!(pick(Some("A.Example.com.")), "a.example.com");
        assert_eq!(pick(Some("c.example.com")), "*.example.com");
        assert_eq!(pick(Some("x.y.example.com")), "*.example.com");
        assert_eq!(pick(Some("x.b.example.com")), "*.b.example.com");
        assert_eq!(pick(Some("example.com")), "default");
        assert_eq!(pick(Some("other.org")), "default");
        assert_eq!(pick(None), "default");
    }
}
