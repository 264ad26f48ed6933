//! A rule's backendRefs: which Service gets a request, by weight, and which
//! share of traffic must be answered with 500 because its reference is invalid.

use gateway_api::httproutes::HttpRouteRulesBackendRefs;

use crate::filters::{FilterError, HeaderModifier};

/// A resolved core `Service` reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceRef {
    pub namespace: String,
    pub name: String,
    pub port: u16,
}

/// Why a backendRef cannot receive traffic; the controller reports it in the
/// route's `ResolvedRefs` condition (the reason names match the spec's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidBackend {
    #[error("InvalidKind: {group}/{kind} is not supported")]
    InvalidKind { group: String, kind: String },
    #[error("UnsupportedValue: Service {0} has no port")]
    MissingPort(String),
    #[error("BackendNotFound: {0}")]
    NotFound(String),
    #[error("RefNotPermitted: {0}")]
    RefNotPermitted(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendTarget {
    Service(ServiceRef),
    Invalid(InvalidBackend),
}

/// What the controller knows and this crate does not: whether a Service exists
/// and whether a ReferenceGrant lets the route's namespace use it.
pub trait ResolveRefs {
    fn check_service(
        &self,
        route_namespace: &str,
        service: &ServiceRef,
    ) -> Result<(), InvalidBackend>;
}

/// Every Service is taken to exist and be permitted (tests, static configs).
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl ResolveRefs for AllowAll {
    fn check_service(&self, _: &str, _: &ServiceRef) -> Result<(), InvalidBackend> {
        Ok(())
    }
}

/// Resolves one reference (backendRef or mirror target) the same way: only the
/// core Service kind is supported, and its port is required.
pub fn resolve_ref(
    route_namespace: &str,
    group: Option<&str>,
    kind: Option<&str>,
    namespace: Option<&str>,
    name: &str,
    port: Option<i32>,
    refs: &dyn ResolveRefs,
) -> BackendTarget {
    let group = group.unwrap_or("");
    let kind = kind.unwrap_or("Service");
    if !group.is_empty() || kind != "Service" {
        return BackendTarget::Invalid(InvalidBackend::InvalidKind {
            group: group.to_owned(),
            kind: kind.to_owned(),
        });
    }
    let namespace = namespace.unwrap_or(route_namespace).to_owned();
    let Some(port) = port.and_then(|p| u16::try_from(p).ok()).filter(|p| *p != 0) else {
        return BackendTarget::Invalid(InvalidBackend::MissingPort(format!("{namespace}/{name}")));
    };
    let service = ServiceRef {
        namespace,
        name: name.to_owned(),
        port,
    };
    match refs.check_service(route_namespace, &service) {
        Ok(()) => BackendTarget::Service(service),
        Err(invalid) => BackendTarget::Invalid(invalid),
    }
}

#[derive(Debug, Clone)]
pub struct Backend {
    pub target: BackendTarget,
    pub weight: u32,
    /// backendRef-level filters, applied after the rule's (only the header
    /// modifiers: the spec allows no other filter there in practice).
    pub request_headers: Vec<HeaderModifier>,
    pub response_headers: Vec<HeaderModifier>,
}

/// The weighted set of one rule's backends.
#[derive(Debug, Clone, Default)]
pub struct Backends {
    entries: Vec<Backend>,
    total_weight: u64,
}

/// The outcome for one request.
#[derive(Debug, Clone, Copy)]
pub enum BackendChoice<'a> {
    Forward(&'a Backend),
    /// The draw landed on an invalid reference: answer 500, as the spec asks
    /// for that share of traffic.
    Invalid(&'a Backend),
    /// No backendRefs, or every weight 0: answer 500.
    NoBackends,
}

impl Backends {
    pub fn compile(
        route_namespace: &str,
        refs: &[HttpRouteRulesBackendRefs],
        resolver: &dyn ResolveRefs,
    ) -> Result<Self, FilterError> {
        let mut entries = Vec::with_capacity(refs.len());
        for r in refs {
            let mut request_headers = Vec::new();
            let mut response_headers = Vec::new();
            for f in r.filters.iter().flatten() {
                if let Some(m) = &f.request_header_modifier {
                    request_headers.push(HeaderModifier::from_json(m)?);
                }
                if let Some(m) = &f.response_header_modifier {
                    response_headers.push(HeaderModifier::from_json(m)?);
                }
            }
            // Negative weights cannot pass CRD validation; treat them as 0.
            let weight = r.weight.map_or(1, |w| u32::try_from(w).unwrap_or(0));
            entries.push(Backend {
                target: resolve_ref(
                    route_namespace,
                    r.group.as_deref(),
                    r.kind.as_deref(),
                    r.namespace.as_deref(),
                    &r.name,
                    r.port,
                    resolver,
                ),
                weight,
                request_headers,
                response_headers,
            });
        }
        Ok(Self::new(entries))
    }

    pub fn new(entries: Vec<Backend>) -> Self {
        let total_weight = entries.iter().map(|b| u64::from(b.weight)).sum();
        Self {
            entries,
            total_weight,
        }
    }

    pub fn entries(&self) -> &[Backend] {
        &self.entries
    }

    /// Picks by weight with `draw`, a uniformly random number from the caller
    /// (kept outside so this stays deterministic and testable). Weight-0 entries
    /// never receive traffic, valid or not.
    pub fn choose(&self, draw: u64) -> BackendChoice<'_> {
        if self.total_weight == 0 {
            return BackendChoice::NoBackends;
        }
        let mut point = draw % self.total_weight;
        for b in &self.entries {
            let w = u64::from(b.weight);
            if point < w {
                return match b.target {
                    BackendTarget::Service(_) => BackendChoice::Forward(b),
                    BackendTarget::Invalid(_) => BackendChoice::Invalid(b),
                };
            }
            point -= w;
        }
        BackendChoice::NoBackends
    }
}

#[cfg(test)]
mod tests;
