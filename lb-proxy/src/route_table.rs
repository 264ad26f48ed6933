//! The compiled routing table of one Gateway: per port, the listener chosen by
//! the request's host, then the route hostname, then the first match in spec
//! precedence order.
//!
//! Everything is sorted at build time, so [`PortTable::select`] is two hash or
//! suffix lookups and a scan of one hostname's matches in order, stopping at
//! the first hit. Tables are immutable: the controller builds a new one on
//! every change and the data plane swaps it in whole.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::backends::ResolveRefs;
use crate::filters::Ingress;
use crate::hostname::{HostIndex, HostPattern};
use crate::matching::{MatchRank, RouteMatch};
use crate::request::RequestHead;
use crate::routes::{Listener, RouteError, RouteInput, Rule, compile_rules};

/// What [`build`] produces: one table per port, and the rules left out.
#[derive(Debug, Default)]
pub struct Compiled {
    pub tables: BTreeMap<u16, PortTable>,
    pub errors: Vec<RouteError>,
}

#[derive(Debug, Default)]
pub struct PortTable {
    listeners: HostIndex<ListenerTable>,
}

#[derive(Debug)]
struct ListenerTable {
    name: String,
    ingress: Ingress,
    /// Per effective hostname (listener ∩ route), matches best first.
    hosts: HostIndex<Vec<Entry>>,
}

#[derive(Debug)]
struct Entry {
    key: SortKey,
    rule: Arc<Rule>,
    match_index: usize,
}

/// The spec's full order: match precedence, then route age and name, then rule
/// and match position.
type SortKey = (MatchRank, usize, usize, usize);

/// The rule chosen for a request.
#[derive(Debug, Clone, Copy)]
pub struct Selected<'a> {
    /// The listener the request was given to.
    pub listener: &'a str,
    /// Its scheme and port, which redirects need.
    pub ingress: Ingress,
    pub rule: &'a Rule,
    /// The match that selected the rule (ReplacePrefixMatch needs its prefix).
    pub matched: &'a RouteMatch,
}

/// The table of `listener` in its port's table, created empty if new.
fn listener_table<'a>(compiled: &'a mut Compiled, listener: &Listener) -> &'a mut ListenerTable {
    let listener_host = HostPattern::parse(listener.hostname.as_deref());
    compiled
        .tables
        .entry(listener.port)
        .or_default()
        .listeners
        .entry(&listener_host, || ListenerTable {
            name: listener.name.clone(),
            ingress: Ingress {
                scheme: listener.scheme,
                port: listener.port,
            },
            hosts: HostIndex::default(),
        })
}

/// Compiles the routes attached to `listeners` into per-port tables.
pub fn build(
    listeners: &[Listener],
    routes: &[RouteInput],
    resolver: &dyn ResolveRefs,
) -> Compiled {
    let mut compiled = Compiled::default();
    // Every listener has its table, routes or not: a host its hostname
    // covers is its own (404 without routes), never a less specific
    // listener's (listener isolation).
    for listener in listeners {
        listener_table(&mut compiled, listener);
    }
    // Route order (age, then namespace/name) as an index, so sort keys stay small.
    let mut order: Vec<usize> = (0..routes.len()).collect();
    order.sort_by_key(|&i| routes[i].order_key());
    for (route_rank, &i) in order.iter().enumerate() {
        let route = &routes[i];
        let (rules, errors) = compile_rules(route, resolver);
        compiled.errors.extend(errors);
        for listener in listeners
            .iter()
            .filter(|l| route.listeners.contains(&l.name))
        {
            let listener_host = HostPattern::parse(listener.hostname.as_deref());
            let lt = listener_table(&mut compiled, listener);
            for host in effective_hostnames(&listener_host, route.spec.hostnames.as_deref()) {
                let entries = lt.hosts.entry(&host, Vec::new);
                for rule in &rules {
                    for (match_index, m) in rule.matches.iter().enumerate() {
                        entries.push(Entry {
                            key: (m.rank(), route_rank, rule.index, match_index),
                            rule: rule.clone(),
                            match_index,
                        });
                    }
                }
            }
        }
    }
    for table in compiled.tables.values_mut() {
        for lt in table.listeners.values_mut() {
            for entries in lt.hosts.values_mut() {
                entries.sort_by_key(|e| e.key);
            }
        }
    }
    compiled
}

/// The hostnames a route serves on a listener: its own hostnames narrowed to
/// the listener's (those outside it are ignored, as the spec requires), or the
/// listener's when the route names none.
fn effective_hostnames(listener: &HostPattern, route: Option<&[String]>) -> Vec<HostPattern> {
    let route = route.unwrap_or_default();
    if route.is_empty() {
        return vec![listener.clone()];
    }
    let mut out: Vec<HostPattern> = Vec::new();
    for h in route {
        if let Some(p) = listener.intersect(&HostPattern::parse(Some(h)))
            && !out.contains(&p)
        {
            out.push(p);
        }
    }
    out
}

impl PortTable {
    /// Whether a request for `host` arrived on a TLS connection whose server
    /// name `sni` belongs to another listener (each listener's hostname is
    /// its own certificate and routes; GEP-3567). A host no listener takes is
    /// not misdirected: it is a 404.
    pub fn misdirected(&self, sni: &str, host: &str) -> bool {
        match (self.listeners.get(sni), self.listeners.get(host)) {
            (Some(by_sni), Some(by_host)) => by_sni.name != by_host.name,
            _ => false,
        }
    }

    /// The rule for `req`, or `None` for 404.
    ///
    /// The most specific listener hostname covering the host takes the request,
    /// and within it the most specific route hostname: only the routes of that
    /// hostname compete, as with Envoy's virtual hosts; a less specific
    /// hostname's routes are not a fallback.
    pub fn select(&self, req: &RequestHead) -> Option<Selected<'_>> {
        let lt = self.listeners.get(&req.host)?;
        let entries = lt.hosts.get(&req.host)?;
        let entry = entries.iter().find(|e| {
            e.rule
                .matches
                .get(e.match_index)
                .is_some_and(|m| m.matches(req))
        })?;
        Some(Selected {
            listener: &lt.name,
            ingress: lt.ingress,
            rule: &entry.rule,
            matched: entry.rule.matches.get(entry.match_index)?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.listeners.is_empty()
    }
}

#[cfg(test)]
mod tests;
