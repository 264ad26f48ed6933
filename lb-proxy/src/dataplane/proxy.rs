//! One request, phase by phase: route (select the rule), plan (its filters),
//! then answer locally or forward to one endpoint of the chosen backend.
//!
//! The config is loaded once at the start, so a request finishes on the
//! tables and endpoints it started with even if a new config is applied
//! meanwhile.

use std::{convert::Infallible, net::SocketAddr, sync::Arc};

use arc_swap::ArcSwap;
use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use tokio::time::Instant;

use super::{
    body::{self, Deadline, ProxyBody},
    endpoints::Outliers,
    error::{ProxyError, is_grpc, local},
    headers::{set_forwarded, strip_hop_by_hop},
    mirror::Mirrors,
    upgrade,
    upstream::{self, Upstream, Wire},
};
use crate::{
    backends::{BackendChoice, BackendTarget, ServiceRef},
    config::{AppProtocol, ProxyConfig},
    filters::{self, Forward, Plan, Redirect},
    grpc::RouteKind,
    metrics::ProxyMetrics,
    request::RequestHead,
    routes::Rule,
};

/// Marks a request one gateway forwarded to another for spillover.
pub const SPILLOVER_HEADER: &str = "fedway-spillover";

/// What every request on every socket shares.
pub struct Shared {
    pub config: Arc<ArcSwap<ProxyConfig>>,
    pub upstream: Upstream,
    pub outliers: Outliers,
    pub mirrors: Mirrors,
    pub metrics: Arc<ProxyMetrics>,
}

/// The connection a request came on.
#[derive(Debug, Clone)]
pub struct Conn {
    /// The socket as configured (the `ProxyConfig.sockets` key).
    pub socket: SocketAddr,
    pub peer: SocketAddr,
    pub tls: bool,
    /// The TLS server name the client asked for, lowercased.
    pub sni: Option<Arc<str>>,
}

pub async fn handle(
    shared: Arc<Shared>,
    conn: Conn,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let started = Instant::now();
    let config = shared.config.load_full();
    let grpc = is_grpc(req.headers());
    let resp = match route(&shared, &config, &conn, req, started).await {
        Ok(resp) => resp,
        Err(e) => {
            shared.metrics.local_response(e.reason());
            tracing::debug!(peer = %conn.peer, socket = %conn.socket, error = %e, "answered locally");
            if grpc {
                e.grpc_response()
            } else {
                e.response()
            }
        }
    };
    shared.metrics.response(resp.status());
    Ok(resp)
}

async fn route(
    shared: &Shared,
    config: &ProxyConfig,
    conn: &Conn,
    req: Request<Incoming>,
    started: Instant,
) -> Result<Response<ProxyBody>, ProxyError> {
    let (parts, body) = req.into_parts();
    let head = RequestHead::from_parts(&parts);
    let no_route = || ProxyError::NoRoute {
        host: head.host.clone(),
        path: head.path.clone(),
    };
    // A socket removed while its connections drain has no table any more.
    let socket = config.sockets.get(&conn.socket).ok_or_else(no_route)?;
    // A connection set up for one listener's name (and certificate) must
    // not serve another listener's host, which HTTP/2 connection reuse
    // would otherwise allow (421, RFC 9110 §15.5.20).
    if let Some(sni) = conn.sni.as_deref()
        && socket.table.misdirected(sni, &head.host)
    {
        return Err(ProxyError::Misdirected {
            sni: sni.to_owned(),
            host: head.host.clone(),
        });
    }
    let selected = socket.table.select(&head).ok_or_else(no_route)?;
    match filters::plan(&selected, &head, selected.ingress) {
        Plan::Redirect(r) => Ok(redirect(&r)),
        Plan::Respond { status, headers } => {
            let mut resp = local(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
            if status == 204 {
                *resp.body_mut() = body::empty();
                resp.headers_mut().remove(header::CONTENT_TYPE);
            }
            resp.headers_mut().extend(headers);
            Ok(resp)
        }
        Plan::Forward(fwd) => {
            let exchange = Exchange {
                shared,
                config,
                conn,
                rule: selected.rule,
                started,
            };
            exchange.forward(fwd, parts, body).await
        }
    }
}

fn redirect(r: &Redirect) -> Response<ProxyBody> {
    let Ok(location) = HeaderValue::from_str(&r.location) else {
        return local(StatusCode::INTERNAL_SERVER_ERROR);
    };
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::FOUND);
    let mut resp = Response::new(body::empty());
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::LOCATION, location);
    resp
}

struct Exchange<'a> {
    shared: &'a Shared,
    config: &'a ProxyConfig,
    conn: &'a Conn,
    rule: &'a Rule,
    started: Instant,
}

