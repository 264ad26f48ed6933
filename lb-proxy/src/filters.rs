//! A rule's filters, compiled, and what they mean for one request: a
//! [`Plan`] of plain data the data plane carries out.

pub mod cors;
pub mod headers;
pub mod path;
pub mod redirect;

use gateway_api::httproutes::{
    HttpRouteRulesFilters, HttpRouteRulesFiltersRequestRedirectPath,
    HttpRouteRulesFiltersRequestRedirectScheme, HttpRouteRulesFiltersType,
    HttpRouteRulesFiltersUrlRewritePath,
};
use http::{HeaderMap, HeaderName, HeaderValue};

pub use cors::{Cors, CorsOutcome};
pub use headers::HeaderModifier;
pub use path::PathModifier;
pub use redirect::{Ingress, Redirect, RedirectFilter, Scheme};

use crate::backends::{BackendTarget, ResolveRefs, resolve_ref};
use crate::request::RequestHead;
use crate::route_table::Selected;

#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("invalid header name {0:?}")]
    HeaderName(String),
    #[error("invalid header value {0:?}")]
    HeaderValue(String),
    #[error("filter {0} has no configuration")]
    MissingConfig(&'static str),
    #[error("filter: {0}")]
    Malformed(String),
    #[error("ReplacePrefixMatch needs every match of the rule to be a PathPrefix match")]
    PrefixRewriteWithoutPrefixMatch,
    #[error("RequestRedirect and URLRewrite cannot be used together")]
    RedirectWithRewrite,
}

/// RequestMirror: a copy of the request goes to `target` for `numerator` of
/// every `denominator` requests; its response is discarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    pub target: BackendTarget,
    pub numerator: u32,
    pub denominator: u32,
}

impl Mirror {
    /// Whether this request is mirrored, given a uniformly random `draw`.
    pub fn sampled(&self, draw: u64) -> bool {
        self.denominator != 0 && draw % u64::from(self.denominator) < u64::from(self.numerator)
    }
}

/// URLRewrite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlRewrite {
    pub hostname: Option<String>,
    pub path: Option<PathModifier>,
}

/// One rule's filters, in the form requests need them.
#[derive(Debug, Clone, Default)]
pub struct RuleFilters {
    pub request_headers: Vec<HeaderModifier>,
    pub response_headers: Vec<HeaderModifier>,
    pub redirect: Option<RedirectFilter>,
    pub rewrite: Option<UrlRewrite>,
    pub mirrors: Vec<Mirror>,
    pub cors: Option<Cors>,
    /// An ExtensionRef: none is supported, and the spec forbids skipping an
    /// unresolved filter, so the rule answers 500.
    pub unsupported: bool,
}

impl RuleFilters {
    pub fn compile(
        route_namespace: &str,
        filters: &[HttpRouteRulesFilters],
        resolver: &dyn ResolveRefs,
    ) -> Result<Self, FilterError> {
        let mut out = Self::default();
        for f in filters {
            match f.r#type {
                HttpRouteRulesFiltersType::RequestHeaderModifier => {
                    let m = f
                        .request_header_modifier
                        .as_ref()
                        .ok_or(FilterError::MissingConfig("RequestHeaderModifier"))?;
                    out.request_headers.push(HeaderModifier::from_json(m)?);
                }
                HttpRouteRulesFiltersType::ResponseHeaderModifier => {
                    let m = f
                        .response_header_modifier
                        .as_ref()
                        .ok_or(FilterError::MissingConfig("ResponseHeaderModifier"))?;
                    out.response_headers.push(HeaderModifier::from_json(m)?);
                }
                HttpRouteRulesFiltersType::RequestRedirect => {
                    let r = f
                        .request_redirect
                        .as_ref()
                        .ok_or(FilterError::MissingConfig("RequestRedirect"))?;
                    out.redirect = Some(RedirectFilter {
                        scheme: r.scheme.as_ref().map(|s| match s {
                            HttpRouteRulesFiltersRequestRedirectScheme::Http => Scheme::Http,
                            HttpRouteRulesFiltersRequestRedirectScheme::Https => Scheme::Https,
                        }),
                        hostname: r.hostname.as_ref().map(|h| h.to_ascii_lowercase()),
                        path: r.path.as_ref().map(redirect_path).transpose()?,
                        port: r.port.and_then(|p| u16::try_from(p).ok()),
                        status: r.status_code.map_or(302, status_code),
                    });
                }
                HttpRouteRulesFiltersType::UrlRewrite => {
                    let r = f
                        .url_rewrite
                        .as_ref()
                        .ok_or(FilterError::MissingConfig("URLRewrite"))?;
                    out.rewrite = Some(UrlRewrite {
                        hostname: r.hostname.clone(),
                        path: r.path.as_ref().map(rewrite_path).transpose()?,
                    });
                }
                HttpRouteRulesFiltersType::RequestMirror => {
                    let m = f
                        .request_mirror
                        .as_ref()
                        .ok_or(FilterError::MissingConfig("RequestMirror"))?;
                    let b = &m.backend_ref;
                    // `fraction` wins over `percent`; neither means every request.
                    let (numerator, denominator) = match (&m.fraction, m.percent) {
                        (Some(f), _) => (f.numerator, f.denominator.unwrap_or(100)),
                        (None, Some(p)) => (p, 100),
                        (None, None) => (1, 1),
                    };
                    out.mirrors.push(Mirror {
                        target: resolve_ref(
                            route_namespace,
                            b.group.as_deref(),
                            b.kind.as_deref(),
                            b.namespace.as_deref(),
                            &b.name,
                            b.port,
                            resolver,
                        ),
                        numerator: u32::try_from(numerator).unwrap_or(0),
                        denominator: u32::try_from(denominator).unwrap_or(0),
                    });
                }
                HttpRouteRulesFiltersType::Cors => {
                    let c = f.cors.as_ref().ok_or(FilterError::MissingConfig("CORS"))?;
                    out.cors = Some(Cors::from_json(c)?);
                }
                HttpRouteRulesFiltersType::ExtensionRef => out.unsupported = true,
            }
        }
        if out.redirect.is_some() && out.rewrite.is_some() {
            return Err(FilterError::RedirectWithRewrite);
        }
        Ok(out)
    }

    /// Whether some filter rewrites with ReplacePrefixMatch (the rule's matches
    /// must then all be PathPrefix).
    pub fn uses_prefix_replacement(&self) -> bool {
        let is_prefix =
            |p: &Option<PathModifier>| matches!(p, Some(PathModifier::ReplacePrefixMatch(_)));
        self.redirect.as_ref().is_some_and(|r| is_prefix(&r.path))
            || self.rewrite.as_ref().is_some_and(|r| is_prefix(&r.path))
    }
}

