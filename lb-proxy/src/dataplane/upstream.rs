//! Connections to backends.
//!
//! - HTTP/1.1 (the default): one pooled keep-alive client for every
//!   endpoint (hyper-util's pool, keyed by the endpoint address).
//! - HTTP/2 with prior knowledge (h2c), for Service ports whose
//!   `appProtocol` is `kubernetes.io/h2c` and for every GRPCRoute backend
//!   (gRPC is HTTP/2 only): one multiplexed connection per endpoint, opened
//!   on first use and replaced when it closes. The `:authority` is the
//!   request's host, not the endpoint's address, so this pool dials the
//!   endpoint itself rather than letting a client derive it from the URI.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use http::{Request, Response, Uri, Version, header};
use hyper::{body::Incoming, client::conn::http2};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioIo, TokioTimer},
};
use tokio::net::TcpStream;

use super::body::ProxyBody;

/// How requests reach one backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wire {
    #[default]
    Http1,
    H2c,
}

#[derive(Debug, Clone, Copy)]
pub struct UpstreamOptions {
    pub connect_timeout: Duration,
    /// How long an unused pooled connection is kept.
    pub pool_idle_timeout: Duration,
    pub pool_max_idle_per_host: usize,
    /// Endpoints with an open h2c connection at most: past it, a connection
    /// serves its request and is not kept (memory stays bounded however many
    /// endpoints come and go).
    pub max_h2c_endpoints: usize,
}

impl Default for UpstreamOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: 64,
            max_h2c_endpoints: 4096,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error(transparent)]
    Http1(#[from] hyper_util::client::legacy::Error),
    #[error("connect: {0}")]
    Connect(#[source] std::io::Error),
    #[error("connect: timed out")]
    ConnectTimeout,
    #[error("HTTP/2 handshake: {0}")]
    Handshake(#[source] hyper::Error),
    #[error(transparent)]
    H2(hyper::Error),
}

impl UpstreamError {
    /// Whether the connection was never established (the request was not
    /// sent, so the backend did nothing with it).
    pub fn is_connect(&self) -> bool {
        match self {
            Self::Http1(e) => e.is_connect(),
            Self::Connect(_) | Self::ConnectTimeout | Self::Handshake(_) => true,
            Self::H2(_) => false,
        }
    }
}

#[derive(Clone)]
pub struct Upstream {
    http1: Client<HttpConnector, ProxyBody>,
    h2c: Arc<H2cPool>,
}

impl Upstream {
    pub fn new(options: UpstreamOptions) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(options.connect_timeout));
        // The proxy writes Host itself (original or rewritten); the client
        // must not replace it with the endpoint's address.
        let http1 = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .pool_idle_timeout(options.pool_idle_timeout)
            .pool_max_idle_per_host(options.pool_max_idle_per_host)
            .set_host(false)
            .build(connector);
        Self {
            http1,
            h2c: Arc::new(H2cPool {
                options,
                connections: Mutex::default(),
            }),
        }
    }

    /// Sends `req` to `endpoint`. For HTTP/1.1 the URI is
    /// `http://<endpoint><path>` and the Host header carries the host; for
    /// h2c the URI is `http://<host><path>` (its authority becomes
    /// `:authority`).
    pub async fn send(
        &self,
        wire: Wire,
        endpoint: SocketAddr,
        req: Request<ProxyBody>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        match wire {
            Wire::Http1 => Ok(self.http1.request(req).await?),
            Wire::H2c => self.h2c.send(endpoint, req).await,
        }
    }
}

/// Addresses `req` (whose Host header holds the host the backend should
/// see) to `endpoint` over `wire`: for HTTP/1.1 the URI names the endpoint
/// and Host stays; for h2c the host moves into the URI (`:authority`), or
/// the endpoint when the host is not a valid authority.
pub fn address<B>(
    req: &mut Request<B>,
    wire: Wire,
    endpoint: SocketAddr,
    path_and_query: &str,
) -> Result<(), http::uri::InvalidUri> {
    let (uri, version) = match wire {
        Wire::Http1 => (
            format!("http://{endpoint}{path_and_query}"),
            Version::HTTP_11,
        ),
        Wire::H2c => {
            let host = req
                .headers_mut()
                .remove(header::HOST)
                .and_then(|h| h.to_str().ok().map(str::to_owned))
                .filter(|h| h.parse::<http::uri::Authority>().is_ok())
                .unwrap_or_else(|| endpoint.to_string());
            (format!("http://{host}{path_and_query}"), Version::HTTP_2)
        }
    };
    *req.uri_mut() = uri.parse::<Uri>()?;
    *req.version_mut() = version;
    Ok(())
}

/// Whether the client sent `TE: trailers`, the one TE value HTTP/2 allows
/// (gRPC servers may insist on it). Hop-by-hop stripping removes TE, so
/// h2c requests get it back when the client sent it.
pub fn asks_te_trailers(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(header::TE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
}

struct H2cPool {
    options: UpstreamOptions,
    connections: Mutex<HashMap<SocketAddr, http2::SendRequest<ProxyBody>>>,
}

impl H2cPool {
    async fn send(
        &self,
        endpoint: SocketAddr,
        req: Request<ProxyBody>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let mut sender = match self.open(endpoint) {
            Some(sender) => sender,
            None => self.connect(endpoint).await?,
        };
        // Waits for a stream slot under the peer's concurrency limit.
        sender.ready().await.map_err(UpstreamError::H2)?;
        sender.send_request(req).await.map_err(UpstreamError::H2)
    }

    /// The endpoint's pooled connection, if it is still open.
    fn open(&self, endpoint: SocketAddr) -> Option<http2::SendRequest<ProxyBody>> {
        let mut connections = self.connections.lock().ok()?;
        match connections.get(&endpoint) {
            Some(sender) if !sender.is_closed() => Some(sender.clone()),
            Some(_) => {
                connections.remove(&endpoint);
                None
            }
            None => None,
        }
    }

    async fn connect(
        &self,
        endpoint: SocketAddr,
    ) -> Result<http2::SendRequest<ProxyBody>, UpstreamError> {
        let stream =
            tokio::time::timeout(self.options.connect_timeout, TcpStream::connect(endpoint))
                .await
                .map_err(|_| UpstreamError::ConnectTimeout)?
                .map_err(UpstreamError::Connect)?;
        // Best effort: a socket option failing does not stop the exchange.
        let _ = stream.set_nodelay(true);
        let (sender, connection) = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            // Finds connections whose peer vanished without a FIN.
            .keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(10))
            .handshake(TokioIo::new(stream))
            .await
            .map_err(UpstreamError::Handshake)?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%endpoint, %error, "h2c backend connection ended");
            }
        });
        if let Ok(mut connections) = self.connections.lock() {
            connections.retain(|_, s| !s.is_closed());
            // Two requests may race to connect; the later one replaces the
            // earlier in the pool, whose streams still finish on it.
            if connections.len() < self.options.max_h2c_endpoints
                || connections.contains_key(&endpoint)
            {
                connections.insert(endpoint, sender.clone());
            }
        }
        Ok(sender)
    }
}
