use std::collections::HashMap;

use serde_json::json;

use super::*;

fn compile(refs: serde_json::Value, resolver: &dyn ResolveRefs) -> Backends {
    let refs: Vec<HttpRouteRulesBackendRefs> = match serde_json::from_value(refs) {
        Ok(r) => r,
        Err(e) => panic!("backendRefs do not parse: {e}"),
    };
    match Backends::compile("ns", &refs, resolver) {
        Ok(b) => b,
        Err(e) => panic!("backendRefs do not compile: {e}"),
    }
}

/// Counts where every draw in 0..n lands, by Service name ("500" for errors).
fn distribution(b: &Backends, n: u64) -> HashMap<String, u64> {
    let mut counts = HashMap::new();
    for draw in 0..n {
        let key = match b.choose(draw) {
            BackendChoice::Forward(Backend {
                target: BackendTarget::Service(s),
                ..
            }) => s.name.clone(),
            _ => "500".to_owned(),
        };
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

/// httproute-weight: 70/30/0 split; the 0-weight backend never gets traffic.
#[test]
fn httproute_weight() {
    let b = compile(
        json!([
            {"name": "infra-backend-v1", "port": 8080, "weight": 70},
            {"name": "infra-backend-v2", "port": 8080, "weight": 30},
            {"name": "infra-backend-v3", "port": 8080, "weight": 0},
        ]),
        &AllowAll,
    );
    let d = distribution(&b, 1000);
    assert_eq!(d.get("infra-backend-v1"), Some(&700));
    assert_eq!(d.get("infra-backend-v2"), Some(&300));
    assert_eq!(d.get("infra-backend-v3"), None);
}

#[test]
fn weight_defaults_to_one() {
    let b = compile(
        json!([{"name": "a", "port": 80}, {"name": "b", "port": 80}]),
        &AllowAll,
    );
    let d = distribution(&b, 100);
    assert_eq!((d.get("a"), d.get("b")), (Some(&50), Some(&50)));
}

#[test]
fn all_zero_or_none_is_500() {
    for refs in [json!([]), json!([{"name": "a", "port": 80, "weight": 0}])] {
        let b = compile(refs.clone(), &AllowAll);
        assert!(matches!(b.choose(7), BackendChoice::NoBackends), "{refs}");
    }
}

struct Missing(&'static str);

impl ResolveRefs for Missing {
    fn check_service(&self, _: &str, s: &ServiceRef) -> Result<(), InvalidBackend> {
        if s.name == self.0 {
            Err(InvalidBackend::NotFound(format!(
                "{}/{}",
                s.namespace, s.name
            )))
        } else {
            Ok(())
        }
    }
}

/// httproute-invalid-nonexistent-backendref, httproute-invalid-backendref-unknown-kind,
/// httproute-invalid-cross-namespace-backend-ref: the share routed to an invalid
/// reference is answered 500, the rest still flows.
#[test]
fn invalid_refs_get_their_share_of_500() {
    for (refs, want_ok, want_500) in [
        (json!([{"name": "gone", "port": 8080}]), 0, 100),
        (
            json!([{"name": "v1", "port": 8080}, {"name": "gone", "port": 8080}]),
            50,
            50,
        ),
        (
            json!([{"name": "v1", "port": 8080, "weight": 3}, {"group": "unknown.group", "kind": "Unknown", "name": "x", "weight": 1}]),
            75,
            25,
        ),
        (
            json!([{"name": "v1", "port": 8080}, {"name": "noport"}]),
            50,
            50,
        ),
    ] {
        let b = compile(refs.clone(), &Missing("gone"));
        let d = distribution(&b, 100);
        assert_eq!(d.get("v1").copied().unwrap_or(0), want_ok, "{refs}");
        assert_eq!(d.get("500").copied().unwrap_or(0), want_500, "{refs}");
    }
}

#[test]
fn resolve_ref_rows() {
    for (group, kind, ns, port, want) in [
        (
            None,
            None,
            None,
            Some(8080),
            BackendTarget::Service(ServiceRef {
                namespace: "ns".into(),
                name: "svc".into(),
                port: 8080,
            }),
        ),
        (
            Some(""),
            Some("Service"),
            Some("other"),
            Some(80),
            BackendTarget::Service(ServiceRef {
                namespace: "other".into(),
                name: "svc".into(),
                port: 80,
            }),
        ),
        (
            Some("multicluster.x-k8s.io"),
            Some("ServiceImport"),
            None,
            Some(80),
            BackendTarget::Invalid(InvalidBackend::InvalidKind {
                group: "multicluster.x-k8s.io".into(),
                kind: "ServiceImport".into(),
            }),
        ),
        (
            None,
            None,
            None,
            None,
            BackendTarget::Invalid(InvalidBackend::MissingPort("ns/svc".into())),
        ),
        (
            None,
            None,
            None,
            Some(70000),
            BackendTarget::Invalid(InvalidBackend::MissingPort("ns/svc".into())),
        ),
    ] {
        assert_eq!(
            resolve_ref("ns", group, kind, ns, "svc", port, &AllowAll),
            want
        );
    }
}

/// httproute-request-header-modifier-backend-weights: backendRef filters are kept per backend.
#[test]
fn backend_filters_are_kept() {
    let b = compile(
        json!([{"name": "v1", "port": 8080, "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": "backend", "value": "v1"}]}}]}]),
        &AllowAll,
    );
    assert_eq!(b.entries()[0].request_headers.len(), 1);
}
