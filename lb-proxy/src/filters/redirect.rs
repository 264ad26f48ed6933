//! RequestRedirect: the Location and status of the redirect response.

use super::path::PathModifier;
use crate::matching::PathMatch;
use crate::request::RequestHead;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectFilter {
    pub scheme: Option<Scheme>,
    pub hostname: Option<String>,
    pub path: Option<PathModifier>,
    pub port: Option<u16>,
    /// 301, 302 (the default), 303, 307 or 308.
    pub status: u16,
}

/// The response the data plane sends instead of forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub location: String,
    pub status: u16,
}

/// Where the request came in: the listener's scheme and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ingress {
    pub scheme: Scheme,
    pub port: u16,
}

impl RedirectFilter {
    /// Builds the Location per the spec: scheme defaults to the request's; port
    /// defaults to the redirect scheme's well-known port when a scheme is given,
    /// else to the listener's port; a port that is the scheme's default is left
    /// out. The query is kept, as Envoy and NGINX do.
    pub fn redirect(&self, req: &RequestHead, matched: &PathMatch, ingress: Ingress) -> Redirect {
        let scheme = self.scheme.unwrap_or(ingress.scheme);
        let port = self.port.unwrap_or(match self.scheme {
            Some(s) => s.default_port(),
            None => ingress.port,
        });
        let host = self.hostname.as_deref().unwrap_or(&req.host);
        let path = match &self.path {
            Some(m) => m.apply(&req.path, matched),
            None => req.path.clone(),
        };
        let mut location = format!("{}://{host}", scheme.as_str());
        if port != scheme.default_port() {
            location.push_str(&format!(":{port}"));
        }
        location.push_str(&path);
        if let Some(q) = &req.query {
            location.push('?');
            location.push_str(q);
        }
        Redirect {
            location,
            status: self.status,
        }
    }
}

#[cfg(test)]
mod tests;
