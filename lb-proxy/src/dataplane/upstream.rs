//! Connections to backends: one pooled keep-alive client for every endpoint.
//!
//! Backends are spoken to in HTTP/1.1. `ProxyConfig.endpoints` does not carry
//! the Service port's `appProtocol` yet, so `kubernetes.io/h2c` backends are
//! not told apart; when it does, a second client built with `http2_only`
//! serves them.

use std::time::Duration;

use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioTimer},
};

use super::body::ProxyBody;

pub type Upstream = Client<HttpConnector, ProxyBody>;

#[derive(Debug, Clone, Copy)]
pub struct UpstreamOptions {
    pub connect_timeout: Duration,
    /// How long an unused pooled connection is kept.
    pub pool_idle_timeout: Duration,
    pub pool_max_idle_per_host: usize,
}

impl Default for UpstreamOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: 64,
        }
    }
}

pub fn client(options: UpstreamOptions) -> Upstream {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(options.connect_timeout));
    // The proxy writes Host itself (original or rewritten); the client must
    // not replace it with the endpoint's address.
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .pool_idle_timeout(options.pool_idle_timeout)
        .pool_max_idle_per_host(options.pool_max_idle_per_host)
        .set_host(false)
        .build(connector)
}
