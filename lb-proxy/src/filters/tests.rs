//! The plan for a whole rule: which filter answers, and what is forwarded.

use gateway_api::httproutes::HttpRouteSpec;
use http::{HeaderMap, Method};
use serde_json::json;

use super::*;
use crate::backends::AllowAll;
use crate::route_table::{Compiled, build};
use crate::routes::{Listener, RouteInput};

fn compiled(rules: serde_json::Value) -> Compiled {
    let spec: HttpRouteSpec = match serde_json::from_value(json!({"rules": rules})) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let c = build(
        &[Listener {
            name: "http".into(),
            port: 80,
            scheme: Scheme::Http,
            hostname: None,
        }],
        &[RouteInput {
            kind: crate::grpc::RouteKind::Http,
            namespace: "ns".into(),
            name: "r".into(),
            created: None,
            spec,
            listeners: vec!["http".into()],
        }],
        &AllowAll,
    );
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    c
}

fn plan_for<'a>(c: &'a Compiled, req: &RequestHead) -> Plan<'a> {
    let Some(table) = c.tables.get(&80) else {
        panic!("table");
    };
    let Some(selected) = table.select(req) else {
        panic!("no rule for {}", req.path);
    };
    plan(&selected, req, selected.ingress)
}

/// httproute-rewrite-path: the backend sees the rewritten path, query kept.
#[test]
fn httproute_rewrite_path() {
    let rw = |prefix: &str, kind: &str, field: &str, value: &str| {
        json!({"matches": [{"path": {"type": "PathPrefix", "value": prefix}}],
               "filters": [{"type": "URLRewrite", "urlRewrite": {"path": {"type": kind, field: value}}}],
               "backendRefs": [{"name": "v1", "port": 8080}]})
    };
    let c = compiled(json!([
        rw(
            "/prefix/one",
            "ReplacePrefixMatch",
            "replacePrefixMatch",
            "/one"
        ),
        rw(
            "/strip-prefix",
            "ReplacePrefixMatch",
            "replacePrefixMatch",
            "/"
        ),
        rw("/full/one", "ReplaceFullPath", "replaceFullPath", "/one"),
    ]));
    for (path, want) in [
        ("/prefix/one/two", "/one/two"),
        ("/strip-prefix/three", "/three"),
        ("/strip-prefix", "/"),
        ("/full/one/two", "/one"),
        ("/full/one/two?q=1", "/one?q=1"),
        ("/strip-prefix/three?a=b&c", "/three?a=b&c"),
    ] {
        let Plan::Forward(f) = plan_for(&c, &RequestHead::get("h", path)) else {
            panic!("{path}: not forwarded");
        };
        assert_eq!(f.request.path_and_query.as_deref(), Some(want), "{path}");
    }
}

/// httproute-rewrite-host: Host is replaced, and header modifiers in the same rule still run.
#[test]
fn httproute_rewrite_host() {
    let c = compiled(json!([
        {"matches": [{"path": {"type": "PathPrefix", "value": "/one"}}],
         "filters": [{"type": "URLRewrite", "urlRewrite": {"hostname": "one.example.org"}}],
         "backendRefs": [{"name": "v1", "port": 8080}]},
        {"matches": [{"path": {"type": "PathPrefix", "value": "/rewrite-host-and-modify-headers"}}],
         "filters": [{"type": "URLRewrite", "urlRewrite": {"hostname": "test.example.org"}},
                     {"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": "X-Header-Set", "value": "set-overwrites-values"}]}}],
         "backendRefs": [{"name": "v1", "port": 8080}]},
    ]));
    for (path, host) in [
        ("/one", "one.example.org"),
        ("/rewrite-host-and-modify-headers", "test.example.org"),
    ] {
        let Plan::Forward(f) = plan_for(&c, &RequestHead::get("rewrite.example", path)) else {
            panic!("{path}");
        };
        assert_eq!(f.request.host.as_deref(), Some(host));
        assert_eq!(f.request.path_and_query, None);
    }
    let Plan::Forward(f) = plan_for(
        &c,
        &RequestHead::get("rewrite.example", "/rewrite-host-and-modify-headers"),
    ) else {
        panic!("forward");
    };
    let mut h = HeaderMap::new();
    f.request.apply_headers(&mut h);
    assert_eq!(
        h.get("x-header-set").and_then(|v| v.to_str().ok()),
        Some("set-overwrites-values")
    );
}

