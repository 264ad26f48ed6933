//! What the controller hands the data plane: every socket to serve with its
//! routing table and certificates, and the ready endpoints of every Service
//! port. The data plane swaps a new `ProxyConfig` in atomically; requests in
//! flight finish on the config they started with.

use std::{
    collections::{BTreeMap, HashMap},
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use rustls::sign::CertifiedKey;

use crate::{backends::ServiceRef, hostname::HostIndex, route_table::PortTable};

#[derive(Clone, Default)]
pub struct ProxyConfig {
    /// One entry per socket: a Gateway's address and one of its listener
    /// ports. Several listeners on one port share the table (hostnames
    /// tell them apart).
    pub sockets: BTreeMap<SocketAddr, SocketConfig>,
    /// Ready endpoints (pod IP and target port) of each Service port, from
    /// EndpointSlices.
    pub endpoints: HashMap<ServiceRef, Vec<SocketAddr>>,
    /// Service ports whose `appProtocol` asks for more than HTTP/1.1; the
    /// others are spoken to in HTTP/1.1.
    pub protocols: HashMap<ServiceRef, AppProtocol>,
    /// Other clusters' gateways for each global hostname, for requests
    /// whose backend has no healthy endpoint here.
    pub spillover: Arc<Spillover>,
}

/// Peer gateways by global hostname (exact or wildcard), best first.
#[derive(Debug, Clone, Default)]
pub struct Spillover {
    pub by_host: HostIndex<Vec<IpAddr>>,
}

impl Spillover {
    /// The peers serving `host` (lowercased, without port), if any.
    pub fn peers(&self, host: &str) -> &[IpAddr] {
        self.by_host
            .get(host)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

/// What a Service port's `appProtocol` says its backends speak (the
/// Kubernetes-standard values of GEP-1911).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppProtocol {
    /// `kubernetes.io/h2c`: HTTP/2 with prior knowledge.
    H2c,
    /// `kubernetes.io/ws`: WebSocket over HTTP/1.1.
    WebSocket,
}

impl AppProtocol {
    /// The protocol an `appProtocol` value names; `None` for HTTP/1.1 and
    /// for values this proxy does not act on.
    pub fn parse(app_protocol: &str) -> Option<Self> {
        match app_protocol {
            "kubernetes.io/h2c" => Some(Self::H2c),
            "kubernetes.io/ws" => Some(Self::WebSocket),
            _ => None,
        }
    }
}

#[derive(Clone)]
pub struct SocketConfig {
    /// The listeners' port as clients and peer gateways reach it. Behind a
    /// Service the socket is bound on another port (the target port).
    pub port: u16,
    pub table: Arc<PortTable>,
    /// Present for HTTPS listeners: terminate TLS, choosing the certificate
    /// by SNI.
    pub tls: Option<Arc<TlsCertificates>>,
}

/// The certificates of the HTTPS listeners on one socket.
#[derive(Clone, Default)]
pub struct TlsCertificates {
    /// By listener hostname (exact `shop.example.com` or wildcard
    /// `*.example.com`), lowercased.
    pub by_hostname: BTreeMap<String, Arc<CertifiedKey>>,
    /// For listeners without a hostname (and clients without SNI).
    pub default: Option<Arc<CertifiedKey>>,
}
