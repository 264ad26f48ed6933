//! RequestMirror: a copy of the request head goes to the mirror backend and
//! its answer is thrown away. Fire-and-forget, with a bound on copies in
//! flight so a slow mirror cannot pile up tasks: past the bound, copies are
//! dropped. The body is not copied (the main request streams it, and
//! buffering it for a copy would unbound memory); mirrors get an empty body.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use http::{HeaderMap, Method, Request};
use tokio::sync::Semaphore;

use super::{
    body,
    upstream::{self, Upstream, Wire},
};

pub struct Mirrors {
    slots: Arc<Semaphore>,
    timeout: Duration,
}

impl Mirrors {
    pub fn new(max_in_flight: usize, timeout: Duration) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max_in_flight)),
            timeout,
        }
    }

    pub fn send(
        &self,
        client: &Upstream,
        wire: Wire,
        endpoint: SocketAddr,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
    ) {
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            tracing::debug!(%endpoint, "mirror dropped: too many in flight");
            return;
        };
        let mut req = Request::new(body::empty());
        *req.method_mut() = method.clone();
        *req.headers_mut() = headers.clone();
        if upstream::address(&mut req, wire, endpoint, path_and_query).is_err() {
            return;
        }
        // The copy has no body, whatever the original announced.
        req.headers_mut().remove(http::header::CONTENT_LENGTH);
        let client = client.clone();
        let timeout = self.timeout;
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(timeout, client.send(wire, endpoint, req)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::debug!(%endpoint, error = %e, "mirror failed"),
                Err(_) => tracing::debug!(%endpoint, "mirror timed out"),
            }
        });
    }
}
