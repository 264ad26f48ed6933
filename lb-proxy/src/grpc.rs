//! GRPCRoute as HTTP routing: a gRPC call is an HTTP/2 POST to
//! `/<package.Service>/<Method>`, so a GRPCRoute is served by the same route
//! table as HTTPRoutes once its method matches are written as path matches.
//! Pure.
//!
//! Everything else in a GRPCRoute (parentRefs, hostnames, header matches,
//! the RequestHeaderModifier / ResponseHeaderModifier / RequestMirror
//! filters, weighted backendRefs, rule names, status) has the HTTPRoute
//! field's shape and JSON names, so the translation goes through JSON and
//! only rewrites `rules[].matches[].method`:
//!
//! | GRPCMethodMatch                     | HTTPPathMatch                                  |
//! |-------------------------------------|------------------------------------------------|
//! | Exact, service and method           | Exact `/<service>/<method>`                    |
//! | Exact, service only                 | PathPrefix `/<service>`                        |
//! | Exact, method only                  | RegularExpression `/[^/]+/<method>`            |
//! | RegularExpression (either or both)  | RegularExpression `/(<service>)/(<method>)`    |
//! | none                                | (no path: every call)                          |
//!
//! Precedence then follows HTTPRoute's (Exact path, then regular expressions,
//! then the longest prefix, then header counts). That equals GRPCRoute's
//! "longest service, then longest method" for every pair except one: a
//! method-only match outranks a service-only match that also matches.

use gateway_api::{grpcroutes::GrpcRoute, httproutes::HttpRoute};
use serde_json::{Map, Value, json};

/// Route kinds this proxy serves; statuses are written back to the kind the
/// route came as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RouteKind {
    Http,
    Grpc,
}

impl RouteKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Http => "HTTPRoute",
            Self::Grpc => "GRPCRoute",
        }
    }
}

impl std::fmt::Display for RouteKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("GRPCRoute {namespace}/{name} cannot be read as routing rules: {reason}")]
pub struct GrpcRouteError {
    pub namespace: String,
    pub name: String,
    pub reason: String,
}

/// The HTTPRoute that routes exactly the calls `route` routes (same
/// metadata, so the same age and name for precedence and status).
pub fn to_http_route(route: &GrpcRoute) -> Result<HttpRoute, GrpcRouteError> {
    let error = |reason: String| GrpcRouteError {
        namespace: route.metadata.namespace.clone().unwrap_or_default(),
        name: route.metadata.name.clone().unwrap_or_default(),
        reason,
    };
    let mut value = serde_json::to_value(route).map_err(|e| error(e.to_string()))?;
    if let Some(rules) = value
        .pointer_mut("/spec/rules")
        .and_then(Value::as_array_mut)
    {
        for rule in rules {
            for m in rule
                .get_mut("matches")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                let Some(m) = m.as_object_mut() else { continue };
                if let Some(method) = m.remove("method") {
                    if let Some(path) = path_match(&method) {
                        m.insert("path".into(), path);
                    }
                } else {
                    // HTTPRoute's CRD defaults an absent path to PathPrefix
                    // `/`; an absent gRPC method means the same.
                    m.insert("path".into(), json!({"type": "PathPrefix", "value": "/"}));
                }
            }
        }
    }
    if let Some(meta) = value.as_object_mut() {
        meta.insert("kind".into(), Value::from("HTTPRoute"));
    }
    serde_json::from_value(value).map_err(|e| error(e.to_string()))
}

/// The path match of one GRPCMethodMatch (as JSON), or `None` for a match
/// that names neither service nor method (every call).
fn path_match(method: &Value) -> Option<Value> {
    let empty = Map::new();
    let m = method.as_object().unwrap_or(&empty);
    let field = |name: &str| {
        m.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let (service, name) = (field("service"), field("method"));
    let regex = m.get("type").and_then(Value::as_str) == Some("RegularExpression");
    let (kind, value) = match (regex, service, name) {
        (_, None, None) => return None,
        (false, Some(s), Some(n)) => ("Exact", format!("/{s}/{n}")),
        (false, Some(s), None) => ("PathPrefix", format!("/{s}")),
        (false, None, Some(n)) => ("RegularExpression", format!("/[^/]+/{}", regex::escape(n))),
        (true, s, n) => (
            "RegularExpression",
            format!("/({})/({})", s.unwrap_or("[^/]+"), n.unwrap_or("[^/]+")),
        ),
    };
    Some(json!({"type": kind, "value": value}))
}

#[cfg(test)]
mod tests;
