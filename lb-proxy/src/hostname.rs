//! Hostnames of listeners and routes: parsing, intersection, and finding the most
//! specific one for a request's host.
//!
//! The spec gives precedence to the longest matching non-wildcard hostname, then
//! the longest matching wildcard; [`HostIndex::get`] answers in that order.

use std::collections::HashMap;

/// A listener's or route's hostname, lowercased.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// No hostname: every host.
    Any,
    Exact(String),
    /// `*.example.com`, stored as its suffix `.example.com`: one or more labels
    /// before it match, the bare `example.com` does not.
    Wildcard(String),
}

impl HostPattern {
    /// `None` or `""` is [`HostPattern::Any`], as an absent listener hostname is.
    pub fn parse(hostname: Option<&str>) -> Self {
        match hostname.map(str::trim) {
            None | Some("") => Self::Any,
            Some(h) => {
                let h = h.trim_end_matches('.').to_ascii_lowercase();
                match h.strip_prefix('*') {
                    Some(suffix) if suffix.starts_with('.') => Self::Wildcard(suffix.to_owned()),
                    _ => Self::Exact(h),
                }
            }
        }
    }

    /// Whether `host` (already lowercased, without port) is covered.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(h) => h == host,
            Self::Wildcard(suffix) => host.len() > suffix.len() && host.ends_with(suffix.as_str()),
        }
    }

    /// The hostnames both patterns accept, expressed as one pattern, or `None`
    /// when they share none. A route hostname narrower than its listener's wins,
    /// a broader one is narrowed to the listener's: the route only ever receives
    /// what the listener lets through.
    pub fn intersect(&self, other: &Self) -> Option<Self> {
        match (self, other) {
            (Self::Any, p) | (p, Self::Any) => Some(p.clone()),
            (Self::Exact(a), Self::Exact(b)) => (a == b).then(|| self.clone()),
            (Self::Wildcard(_), Self::Exact(h)) | (Self::Exact(h), Self::Wildcard(_)) => {
                let wildcard = if matches!(self, Self::Wildcard(_)) {
                    self
                } else {
                    other
                };
                wildcard.matches(h).then(|| Self::Exact(h.clone()))
            }
            (Self::Wildcard(a), Self::Wildcard(b)) => {
                if a.ends_with(b.as_str()) {
                    Some(self.clone())
                } else if b.ends_with(a.as_str()) {
                    Some(other.clone())
                } else {
                    None
                }
            }
        }
    }
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Exact(h) => f.write_str(h),
            Self::Wildcard(s) => write!(f, "*{s}"),
        }
    }
}

/// Values keyed by host pattern, looked up by the most specific pattern that
/// covers a host: exact, then the longest wildcard suffix, then [`HostPattern::Any`].
#[derive(Debug, Clone)]
pub struct HostIndex<T> {
    exact: HashMap<String, T>,
    /// Longest suffix first, so the first hit is the most specific.
    wildcards: Vec<(String, T)>,
    any: Option<T>,
}

impl<T> Default for HostIndex<T> {
    fn default() -> Self {
        Self {
            exact: HashMap::new(),
            wildcards: Vec::new(),
            any: None,
        }
    }
}

impl<T> HostIndex<T> {
    pub fn get(&self, host: &str) -> Option<&T> {
        if let Some(v) = self.exact.get(host) {
            return Some(v);
        }
        self.wildcards
            .iter()
            .find(|(suffix, _)| HostPattern::Wildcard(suffix.clone()).matches(host))
            .map(|(_, v)| v)
            .or(self.any.as_ref())
    }

    /// The value for `pattern`, created with `make` when absent.
    pub fn entry(&mut self, pattern: &HostPattern, make: impl FnOnce() -> T) -> &mut T {
        match pattern {
            HostPattern::Any => self.any.get_or_insert_with(make),
            HostPattern::Exact(h) => self.exact.entry(h.clone()).or_insert_with(make),
            HostPattern::Wildcard(suffix) => {
                let at = match self.wildcards.iter().position(|(s, _)| s == suffix) {
                    Some(at) => at,
                    None => {
                        // Keep longest-first order on insert; lookups stay a scan.
                        let at = self
                            .wildcards
                            .iter()
                            .position(|(s, _)| s.len() < suffix.len())
                            .unwrap_or(self.wildcards.len());
                        self.wildcards.insert(at, (suffix.clone(), make()));
                        at
                    }
                };
                &mut self.wildcards[at].1
            }
        }
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.exact
            .values_mut()
            .chain(self.wildcards.iter_mut().map(|(_, v)| v))
            .chain(self.any.iter_mut())
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.wildcards.is_empty() && self.any.is_none()
    }
}

#[cfg(test)]
mod tests;
