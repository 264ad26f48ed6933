//! The request path without sockets, for the fuzz target
//! (`dns-provider/fuzz`) and the stable-toolchain mutation test: bytes in,
//! the bytes the server would send out ([`crate::server::respond`], which
//! the UDP loops run too).

use std::{net::SocketAddr, sync::Arc};

use arc_swap::ArcSwap;
use hickory_server::net::xfer::Protocol;

use crate::{metrics::Metrics, rate_limit::RateLimitConfig, server::Handler, zone::ZoneSet};

/// A handler with rate limiting off, answering from `zones`.
pub fn handler(zones: ZoneSet) -> Handler {
    Handler::new(
        Arc::new(ArcSwap::from_pointee(zones)),
        RateLimitConfig {
            rate: 0,
            ..RateLimitConfig::default()
        },
        Arc::new(Metrics::default()),
    )
}

/// What the server sends back for `bytes` from `source`, if anything.
pub fn respond(handler: &Handler, bytes: &[u8], source: SocketAddr, tcp: bool) -> Option<Vec<u8>> {
    let protocol = if tcp { Protocol::Tcp } else { Protocol::Udp };
    // Nothing in the path waits on I/O: the future completes when polled.
    futures::executor::block_on(crate::server::respond(handler, bytes, source, protocol))
}
