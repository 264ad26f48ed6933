//! The data plane: a reverse proxy on hyper serving a [`ProxyConfig`].
//!
//! ```text
//! apply(ProxyConfig) ──> ArcSwap<ProxyConfig> ──read per request / per TLS handshake──┐
//!        │                                                                            │
//!        └─ bind new sockets, stop removed ones (listener)                            │
//! listener ──accept (connection bound)──> TLS? (tls: SNI from live config) ──> hyper auto (h1/h2)
//!                                                                                     │
//! proxy::handle ── select ─> plan ─> Redirect | Respond | Forward ─> endpoints::pick  │
//!                                                       └─> upstream (pooled h1, h2c) ─┘
//!                                                       └─> mirror (fire-and-forget)
//! ```
//!
//! - [`listener`]: sockets, the accept loop, per-connection serving, drain.
//! - [`tls`]: certificate choice by SNI (exact, wildcard, default).
//! - [`proxy`]: the request phases and which status each failure gets ([`error`]).
//! - [`endpoints`]: endpoint choice with passive ejection of failing ones.
//! - [`upstream`], [`mirror`], [`headers`], [`body`]: the forwarding details.

pub mod body;
pub mod endpoints;
pub mod error;
pub mod headers;
pub mod listener;
pub mod mirror;
pub mod proxy;
pub mod tls;
pub mod upgrade;
pub mod upstream;

use std::{
    collections::HashMap,
    io,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use arc_swap::ArcSwap;
use hyper_util::{
    rt::{TokioExecutor, TokioTimer},
    server::conn::auto,
};
use tokio::{sync::Semaphore, task::JoinHandle};

use crate::{config::ProxyConfig, metrics::ProxyMetrics};
use endpoints::{EjectionOptions, Outliers};
use listener::{ListenerContext, ListenerHandle};
use mirror::Mirrors;
use proxy::Shared;
use upstream::UpstreamOptions;

/// Limits and timeouts of the data plane; the defaults suit a Gateway.
#[derive(Debug, Clone)]
pub struct Options {
    /// Client connections open at once, over all sockets.
    pub max_connections: usize,
    /// A client must send a whole request head within this (slowloris), and
    /// an idle HTTP/1.1 keep-alive connection is closed after it.
    pub header_read_timeout: Duration,
    /// Largest request head (HTTP/1.1 read buffer, HTTP/2 header list);
    /// beyond it HTTP/1.1 clients get 431. At least 8 KiB.
    pub max_header_bytes: usize,
    /// Most header fields in an HTTP/1.1 request; beyond it, 431.
    pub max_headers: usize,
    pub h2_max_concurrent_streams: u32,
    /// HTTP/2 pings, so dead peers are noticed.
    pub h2_keep_alive_interval: Duration,
    pub tls_handshake_timeout: Duration,
    /// How long connections of a socket removed by [`DataPlane::apply`] may
    /// finish their requests.
    pub drain_timeout: Duration,
    pub upstream: UpstreamOptions,
    pub ejection: EjectionOptions,
    pub max_mirrors_in_flight: usize,
    pub mirror_timeout: Duration,
    /// Shared with the controller; unregistered by default.
    pub metrics: Arc<ProxyMetrics>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            h2_max_concurrent_streams: 256,
            h2_keep_alive_interval: Duration::from_secs(30),
            tls_handshake_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(30),
            upstream: UpstreamOptions::default(),
            ejection: EjectionOptions::default(),
            max_mirrors_in_flight: 64,
            mirror_timeout: Duration::from_secs(10),
            metrics: Arc::default(),
        }
    }
}

/// Sockets that could not be served; every other part of the config was
/// applied, and the next `apply` tries these again.
#[derive(Debug, thiserror::Error)]
#[error("{} socket(s) not served: {}", .0.len(), list(.0))]
pub struct ApplyErrors(pub Vec<SocketError>);

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("TLS set-up for {addr}: {source}")]
    Tls {
        addr: SocketAddr,
        #[source]
        source: rustls::Error,
    },
}

