//! One `HTTPRouteMatch`: whether a request satisfies it, and how it ranks
//! against the others under the spec's precedence.

use std::cmp::Reverse;

use gateway_api::httproutes::{
    HttpRouteRulesMatches, HttpRouteRulesMatchesHeadersType, HttpRouteRulesMatchesMethod,
    HttpRouteRulesMatchesPathType, HttpRouteRulesMatchesQueryParamsType,
};
use http::{HeaderName, Method};
use regex::Regex;

use crate::request::RequestHead;

#[derive(Debug, thiserror::Error)]
pub enum MatchError {
    #[error("invalid regular expression {pattern:?}: {source}")]
    Regex {
        pattern: String,
        #[source]
        source: Box<regex::Error>,
    },
    #[error("invalid header name {0:?}")]
    HeaderName(String),
    #[error("path {0:?} does not start with '/'")]
    PathNotAbsolute(String),
}

#[derive(Debug, Clone)]
pub enum PathMatch {
    Exact(String),
    /// The prefix as written, and without its trailing `/`: `/abc/` and `/abc`
    /// match the same paths (the spec ignores a trailing `/`), so `/` is `""`.
    Prefix {
        value: String,
        trimmed: String,
    },
    RegularExpression(Regex),
}

impl PathMatch {
    pub fn matches(&self, path: &str) -> bool {
        match self {
            Self::Exact(v) => path == v,
            // Whole segments only: `/abc` matches `/abc` and `/abc/def`, never `/abcd`.
            Self::Prefix { trimmed, .. } => match path.strip_prefix(trimmed.as_str()) {
                Some(rest) => rest.is_empty() || rest.starts_with('/'),
                None => false,
            },
            Self::RegularExpression(re) => re.is_match(path),
        }
    }
}

#[derive(Debug, Clone)]
pub enum ValueMatch {
    Exact(String),
    RegularExpression(Regex),
}

impl ValueMatch {
    fn matches(&self, value: &str) -> bool {
        match self {
            Self::Exact(v) => v == value,
            Self::RegularExpression(re) => re.is_match(value),
        }
    }
}

#[derive(Debug, Clone)]
pub struct HeaderMatch {
    pub name: HeaderName,
    pub value: ValueMatch,
}

#[derive(Debug, Clone)]
pub struct QueryMatch {
    pub name: String,
    pub value: ValueMatch,
}

/// A compiled `HTTPRouteMatch`: every field must hold (AND).
#[derive(Debug, Clone)]
pub struct RouteMatch {
    pub path: PathMatch,
    pub method: Option<Method>,
    pub headers: Vec<HeaderMatch>,
    pub query_params: Vec<QueryMatch>,
}

/// Sort key of a match, smallest first, in the spec's order: Exact path, then
/// the longest prefix, then method, header count, query count. The spec leaves
/// regex paths' place to the implementation: they rank after Exact and before
/// every prefix (longer pattern first), so a catch-all `/` never hides them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MatchRank {
    path_kind: u8,
    path_len: Reverse<usize>,
    no_method: bool,
    headers: Reverse<usize>,
    query_params: Reverse<usize>,
}

impl RouteMatch {
    /// The match of a rule without `matches`: PathPrefix `/`, every request.
    pub fn catch_all() -> Self {
        Self {
            path: PathMatch::Prefix {
                value: "/".into(),
                trimmed: String::new(),
            },
            method: None,
            headers: Vec::new(),
            query_params: Vec::new(),
        }
    }

    pub fn compile(m: &HttpRouteRulesMatches) -> Result<Self, MatchError> {
        let path = match &m.path {
            None => Self::catch_all().path,
            Some(p) => {
                let value = p.value.clone().unwrap_or_else(|| "/".into());
                match p.r#type {
                    Some(HttpRouteRulesMatchesPathType::Exact) => {
                        absolute(&value)?;
                        PathMatch::Exact(value)
                    }
                    Some(HttpRouteRulesMatchesPathType::RegularExpression) => {
                        PathMatch::RegularExpression(anchored(&value)?)
                    }
                    Some(HttpRouteRulesMatchesPathType::PathPrefix) | None => {
                        absolute(&value)?;
                        let trimmed = value.trim_end_matches('/').to_owned();
                        PathMatch::Prefix { value, trimmed }
                    }
                }
            }
        };
        let mut headers: Vec<HeaderMatch> = Vec::new();
        for h in m.headers.iter().flatten() {
            let name = HeaderName::from_bytes(h.name.as_bytes())
                .map_err(|_| MatchError::HeaderName(h.name.clone()))?;
            // The spec: of entries naming the same header, only the first counts.
            if headers.iter().any(|seen| seen.name == name) {
                continue;
            }
            let value = match h.r#type {
                Some(HttpRouteRulesMatchesHeadersType::RegularExpression) => {
                    ValueMatch::RegularExpression(anchored(&h.value)?)
                }
                _ => ValueMatch::Exact(h.value.clone()),
            };
            headers.push(HeaderMatch { name, value });
        }
        let mut query_params: Vec<QueryMatch> = Vec::new();
        for q in m.query_params.iter().flatten() {
            if query_params.iter().any(|seen| seen.name == q.name) {
                continue;
            }
            let value = match q.r#type {
                Some(HttpRouteRulesMatchesQueryParamsType::RegularExpression) => {
                    ValueMatch::RegularExpression(anchored(&q.value)?)
                }
                _ => ValueMatch::Exact(q.value.clone()),
            };
            query_params.push(QueryMatch {
                name: q.name.clone(),
                value,
            });
        }
        Ok(Self {
            path,
            method: m.method.as_ref().map(method),
            headers,
            query_params,
        })
    }

    pub fn matches(&self, req: &RequestHead) -> bool {
        self.path.matches(&req.path)
            && self.method.as_ref().is_none_or(|m| *m == req.method)
            && self.headers.iter().all(|h| {
                req.header(h.name.as_str())
                    .is_some_and(|v| h.value.matches(&v))
            })
            && self
                .query_params
                .iter()
                .all(|q| req.query_param(&q.name).is_some_and(|v| q.value.matches(v)))
    }

    pub fn rank(&self) -> MatchRank {
        let (path_kind, path_len) = match &self.path {
            PathMatch::Exact(v) => (0, v.len()),
            PathMatch::RegularExpression(re) => (1, re.as_str().len()),
            PathMatch::Prefix { value, .. } => (2, value.len()),
        };
        MatchRank {
            path_kind,
            path_len: Reverse(path_len),
            no_method: self.method.is_none(),
            headers: Reverse(self.headers.len()),
            query_params: Reverse(self.query_params.len()),
        }
    }
}

fn absolute(path: &str) -> Result<(), MatchError> {
    if path.starts_with('/') {
        Ok(())
    } else {
        Err(MatchError::PathNotAbsolute(path.to_owned()))
    }
}

/// The spec's regular expressions match the whole value, not a substring.
pub(crate) fn anchored(pattern: &str) -> Result<Regex, MatchError> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|source| MatchError::Regex {
        pattern: pattern.to_owned(),
        source: Box::new(source),
    })
}

fn method(m: &HttpRouteRulesMatchesMethod) -> Method {
    use HttpRouteRulesMatchesMethod as M;
    match m {
        M::Get => Method::GET,
        M::Head => Method::HEAD,
        M::Post => Method::POST,
        M::Put => Method::PUT,
        M::Delete => Method::DELETE,
        M::Connect => Method::CONNECT,
        M::Options => Method::OPTIONS,
        M::Trace => Method::TRACE,
        M::Patch => Method::PATCH,
    }
}

#[cfg(test)]
mod tests;