impl Exchange<'_> {
    async fn forward(
        &self,
        fwd: Forward<'_>,
        mut parts: http::request::Parts,
        body: Incoming,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let backend = match self.rule.backends.choose(fastrand::u64(..)) {
            BackendChoice::Forward(b) => b,
            BackendChoice::Invalid(_) | BackendChoice::NoBackends => {
                return Err(ProxyError::InvalidBackend);
            }
        };
        let BackendTarget::Service(service) = &backend.target else {
            return Err(ProxyError::InvalidBackend);
        };
        let endpoint = match self.pick_healthy(service) {
            Some(endpoint) => endpoint,
            None => {
                if let Some(peer) = self.spillover_peer(&parts) {
                    return self.spill_over(peer, parts, body).await;
                }
                // Every endpoint ejected and nowhere to spill: try one anyway.
                self.pick(service)
                    .ok_or_else(|| ProxyError::NoEndpoints(service.clone()))?
            }
        };

        // Host: the rewrite's, else what the client asked for (with its port).
        let host = fwd.request.host.clone().or_else(|| {
            parts
                .uri
                .authority()
                .map(|a| a.as_str().to_owned())
                .or_else(|| {
                    parts
                        .headers
                        .get(header::HOST)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                })
        });
        let path_and_query = fwd.request.path_and_query.clone().unwrap_or_else(|| {
            parts
                .uri
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned())
        });
        let wire = self.wire(service);
        let te_trailers = wire == Wire::H2c && upstream::asks_te_trailers(&parts.headers);
        // A WebSocket needs the client's own HTTP/1.1 connection to hand over.
        let client_upgrade = (wire == Wire::Http1 && upgrade::is_websocket(&parts.headers))
            .then(|| parts.extensions.remove::<hyper::upgrade::OnUpgrade>())
            .flatten();
        let mut headers = std::mem::take(&mut parts.headers);
        strip_hop_by_hop(&mut headers);
        if te_trailers {
            headers.insert(header::TE, HeaderValue::from_static("trailers"));
        }
        if client_upgrade.is_some() {
            upgrade::set_websocket_headers(&mut headers);
        }
        set_forwarded(&mut headers, self.conn.peer.ip(), self.conn.tls);
        fwd.request.apply_headers(&mut headers);
        for m in &backend.request_headers {
            m.apply(&mut headers);
        }
        if let Some(host) = host {
            let v = HeaderValue::from_str(&host)
                .map_err(|_| ProxyError::BadRewrite(format!("host {host:?}")))?;
            headers.insert(header::HOST, v);
        }

        for mirror in fwd.mirrors {
            if !mirror.sampled(fastrand::u64(..)) {
                continue;
            }
            if let BackendTarget::Service(s) = &mirror.target
                && let Some(ep) = self.pick(s)
            {
                self.shared.mirrors.send(
                    &self.shared.upstream,
                    self.wire(s),
                    ep,
                    &parts.method,
                    &path_and_query,
                    &headers,
                );
            }
        }

        let mut out = Request::new(body::boxed(body));
        *out.method_mut() = parts.method;
        *out.headers_mut() = headers;
        upstream::address(&mut out, wire, endpoint, &path_and_query)
            .map_err(|e| ProxyError::BadRewrite(e.to_string()))?;

        let mut resp = self.send(wire, endpoint, out).await?;
        let switching = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
        if let Some(client) = client_upgrade.filter(|_| switching) {
            upgrade::splice(client, hyper::upgrade::on(&mut resp), endpoint);
        }
        let (mut rparts, rbody) = resp.into_parts();
        strip_hop_by_hop(&mut rparts.headers);
        if switching {
            upgrade::set_websocket_headers(&mut rparts.headers);
        }
        fwd.response.apply(&mut rparts.headers);
        for m in &backend.response_headers {
            m.apply(&mut rparts.headers);
        }
        let mut rbody = body::boxed(rbody);
        if let Some(limit) = self.rule.timeouts.request {
            rbody = Deadline::wrap(rbody, self.started + limit);
        }
        Ok(Response::from_parts(rparts, rbody))
    }

    /// gRPC is HTTP/2 only, so GRPCRoute backends get h2c whatever their
    /// port says; HTTPRoute backends get what their `appProtocol` says.
    fn wire(&self, service: &ServiceRef) -> Wire {
        let h2c = self.rule.route.kind == RouteKind::Grpc
            || self.config.protocols.get(service) == Some(&AppProtocol::H2c);
        if h2c { Wire::H2c } else { Wire::Http1 }
    }

    fn pick_healthy(&self, service: &ServiceRef) -> Option<SocketAddr> {
        let endpoints = self.config.endpoints.get(service)?;
        self.shared
            .outliers
            .pick_healthy(endpoints, fastrand::usize(..))
    }

    /// A peer cluster's gateway for this request, when there is one and the
    /// request did not come from a peer already (one hop at most, so two
    /// clusters without endpoints never bounce a request between them).
    /// Plain HTTP only: a peer's HTTPS listener would need TLS from here.
    fn spillover_peer(&self, parts: &http::request::Parts) -> Option<SocketAddr> {
        if self.conn.tls || parts.headers.contains_key(SPILLOVER_HEADER) {
            return None;
        }
        let host = crate::request::RequestHead::from_parts(parts).host;
        // The peer listens where this listener's clients reach it, not on
        // the port this socket is bound to (a Service's target port).
        let port = self
            .config
            .sockets
            .get(&self.conn.socket)
            .map_or(self.conn.socket.port(), |s| s.port);
        let peers: Vec<SocketAddr> = self
            .config
            .spillover
            .peers(&host)
            .iter()
            .map(|ip| SocketAddr::new(*ip, port))
            .collect();
        self.shared.outliers.pick(&peers, fastrand::usize(..))
    }

    /// Forwards the request as the client sent it to a peer gateway, which
    /// routes it with the same rules (the hub placed the same routes
    /// there), marked so the peer does not spill it further.
    async fn spill_over(
        &self,
        peer: SocketAddr,
        parts: http::request::Parts,
        body: Incoming,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned());
        let host = parts.uri.authority().map(|a| a.as_str().to_owned());
        let mut headers = parts.headers;
        strip_hop_by_hop(&mut headers);
        set_forwarded(&mut headers, self.conn.peer.ip(), self.conn.tls);
        headers.insert(SPILLOVER_HEADER, HeaderValue::from_static("1"));
        if let Some(host) = host.and_then(|h| HeaderValue::from_str(&h).ok()) {
            headers.insert(header::HOST, host);
        }
        let mut out = Request::new(body::boxed(body));
        *out.method_mut() = parts.method;
        *out.headers_mut() = headers;
        upstream::address(&mut out, Wire::Http1, peer, &path_and_query)
            .map_err(|e| ProxyError::BadRewrite(e.to_string()))?;
        tracing::debug!(%peer, path = path_and_query, "no healthy local endpoint: spilling over");
        self.shared.metrics.spillovers.inc();
        let resp = self.send(Wire::Http1, peer, out).await?;
        let (mut rparts, rbody) = resp.into_parts();
        strip_hop_by_hop(&mut rparts.headers);
        Ok(Response::from_parts(rparts, body::boxed(rbody)))
    }

    fn pick(&self, service: &ServiceRef) -> Option<SocketAddr> {
        let endpoints = self.config.endpoints.get(service)?;
        self.shared.outliers.pick(endpoints, fastrand::usize(..))
    }

    /// One attempt, bounded by whichever comes first: the rule's request
    /// deadline or the attempt's backendRequest timeout. Failures count
    /// towards the endpoint's ejection.
    async fn send(
        &self,
        wire: Wire,
        endpoint: SocketAddr,
        req: Request<ProxyBody>,
    ) -> Result<Response<Incoming>, ProxyError> {
        let request_deadline = self.rule.timeouts.request.map(|d| self.started + d);
        let attempt_deadline = self
            .rule
            .timeouts
            .backend_request
            .map(|d| Instant::now() + d);
        let limit = match (request_deadline, attempt_deadline) {
            (Some(r), Some(a)) if a < r => Some((a, ProxyError::BackendTimeout { endpoint })),
            (Some(r), _) => Some((r, ProxyError::RequestTimeout)),
            (None, Some(a)) => Some((a, ProxyError::BackendTimeout { endpoint })),
            (None, None) => None,
        };
        let attempt = self.shared.upstream.send(wire, endpoint, req);
        let result = match limit {
            Some((at, on_timeout)) => match tokio::time::timeout_at(at, attempt).await {
                Ok(r) => r,
                Err(_) => {
                    self.shared.outliers.failure(endpoint);
                    return Err(on_timeout);
                }
            },
            None => attempt.await,
        };
        match result {
            Ok(resp) => {
                if resp.status().is_server_error() {
                    self.shared.outliers.failure(endpoint);
                } else {
                    self.shared.outliers.success(endpoint);
                }
                Ok(resp)
            }
            Err(source) => {
                self.shared.outliers.failure(endpoint);
                if source.is_connect() {
                    Err(ProxyError::Connect { endpoint, source })
                } else {
                    Err(ProxyError::Backend { endpoint, source })
                }
            }
        }
    }
}
