//! Why a request was answered by the proxy itself, which side failed, and
//! the status that says so (Pingora's split: client, route, backend).

use http::{Response, StatusCode, header};

use super::body::{ProxyBody, empty, full};
use super::upstream::UpstreamError;
use crate::backends::ServiceRef;

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// No listener hostname or route match for the request.
    #[error("no route for host {host:?} path {path:?}")]
    NoRoute { host: String, path: String },
    /// The rule's backendRefs give this share of traffic nowhere valid.
    #[error("the route has no valid backend for this request")]
    InvalidBackend,
    /// The Service exists but has no ready endpoint.
    #[error("Service {}/{}:{} has no ready endpoint", .0.namespace, .0.name, .0.port)]
    NoEndpoints(ServiceRef),
    #[error("backend {endpoint} refused or failed the connection: {source}")]
    Connect {
        endpoint: std::net::SocketAddr,
        #[source]
        source: UpstreamError,
    },
    #[error("backend {endpoint} failed the exchange: {source}")]
    Backend {
        endpoint: std::net::SocketAddr,
        #[source]
        source: UpstreamError,
    },
    #[error("the request could not be rewritten for the backend: {0}")]
    BadRewrite(String),
    #[error("backend {endpoint} did not answer within the backendRequest timeout")]
    BackendTimeout { endpoint: std::net::SocketAddr },
    #[error("the route's request timeout expired")]
    RequestTimeout,
    /// The connection's TLS server name chose another listener than the
    /// request's host does.
    #[error("host {host:?} is not served on a connection for {sni:?}")]
    Misdirected { sni: String, host: String },
}

impl ProxyError {
    /// The reason label of `fedway_proxy_local_responses_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoRoute { .. } => "no_route",
            Self::InvalidBackend => "invalid_backend",
            Self::NoEndpoints(_) => "no_endpoints",
            Self::Connect { .. } => "connect_failed",
            Self::Backend { .. } => "backend_failed",
            Self::BadRewrite(_) => "bad_rewrite",
            Self::BackendTimeout { .. } => "backend_timeout",
            Self::RequestTimeout => "request_timeout",
            Self::Misdirected { .. } => "misdirected",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::NoRoute { .. } => StatusCode::NOT_FOUND,
            Self::InvalidBackend | Self::BadRewrite(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::NoEndpoints(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Connect { .. } | Self::Backend { .. } => StatusCode::BAD_GATEWAY,
            Self::BackendTimeout { .. } | Self::RequestTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Misdirected { .. } => StatusCode::MISDIRECTED_REQUEST,
        }
    }

    /// The answer the client gets: the status and its reason as plain text,
    /// never the internal detail (endpoint addresses stay in the logs).
    pub fn response(&self) -> Response<ProxyBody> {
        local(self.status())
    }

    /// The gRPC status code saying the same to a gRPC client (the codes
    /// Envoy answers with; GRPCRoute asks for UNAVAILABLE on invalid
    /// backends).
    pub fn grpc_status(&self) -> u8 {
        const DEADLINE_EXCEEDED: u8 = 4;
        const UNIMPLEMENTED: u8 = 12;
        const INTERNAL: u8 = 13;
        const UNAVAILABLE: u8 = 14;
        match self {
            Self::NoRoute { .. } | Self::Misdirected { .. } => UNIMPLEMENTED,
            Self::InvalidBackend
            | Self::NoEndpoints(_)
            | Self::Connect { .. }
            | Self::Backend { .. } => UNAVAILABLE,
            Self::BadRewrite(_) => INTERNAL,
            Self::BackendTimeout { .. } | Self::RequestTimeout => DEADLINE_EXCEEDED,
        }
    }

    /// The answer a gRPC client gets: a "trailers-only" response (HTTP 200,
    /// `grpc-status` in the only HEADERS frame), which gRPC libraries read
    /// as the call's status rather than as a transport failure.
    pub fn grpc_response(&self) -> Response<ProxyBody> {
        let mut resp = Response::new(empty());
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/grpc"),
        );
        headers.insert(
            "grpc-status",
            header::HeaderValue::from(u16::from(self.grpc_status())),
        );
        let message = self.status().canonical_reason().unwrap_or_default();
        if let Ok(v) = header::HeaderValue::from_str(message) {
            headers.insert("grpc-message", v);
        }
        resp
    }
}

/// Whether a request is a gRPC call (`application/grpc`, `+proto`, `+json`...).
pub fn is_grpc(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.strip_prefix("application/grpc")
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['+', ';']))
        })
}

/// A response the proxy writes itself, with a one-line body naming the status.
pub fn local(status: StatusCode) -> Response<ProxyBody> {
    let text = format!(
        "{} {}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let mut resp = Response::new(full(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}