fn status_code(s: i64) -> u16 {
    // The CRD enum is 301/302/303/307/308; anything else falls back to the default.
    u16::try_from(s)
        .ok()
        .filter(|code| [301, 302, 303, 307, 308].contains(code))
        .unwrap_or(302)
}

fn redirect_path(
    p: &HttpRouteRulesFiltersRequestRedirectPath,
) -> Result<PathModifier, FilterError> {
    path_modifier(
        p.replace_full_path.as_deref(),
        p.replace_prefix_match.as_deref(),
    )
}

fn rewrite_path(p: &HttpRouteRulesFiltersUrlRewritePath) -> Result<PathModifier, FilterError> {
    path_modifier(
        p.replace_full_path.as_deref(),
        p.replace_prefix_match.as_deref(),
    )
}

/// CEL ties `type` to the one field that is set, so the field decides.
fn path_modifier(full: Option<&str>, prefix: Option<&str>) -> Result<PathModifier, FilterError> {
    match (full, prefix) {
        (Some(p), _) => Ok(PathModifier::ReplaceFullPath(p.to_owned())),
        (None, Some(p)) => Ok(PathModifier::ReplacePrefixMatch(p.to_owned())),
        (None, None) => Err(FilterError::MissingConfig("path modifier")),
    }
}

/// What to do with one request that selected a rule.
#[derive(Debug, Clone)]
pub enum Plan<'a> {
    /// Answer with this redirect; nothing is forwarded.
    Redirect(Redirect),
    /// Answer here: a CORS preflight (204 with headers) or an unsupported
    /// filter (500, no headers).
    Respond {
        status: u16,
        headers: Vec<(HeaderName, HeaderValue)>,
    },
    Forward(Forward<'a>),
}

/// How to forward: edits to the request and to the response, and the mirrors.
/// The backend's own header modifiers (see `backends::Backend`) come after.
#[derive(Debug, Clone)]
pub struct Forward<'a> {
    pub request: RequestEdits<'a>,
    pub response: ResponseEdits<'a>,
    pub mirrors: &'a [Mirror],
}

#[derive(Debug, Clone, Default)]
pub struct RequestEdits<'a> {
    /// New Host / `:authority` (URLRewrite hostname).
    pub host: Option<String>,
    /// New path, query kept (URLRewrite path).
    pub path_and_query: Option<String>,
    pub headers: &'a [HeaderModifier],
}

impl RequestEdits<'_> {
    /// Applies the header edits; `host` is for the data plane, which knows
    /// whether it speaks HTTP/1.1 (Host) or HTTP/2 (`:authority`).
    pub fn apply_headers(&self, headers: &mut HeaderMap) {
        for m in self.headers {
            m.apply(headers);
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ResponseEdits<'a> {
    pub headers: &'a [HeaderModifier],
    /// CORS headers, set after the modifiers so a route cannot break them.
    pub set: Vec<(HeaderName, HeaderValue)>,
}

impl ResponseEdits<'_> {
    pub fn apply(&self, headers: &mut HeaderMap) {
        for m in self.headers {
            m.apply(headers);
        }
        for (n, v) in &self.set {
            headers.insert(n.clone(), v.clone());
        }
    }
}

/// Decides what the selected rule's filters do with `req`, which arrived on `ingress`.
pub fn plan<'a>(selected: &Selected<'a>, req: &RequestHead, ingress: Ingress) -> Plan<'a> {
    let filters = &selected.rule.filters;
    if filters.unsupported {
        return Plan::Respond {
            status: 500,
            headers: Vec::new(),
        };
    }
    let mut cors_headers = Vec::new();
    if let Some(cors) = &filters.cors {
        match cors.evaluate(req) {
            CorsOutcome::Preflight(headers) => {
                return Plan::Respond {
                    status: 204,
                    headers,
                };
            }
            CorsOutcome::Actual(headers) => cors_headers = headers,
            CorsOutcome::NotCors => {}
        }
    }
    if let Some(r) = &filters.redirect {
        return Plan::Redirect(r.redirect(req, &selected.matched.path, ingress));
    }
    let mut request = RequestEdits {
        headers: &filters.request_headers,
        ..RequestEdits::default()
    };
    if let Some(rw) = &filters.rewrite {
        request.host = rw.hostname.clone();
        request.path_and_query = rw.path.as_ref().map(|p| {
            let mut path = p.apply(&req.path, &selected.matched.path);
            if let Some(q) = &req.query {
                path.push('?');
                path.push_str(q);
            }
            path
        });
    }
    Plan::Forward(Forward {
        request,
        response: ResponseEdits {
            headers: &filters.response_headers,
            set: cors_headers,
        },
        mirrors: &filters.mirrors,
    })
}

#[cfg(test)]
mod tests;