/// httproute-response-header-modifier: edits land on the response.
#[test]
fn httproute_response_header_modifier() {
    let c = compiled(json!([
        {"filters": [{"type": "ResponseHeaderModifier", "responseHeaderModifier": {
            "set": [{"name": "X-Header-Set", "value": "set-overwrites-values"}],
            "add": [{"name": "X-Header-Add", "value": "add-appends-values"}],
            "remove": ["X-Header-Remove"]}}],
         "backendRefs": [{"name": "v1", "port": 8080}]},
    ]));
    let Plan::Forward(f) = plan_for(&c, &RequestHead::get("h", "/")) else {
        panic!("forward");
    };
    let mut h = HeaderMap::new();
    for (n, v) in [
        ("x-header-set", "old"),
        ("x-header-add", "some-other-value"),
        ("x-header-remove", "gone"),
    ] {
        if let (Ok(n), Ok(v)) = (headers::header_name(n), headers::header_value(v)) {
            h.insert(n, v);
        }
    }
    f.response.apply(&mut h);
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(
        get("x-header-set").as_deref(),
        Some("set-overwrites-values")
    );
    assert_eq!(
        get("x-header-add").as_deref(),
        Some("some-other-value,add-appends-values")
    );
    assert_eq!(get("x-header-remove"), None);
}

/// httproute-redirect-path through the whole table: the matched prefix is the rule's.
#[test]
fn redirect_wins_over_forwarding() {
    let c = compiled(json!([
        {"matches": [{"path": {"type": "PathPrefix", "value": "/original-prefix"}}],
         "filters": [{"type": "RequestRedirect", "requestRedirect": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/replacement-prefix"}}}]},
        {"matches": [{"path": {"type": "PathPrefix", "value": "/path-and-status"}}],
         "filters": [{"type": "RequestRedirect", "requestRedirect": {"path": {"type": "ReplaceFullPath", "replaceFullPath": "/replacement-full"}, "statusCode": 301}}]},
    ]));
    for (path, location, status) in [
        (
            "/original-prefix/lemon",
            "http://gw.example/replacement-prefix/lemon",
            302,
        ),
        (
            "/path-and-status",
            "http://gw.example/replacement-full",
            301,
        ),
    ] {
        let Plan::Redirect(r) = plan_for(&c, &RequestHead::get("gw.example", path)) else {
            panic!("{path}: no redirect");
        };
        assert_eq!(
            r,
            Redirect {
                location: location.into(),
                status
            }
        );
    }
}

#[test]
fn cors_preflight_is_answered_and_actual_requests_get_headers() {
    let c = compiled(json!([
        {"filters": [{"type": "CORS", "cors": {"allowOrigins": ["https://www.foo.com"], "allowMethods": ["GET"]}}],
         "backendRefs": [{"name": "v1", "port": 8080}]},
    ]));
    let preflight = RequestHead::get("h", "/")
        .with_method(Method::OPTIONS)
        .with_header("origin", "https://www.foo.com")
        .with_header("access-control-request-method", "GET");
    assert!(
        matches!(plan_for(&c, &preflight), Plan::Respond { status: 204, ref headers } if !headers.is_empty())
    );
    let actual = RequestHead::get("h", "/").with_header("origin", "https://www.foo.com");
    let Plan::Forward(f) = plan_for(&c, &actual) else {
        panic!("forward");
    };
    assert_eq!(f.response.set.len(), 1);
}

#[test]
fn extension_ref_answers_500() {
    let c = compiled(json!([
        {"filters": [{"type": "ExtensionRef", "extensionRef": {"group": "example.com", "kind": "Thing", "name": "t"}}],
         "backendRefs": [{"name": "v1", "port": 8080}]},
    ]));
    assert!(matches!(
        plan_for(&c, &RequestHead::get("h", "/")),
        Plan::Respond { status: 500, .. }
    ));
}

/// httproute-request-mirror, httproute-request-percentage-mirror: targets and sampling.
#[test]
fn httproute_request_mirror() {
    let c = compiled(json!([
        {"filters": [
            {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "mirror-all", "port": 8080}}},
            {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "mirror-pct", "port": 8080}, "percent": 20}}],
         "backendRefs": [{"name": "v1", "port": 8080}]},
        {"matches": [{"path": {"type": "PathPrefix", "value": "/fraction"}}],
         "filters": [{"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "mirror-frac", "port": 8080}, "fraction": {"numerator": 1, "denominator": 3}}}],
         "backendRefs": [{"name": "v1", "port": 8080}]},
    ]));
    let Plan::Forward(f) = plan_for(&c, &RequestHead::get("h", "/")) else {
        panic!("forward");
    };
    assert_eq!(f.mirrors.len(), 2);
    let sampled = |m: &Mirror| (0..300).filter(|d| m.sampled(*d)).count();
    assert_eq!(sampled(&f.mirrors[0]), 300);
    assert_eq!(sampled(&f.mirrors[1]), 60);
    let Plan::Forward(f) = plan_for(&c, &RequestHead::get("h", "/fraction")) else {
        panic!("forward");
    };
    assert_eq!(sampled(&f.mirrors[0]), 100);
}

#[test]
fn redirect_with_rewrite_is_an_error() {
    let spec: Vec<gateway_api::httproutes::HttpRouteRulesFilters> =
        match serde_json::from_value(json!([
            {"type": "RequestRedirect", "requestRedirect": {"hostname": "a"}},
            {"type": "URLRewrite", "urlRewrite": {"hostname": "b"}},
        ])) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
    assert!(matches!(
        RuleFilters::compile("ns", &spec, &AllowAll),
        Err(FilterError::RedirectWithRewrite)
    ));
}
