//! Inputs the controller hands over (listeners, accepted routes) and the
//! compilation of one HTTPRoute into rules ready for the route table.

use std::sync::Arc;

use gateway_api::httproutes::{HttpRoute, HttpRouteSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::backends::{Backends, ResolveRefs};
use crate::filters::{FilterError, RuleFilters, Scheme};
use crate::grpc::RouteKind;
use crate::matching::{MatchError, PathMatch, RouteMatch};
use crate::timeouts::{TimeoutError, Timeouts};

/// One Gateway listener (HTTP or HTTPS; TLS is terminated before routing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub name: String,
    pub port: u16,
    pub scheme: Scheme,
    pub hostname: Option<String>,
}

/// An HTTPRoute (or a GRPCRoute read as one, see [`crate::grpc`]) accepted
/// by the controller, with the listeners (by name) it is attached to:
/// attachment and acceptance are decided there, not here.
#[derive(Debug, Clone)]
pub struct RouteInput {
    pub kind: RouteKind,
    pub namespace: String,
    pub name: String,
    pub created: Option<Time>,
    pub spec: HttpRouteSpec,
    pub listeners: Vec<String>,
}

impl RouteInput {
    pub fn from_http_route(route: &HttpRoute, listeners: Vec<String>) -> Self {
        Self::of_kind(RouteKind::Http, route, listeners)
    }

    /// `route` as routes of `kind` are served (a GRPCRoute already
    /// translated by [`crate::grpc::to_http_route`]).
    pub fn of_kind(kind: RouteKind, route: &HttpRoute, listeners: Vec<String>) -> Self {
        Self {
            kind,
            namespace: route.metadata.namespace.clone().unwrap_or_default(),
            name: route.metadata.name.clone().unwrap_or_default(),
            created: route.metadata.creation_timestamp.clone(),
            spec: route.spec.clone(),
            listeners,
        }
    }

    /// The tie-breaker the spec gives across routes: oldest first (a route
    /// without a timestamp counts as newest), then `namespace/name`.
    pub(crate) fn order_key(&self) -> (bool, Option<Time>, String, String) {
        (
            self.created.is_none(),
            self.created.clone(),
            self.namespace.clone(),
            self.name.clone(),
        )
    }
}

/// Names a route in errors and in what [`crate::route_table::Selected`] returns.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteId {
    pub kind: RouteKind,
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for RouteId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// A rule that could not be compiled; the rule is left out (the route's other
/// rules still serve) and the controller reports it in the route's status.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("{route} rule {rule}: {source}")]
    Match {
        route: RouteId,
        rule: usize,
        #[source]
        source: MatchError,
    },
    #[error("{route} rule {rule}: {source}")]
    Filter {
        route: RouteId,
        rule: usize,
        #[source]
        source: FilterError,
    },
    #[error("{route} rule {rule}: {source}")]
    Timeout {
        route: RouteId,
        rule: usize,
        #[source]
        source: TimeoutError,
    },
}

impl RouteError {
    pub fn route(&self) -> &RouteId {
        match self {
            Self::Match { route, .. }
            | Self::Filter { route, .. }
            | Self::Timeout { route, .. } => route,
        }
    }
}

/// One compiled HTTPRoute rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub route: Arc<RouteId>,
    /// Position in `spec.rules`.
    pub index: usize,
    /// `rules[].name` (GEP-995), for logs and metrics.
    pub name: Option<String>,
    pub matches: Vec<RouteMatch>,
    pub filters: RuleFilters,
    pub backends: Backends,
    pub timeouts: Timeouts,
}

/// Compiles every rule of `route`; rules that fail are returned as errors.
pub fn compile_rules(
    route: &RouteInput,
    resolver: &dyn ResolveRefs,
) -> (Vec<Arc<Rule>>, Vec<RouteError>) {
    let id = Arc::new(RouteId {
        kind: route.kind,
        namespace: route.namespace.clone(),
        name: route.name.clone(),
    });
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for (index, r) in route.spec.rules.iter().flatten().enumerate() {
        match compile_rule(&route.namespace, r, resolver) {
            Ok((matches, filters, backends, timeouts)) => rules.push(Arc::new(Rule {
                route: id.clone(),
                index,
                name: r.name.clone(),
                matches,
                filters,
                backends,
                timeouts,
            })),
            Err(e) => errors.push(e.into_route_error((*id).clone(), index)),
        }
    }
    (rules, errors)
}

enum RuleError {
    Match(MatchError),
    Filter(FilterError),
    Timeout(TimeoutError),
}

impl RuleError {
    fn into_route_error(self, route: RouteId, rule: usize) -> RouteError {
        match self {
            Self::Match(source) => RouteError::Match {
                route,
                rule,
                source,
            },
            Self::Filter(source) => RouteError::Filter {
                route,
                rule,
                source,
            },
            Self::Timeout(source) => RouteError::Timeout {
                route,
                rule,
                source,
            },
        }
    }
}

type CompiledRule = (Vec<RouteMatch>, RuleFilters, Backends, Timeouts);

fn compile_rule(
    namespace: &str,
    r: &gateway_api::httproutes::HttpRouteRules,
    resolver: &dyn ResolveRefs,
) -> Result<CompiledRule, RuleError> {
    let mut matches = r
        .matches
        .iter()
        .flatten()
        .map(RouteMatch::compile)
        .collect::<Result<Vec<_>, _>>()
        .map_err(RuleError::Match)?;
    // No matches (or an empty list) means PathPrefix "/", as the CRD defaults it.
    if matches.is_empty() {
        matches.push(RouteMatch::catch_all());
    }
    let filters = RuleFilters::compile(
        namespace,
        r.filters.as_deref().unwrap_or_default(),
        resolver,
    )
    .map_err(RuleError::Filter)?;
    if filters.uses_prefix_replacement()
        && !matches
            .iter()
            .all(|m| matches!(m.path, PathMatch::Prefix { .. }))
    {
        return Err(RuleError::Filter(
            FilterError::PrefixRewriteWithoutPrefixMatch,
        ));
    }
    let backends = Backends::compile(
        namespace,
        r.backend_refs.as_deref().unwrap_or_default(),
        resolver,
    )
    .map_err(RuleError::Filter)?;
    let timeouts = Timeouts::compile(r.timeouts.as_ref()).map_err(RuleError::Timeout)?;
    Ok((matches, filters, backends, timeouts))
}