fn list(errors: &[SocketError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The running proxy. Must be created and used inside a Tokio runtime.
pub struct DataPlane {
    options: Options,
    shared: Arc<Shared>,
    server: auto::Builder<TokioExecutor>,
    connections: Arc<Semaphore>,
    listeners: Mutex<HashMap<SocketAddr, ListenerHandle>>,
    /// Accept loops of removed sockets still draining their connections.
    draining: Mutex<Vec<JoinHandle<()>>>,
}

impl DataPlane {
    pub fn new(options: Options) -> Self {
        let shared = Arc::new(Shared {
            config: Arc::new(ArcSwap::from_pointee(ProxyConfig::default())),
            upstream: upstream::Upstream::new(options.upstream),
            outliers: Outliers::new(options.ejection),
            mirrors: Mirrors::new(options.max_mirrors_in_flight, options.mirror_timeout),
            metrics: options.metrics.clone(),
        });
        Self {
            server: server_builder(&options),
            connections: Arc::new(Semaphore::new(options.max_connections)),
            options,
            shared,
            listeners: Mutex::default(),
            draining: Mutex::default(),
        }
    }

    /// Serves `config` from now on: new requests and TLS handshakes see it at
    /// once, requests in flight finish on the config they started with;
    /// sockets new in it are bound, sockets gone from it stop accepting and
    /// drain for [`Options::drain_timeout`].
    pub fn apply(&self, config: ProxyConfig) -> Result<(), ApplyErrors> {
        self.shared.metrics.config_applies.inc();
        let wanted: Vec<SocketAddr> = config.sockets.keys().copied().collect();
        self.shared.config.store(Arc::new(config));
        let mut errors = Vec::new();
        let Ok(mut listeners) = self.listeners.lock() else {
            return Ok(());
        };
        let removed: Vec<SocketAddr> = listeners
            .keys()
            .filter(|a| !wanted.contains(a))
            .copied()
            .collect();
        let mut stopped = Vec::new();
        for addr in removed {
            if let Some(handle) = listeners.remove(&addr) {
                tracing::info!(socket = %addr, "socket removed, draining");
                stopped.push(handle.stop(self.options.drain_timeout));
            }
        }
        if let Ok(mut draining) = self.draining.lock() {
            draining.retain(|t| !t.is_finished());
            draining.extend(stopped);
        }
        for addr in wanted {
            if listeners.contains_key(&addr) {
                continue;
            }
            match self.start(addr) {
                Ok(handle) => {
                    tracing::info!(socket = %addr, "listening");
                    listeners.insert(addr, handle);
                }
                Err(e) => errors.push(e),
            }
        }
        self.shared
            .metrics
            .socket_errors
            .inc_by(errors.len() as u64);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApplyErrors(errors))
        }
    }

    fn start(&self, addr: SocketAddr) -> Result<ListenerHandle, SocketError> {
        let tls = tls::server_config(addr, self.shared.config.clone())
            .map_err(|source| SocketError::Tls { addr, source })?;
        let listener = listener::bind(addr).map_err(|source| SocketError::Bind { addr, source })?;
        Ok(ListenerHandle::spawn(
            addr,
            listener,
            ListenerContext {
                shared: self.shared.clone(),
                server: self.server.clone(),
                tls,
                connections: self.connections.clone(),
                tls_handshake_timeout: self.options.tls_handshake_timeout,
                default_grace: self.options.drain_timeout,
            },
        ))
    }

    /// Stops accepting everywhere, lets requests in flight finish for up to
    /// `grace`, then closes what is left.
    pub async fn shutdown(self, grace: Duration) {
        let mut tasks: Vec<JoinHandle<()>> = match self.listeners.lock() {
            Ok(mut l) => l.drain().map(|(_, h)| h.stop(grace)).collect(),
            Err(_) => Vec::new(),
        };
        if let Ok(mut d) = self.draining.lock() {
            tasks.append(&mut d);
        }
        let aborts: Vec<_> = tasks.iter().map(JoinHandle::abort_handle).collect();
        // Each loop enforces `grace` itself; the margin covers loops draining
        // from an earlier apply with a longer drain timeout.
        let all = async {
            for t in tasks {
                let _ = t.await;
            }
        };
        if tokio::time::timeout(grace + Duration::from_millis(100), all)
            .await
            .is_err()
        {
            for a in aborts {
                a.abort();
            }
        }
    }
}

fn server_builder(options: &Options) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        // hyper refuses less than 8 KiB.
        .max_buf_size(options.max_header_bytes.max(8192))
        .max_headers(options.max_headers);
    b.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(options.h2_max_concurrent_streams)
        .keep_alive_interval(options.h2_keep_alive_interval)
        .max_header_list_size(u32::try_from(options.max_header_bytes).unwrap_or(u32::MAX));
    b
}
