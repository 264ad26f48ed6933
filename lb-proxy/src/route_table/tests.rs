//! Rows derived from the upstream conformance tests' expectations: the route
//! under test, then request → backend (or `None` for 404).

use gateway_api::httproutes::HttpRouteSpec;
use http::Method;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::json;

use super::*;
use crate::backends::{AllowAll, BackendChoice, BackendTarget};
use crate::filters::Scheme;

fn listener(name: &str, port: u16, hostname: Option<&str>) -> Listener {
    Listener {
        name: name.into(),
        port,
        scheme: Scheme::Http,
        hostname: hostname.map(str::to_owned),
    }
}

fn route(name: &str, created_secs: i64, listeners: &[&str], spec: serde_json::Value) -> RouteInput {
    let spec: HttpRouteSpec = match serde_json::from_value(spec) {
        Ok(s) => s,
        Err(e) => panic!("{name}: spec does not parse: {e}"),
    };
    RouteInput {
        kind: crate::grpc::RouteKind::Http,
        namespace: "gateway-conformance-infra".into(),
        name: name.into(),
        created: Timestamp::from_second(created_secs).ok().map(Time),
        spec,
        listeners: listeners.iter().map(|l| (*l).to_owned()).collect(),
    }
}

fn table(listeners: &[Listener], routes: &[RouteInput]) -> Compiled {
    let compiled = build(listeners, routes, &AllowAll);
    if let Some(e) = compiled.errors.first() {
        panic!("unexpected error: {e}");
    }
    compiled
}

/// The Service a request lands on (backends in these rows have one entry).
fn backend(t: &PortTable, req: &RequestHead) -> Option<String> {
    let s = t.select(req)?;
    match s.rule.backends.choose(0) {
        BackendChoice::Forward(b) => match &b.target {
            BackendTarget::Service(s) => Some(s.name.clone()),
            BackendTarget::Invalid(_) => Some("invalid".into()),
        },
        _ => Some("500".into()),
    }
}

fn check(t: &PortTable, rows: &[(RequestHead, Option<&str>)]) {
    for (req, want) in rows {
        assert_eq!(
            backend(t, req).as_deref(),
            *want,
            "{} {}{}?{:?} {:?}",
            req.method,
            req.host,
            req.path,
            req.query,
            req.headers
        );
    }
}

fn port80(c: &Compiled) -> &PortTable {
    match c.tables.get(&80) {
        Some(t) => t,
        None => panic!("no table for port 80"),
    }
}

fn get(path: &str) -> RequestHead {
    RequestHead::get("example.com", path)
}

fn one_backend(name: &str) -> serde_json::Value {
    json!([{"name": name, "port": 8080}])
}

#[test]
fn httproute_matching() {
    let c = table(
        &[listener("http", 80, None)],
        &[route(
            "matching",
            1,
            &["http"],
            json!({"rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}, {"headers": [{"name": "version", "value": "one"}]}], "backendRefs": one_backend("infra-backend-v1")},
                {"matches": [{"path": {"type": "PathPrefix", "value": "/v2"}}, {"headers": [{"name": "version", "value": "two"}]}], "backendRefs": one_backend("infra-backend-v2")},
            ]}),
        )],
    );
    check(
        port80(&c),
        &[
            (get("/"), Some("infra-backend-v1")),
            (get("/example"), Some("infra-backend-v1")),
            (
                get("/").with_header("Version", "one"),
                Some("infra-backend-v1"),
            ),
            (get("/v2"), Some("infra-backend-v2")),
            (get("/v2/example"), Some("infra-backend-v2")),
            (
                get("/").with_header("Version", "two"),
                Some("infra-backend-v2"),
            ),
            (get("/v2/"), Some("infra-backend-v2")),
            (get("/v2example"), Some("infra-backend-v1")),
            (get("/foo/v2/example"), Some("infra-backend-v1")),
        ],
    );
}

#[test]
fn httproute_path_match_order() {
    let rule = |t: &str, v: &str, b: &str| json!({"matches": [{"path": {"type": t, "value": v}}], "backendRefs": one_backend(b)});
    let c = table(
        &[listener("http", 80, None)],
        &[route(
            "path-matching-order",
            1,
            &["http"],
            json!({"rules": [
                rule("Exact", "/match", "infra-backend-v1"),
                rule("Exact", "/match/exact", "infra-backend-v2"),
                rule("Exact", "/match/exact/one", "infra-backend-v3"),
                rule("PathPrefix", "/match/", "infra-backend-v3"),
                rule("PathPrefix", "/match/prefix/", "infra-backend-v1"),
                rule("PathPrefix", "/match/prefix/one", "infra-backend-v2"),
            ]}),
        )],
    );
    check(
        port80(&c),
        &[
            (get("/match/exact/one"), Some("infra-backend-v3")),
            (get("/match/exact"), Some("infra-backend-v2")),
            (get("/match"), Some("infra-backend-v1")),
            (get("/match/prefix/one/any"), Some("infra-backend-v2")),
            (get("/match/prefix/any"), Some("infra-backend-v1")),
            (get("/match/any"), Some("infra-backend-v3")),
            (get("/nomatch"), None),
        ],
    );
}

#[test]
fn httproute_header_matching() {
    let h = |pairs: &[(&str, &str)]| {
        json!(
            pairs
                .iter()
                .map(|(n, v)| json!({"name": n, "value": v}))
                .collect::<Vec<_>>()
        )
    };
    let c = table(
        &[listener("http", 80, None)],
        &[route(
            "header-matching",
            1,
            &["http"],
            json!({"rules": [
                {"matches": [{"headers": h(&[("version", "one")])}], "backendRefs": one_backend("infra-backend-v1")},
                {"matches": [{"headers": h(&[("version", "two")])}], "backendRefs": one_backend("infra-backend-v2")},
                {"matches": [{"headers": h(&[("version", "two"), ("color", "orange")])}], "backendRefs": one_backend("infra-backend-v1")},
                {"matches": [{"headers": h(&[("color", "blue")])}, {"headers": h(&[("color", "green")])}], "backendRefs": one_backend("infra-backend-v1")},
                {"matches": [{"headers": h(&[("color", "red")])}, {"headers": h(&[("color", "yellow")])}], "backendRefs": one_backend("infra-backend-v2")},
            ]}),
        )],
    );
    let req = |pairs: &[(&str, &str)]| pairs.iter().fold(get("/"), |r, (n, v)| r.with_header(n, v));
    check(
        port80(&c),
        &[
            (req(&[("Version", "one")]), Some("infra-backend-v1")),
            (req(&[("Version", "two")]), Some("infra-backend-v2")),
            (
                req(&[("Version", "two"), ("Color", "orange")]),
                Some("infra-backend-v1"),
            ),
            (
                req(&[("Version", "two"), ("Color", "blue")]),
                Some("infra-backend-v2"),
            ),
            (req(&[("Color", "orange")]), None),
            (req(&[("Some-Other-Header", "one")]), None),
            (req(&[("Color", "blue")]), Some("infra-backend-v1")),
            (req(&[("Color", "green")]), Some("infra-backend-v1")),
            (req(&[("Color", "red")]), Some("infra-backend-v2")),
            (req(&[("Color", "yellow")]), Some("infra-backend-v2")),
            (req(&[("Color", "purple")]), None),
        ],
    );
}

#[test]
fn httproute_query_param_matching() {
    let q = |pairs: &[(&str, &str)]| {
        json!(
            pairs
                .iter()
                .map(|(n, v)| json!({"name": n, "value": v}))
                .collect::<Vec<_>>()
        )
    };
    let c = table(
        &[listener("http", 80, None)],
        &[route(
            "query-param-matching",
            1,
            &["http"],
            json!({"rules": [
                {"matches": [{"queryParams": q(&[("animal", "whale")])}], "backendRefs": one_backend("infra-backend-v1")},
                {"matches": [{"queryParams": q(&[("animal", "dolphin")])}], "backendRefs": one_backend("infra-backend-v2")},
                {"matches": [{"queryParams": q(&[("animal", "dolphin"), ("color", "blue")])}, {"queryParams": q(&[("ANIMAL", "Whale")])}], "backendRefs": one_backend("infra-backend-v3")},
                {"matches": [{"path": {"type": "PathPrefix", "value": "/path1"}, "queryParams": q(&[("animal", "whale")])}], "backendRefs": one_backend("infra-backend-v1")},
                {"matches": [{"headers": [{"name": "version", "value": "one"}], "queryParams": q(&[("animal", "whale")])}], "backendRefs": one_backend("infra-backend-v2")},
                {"matches": [{"path": {"type": "PathPrefix", "value": "/path2"}, "headers": [{"name": "version", "value": "two"}], "queryParams": q(&[("animal", "whale")])}], "backendRefs": one_backend("infra-backend-v3")},
            ]}),
        )],
    );
    check(
        port80(&c),
        &[
            (get("/?animal=whale"), Some("infra-backend-v1")),
            (get("/?animal=dolphin"), Some("infra-backend-v2")),
            (get("/?animal=dolphin&color=blue"), Some("infra-backend-v3")),
            (get("/?ANIMAL=Whale"), Some("infra-backend-v3")),
            (
                get("/?animal=whale&otherparam=irrelevant"),
                Some("infra-backend-v1"),
            ),
            (
                get("/?animal=dolphin&color=yellow"),
                Some("infra-backend-v2"),
            ),
            (get("/?color=blue"), None),
            (get("/?animal=dog"), None),
            (get("/?animal=whaledolphin"), None),
            (get("/"), None),
            (get("/path1?animal=whale"), Some("infra-backend-v1")),
            (
                get("/?animal=whale").with_header("version", "one"),
                Some("infra-backend-v2"),
            ),
            (
                get("/path2?animal=whale").with_header("version", "two"),
                Some("infra-backend-v3"),
            ),
        ],
    );
}

#[test]
fn httproute_method_matching() {
    let c = table(
        &[listener("http", 80, None)],
        &[route(
            "method-matching",
            1,
            &["http"],
            json!({"rules": [
                {"matches": [{"method": "POST"}], "backendRefs": one_backend("infra-backend-v1")},
                {"matches": [{"method": "GET"}], "backendRefs": one_backend("infra-backend-v2")},
                {"matches": [{"path": {"type": "PathPrefix", "value": "/path1"}, "method": "GET"}], "backendRefs": one_backend("infra-backend-v1")},
                {"matches": [{"headers": [{"name": "version", "value": "one"}], "method": "PUT"}], "backendRefs": one_backend("infra-backend-v2")},
                {"matches": [{"path": {"type": "PathPrefix", "value": "/path2"}}], "backendRefs": one_backend("infra-backend-v3")},
            ]}),
        )],
    );
    check(
        port80(&c),
        &[
            (get("/").with_method(Method::POST), Some("infra-backend-v1")),
            (get("/"), Some("infra-backend-v2")),
            (get("/path1"), Some("infra-backend-v1")),
            (
                get("/")
                    .with_method(Method::PUT)
                    .with_header("version", "one"),
                Some("infra-backend-v2"),
            ),
            // A longer prefix beats a method match.
            (
                get("/path2").with_method(Method::POST),
                Some("infra-backend-v3"),
            ),
            (get("/").with_method(Method::HEAD), None),
            (get("/").with_method(Method::PUT), None),
        ],
    );
}

#[test]
fn httproute_hostname_intersection() {
    let listeners = [
        listener("listener-1", 80, Some("very.specific.com")),
        listener("listener-2", 80, Some("*.wildcard.io")),
        listener("listener-3", 80, Some("*.anotherwildcard.io")),
    ];
    let all = ["listener-1", "listener-2", "listener-3"];
    let prefix_route = |name: &str, hosts: &[&str], prefix: &str, b: &str| {
        route(
            name,
            1,
            &all,
            json!({"hostnames": hosts, "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": prefix}}], "backendRefs": one_backend(b)}]}),
        )
    };
    let c = table(
        &listeners,
        &[
            prefix_route(
                "specific-host-matches-listener-specific-host",
                &[
                    "non.matching.com",
                    "*.nonmatchingwildcard.io",
                    "very.specific.com",
                ],
                "/s1",
                "infra-backend-v1",
            ),
            prefix_route(
                "specific-host-matches-listener-wildcard-host",
                &[
                    "non.matching.com",
                    "wildcard.io",
                    "foo.wildcard.io",
                    "bar.wildcard.io",
                    "foo.bar.wildcard.io",
                ],
                "/s2",
                "infra-backend-v2",
            ),
            prefix_route(
                "wildcard-host-matches-listener-specific-host",
                &["non.matching.com", "*.specific.com"],
                "/s3",
                "infra-backend-v3",
            ),
            prefix_route(
                "wildcard-host-matches-listener-wildcard-host",
                &["*.anotherwildcard.io"],
                "/s4",
                "infra-backend-v1",
            ),
            prefix_route(
                "no-intersecting-hosts",
                &["specific.but.wrong.com", "wildcard.io"],
                "/s5",
                "infra-backend-v2",
            ),
        ],
    );
    let r = RequestHead::get;
    check(
        port80(&c),
        &[
            (r("very.specific.com", "/s1"), Some("infra-backend-v1")),
            (r("very.specific.com:1234", "/s1"), Some("infra-backend-v1")),
            (r("non.matching.com", "/s1"), None),
            (r("foo.nonmatchingwildcard.io", "/s1"), None),
            (r("foo.wildcard.io", "/s1"), None),
            (r("very.specific.com", "/non-matching-prefix"), None),
            (r("foo.wildcard.io", "/s2"), Some("infra-backend-v2")),
            (r("bar.wildcard.io", "/s2"), Some("infra-backend-v2")),
            (r("foo.bar.wildcard.io", "/s2"), Some("infra-backend-v2")),
            (r("non.matching.com", "/s2"), None),
            (r("wildcard.io", "/s2"), None),
            (r("very.specific.com", "/s2"), None),
            (r("foo.wildcard.io", "/non-matching-prefix"), None),
            (r("very.specific.com", "/s3"), Some("infra-backend-v3")),
            (r("non.matching.com", "/s3"), None),
            (r("foo.specific.com", "/s3"), None),
            (r("foo.wildcard.io", "/s3"), None),
            (r("foo.anotherwildcard.io", "/s4"), Some("infra-backend-v1")),
            (r("bar.anotherwildcard.io", "/s4"), Some("infra-backend-v1")),
            (
                r("foo.bar.anotherwildcard.io", "/s4"),
                Some("infra-backend-v1"),
            ),
            (r("anotherwildcard.io", "/s4"), None),
            (r("foo.wildcard.io", "/s4"), None),
            (r("very.specific.com", "/s4"), None),
            (r("specific.but.wrong.com", "/s5"), None),
            (r("wildcard.io", "/s5"), None),
        ],
    );

    // The second Gateway: a listener without hostname takes the route's.
    let c = table(
        &[listener("listener-1", 80, None)],
        &[route(
            "httproute-hostname-intersection-all",
            1,
            &["listener-1"],
            json!({"hostnames": ["first.com", "sub.first.com", "second.com", "sub.second.com"], "rules": [{"backendRefs": one_backend("infra-backend-v2")}]}),
        )],
    );
    check(
        port80(&c),
        &[
            (r("first.com", "/"), Some("infra-backend-v2")),
            (r("sub.first.com", "/"), Some("infra-backend-v2")),
            (r("second.com", "/"), Some("infra-backend-v2")),
            (r("sub.second.com", "/"), Some("infra-backend-v2")),
            (r("third.com", "/"), None),
            (r("sub.third.com", "/"), None),
        ],
    );
}

#[test]
fn httproute_listener_hostname_matching() {
    let listeners = [
        listener("listener-1", 80, Some("bar.com")),
        listener("listener-2", 80, Some("foo.bar.com")),
        listener("listener-3", 80, Some("*.bar.com")),
        listener("listener-4", 80, Some("*.foo.com")),
    ];
    let catch_all = |b: &str| json!({"rules": [{"backendRefs": one_backend(b)}]});
    let c = table(
        &listeners,
        &[
            route(
                "backend-v1",
                1,
                &["listener-1"],
                catch_all("infra-backend-v1"),
            ),
            route(
                "backend-v2",
                1,
                &["listener-2"],
                catch_all("infra-backend-v2"),
            ),
            route(
                "backend-v3",
                1,
                &["listener-3", "listener-4"],
                catch_all("infra-backend-v3"),
            ),
        ],
    );
    let r = |h: &str| RequestHead::get(h, "/");
    check(
        port80(&c),
        &[
            (r("bar.com"), Some("infra-backend-v1")),
            (r("foo.bar.com"), Some("infra-backend-v2")),
            (r("baz.bar.com"), Some("infra-backend-v3")),
            (r("boo.bar.com"), Some("infra-backend-v3")),
            (r("multiple.prefixes.bar.com"), Some("infra-backend-v3")),
            (r("multiple.prefixes.foo.com"), Some("infra-backend-v3")),
            (r("foo.com"), None),
            (r("no.matching.host"), None),
        ],
    );
    let Some(s) = port80(&c).select(&r("foo.bar.com")) else {
        panic!("foo.bar.com selects");
    };
    assert_eq!(s.listener, "listener-2");
}

#[test]
fn httproute_matching_across_routes() {
    let c = table(
        &[listener("http", 80, None)],
        &[
            route(
                "matching-part1",
                1,
                &["http"],
                json!({"hostnames": ["example.com", "example.net"], "rules": [
                    {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}, {"headers": [{"name": "version", "value": "one"}]}], "backendRefs": one_backend("infra-backend-v1")},
                ]}),
            ),
            route(
                "matching-part2",
                1,
                &["http"],
                json!({"hostnames": ["example.com"], "rules": [
                    {"matches": [{"path": {"type": "PathPrefix", "value": "/v2"}}, {"headers": [{"name": "version", "value": "two"}]}], "backendRefs": one_backend("infra-backend-v2")},
                ]}),
            ),
        ],
    );
    let r = RequestHead::get;
    check(
        port80(&c),
        &[
            (r("example.com", "/"), Some("infra-backend-v1")),
            (r("example.com", "/example"), Some("infra-backend-v1")),
            (r("example.net", "/example"), Some("infra-backend-v1")),
            (
                r("example.com", "/example").with_header("Version", "one"),
                Some("infra-backend-v1"),
            ),
            (r("example.com", "/v2"), Some("infra-backend-v2")),
            (r("example.net", "/v2"), Some("infra-backend-v1")),
            (r("example.com", "/v2/example"), Some("infra-backend-v2")),
            (
                r("example.com", "/").with_header("Version", "two"),
                Some("infra-backend-v2"),
            ),
            (r("example.org", "/"), None),
        ],
    );
}

/// Equal matches in different routes: the oldest route wins, then namespace/name;
/// within a route, the first rule.
#[test]
fn ties_go_to_oldest_then_name_then_rule_order() {
    let same = |b: &str| json!({"matches": [{"path": {"type": "PathPrefix", "value": "/tie"}}], "backendRefs": one_backend(b)});
    for (routes, want) in [
        (
            vec![
                route("b-route", 10, &["http"], json!({"rules": [same("newer")]})),
                route("a-route", 5, &["http"], json!({"rules": [same("older")]})),
            ],
            "older",
        ),
        (
            vec![
                route("b-route", 5, &["http"], json!({"rules": [same("b")]})),
                route("a-route", 5, &["http"], json!({"rules": [same("a")]})),
            ],
            "a",
        ),
        (
            vec![route(
                "r",
                5,
                &["http"],
                json!({"rules": [same("first"), same("second")]}),
            )],
            "first",
        ),
    ] {
        let c = table(&[listener("http", 80, None)], &routes);
        assert_eq!(backend(port80(&c), &get("/tie/x")).as_deref(), Some(want));
    }
}

#[test]
fn ports_and_listener_attachment_are_respected() {
    let c = table(
        &[listener("http", 80, None), listener("alt", 8080, None)],
        &[
            route(
                "on-80",
                1,
                &["http"],
                json!({"rules": [{"backendRefs": one_backend("v80")}]}),
            ),
            route(
                "on-8080",
                1,
                &["alt"],
                json!({"rules": [{"backendRefs": one_backend("v8080")}]}),
            ),
            route(
                "detached",
                1,
                &[],
                json!({"rules": [{"backendRefs": one_backend("never")}]}),
            ),
        ],
    );
    assert_eq!(backend(port80(&c), &get("/")).as_deref(), Some("v80"));
    let Some(alt) = c.tables.get(&8080) else {
        panic!("8080 table");
    };
    assert_eq!(backend(alt, &get("/")).as_deref(), Some("v8080"));
    assert_eq!(c.tables.len(), 2);
}

#[test]
fn invalid_rules_are_reported_and_left_out() {
    let c = build(
        &[listener("http", 80, None)],
        &[route(
            "bad",
            1,
            &["http"],
            json!({"rules": [
                {"matches": [{"path": {"type": "RegularExpression", "value": "/(("}}], "backendRefs": one_backend("bad")},
                {"matches": [{"path": {"type": "Exact", "value": "/exact"}}], "filters": [{"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/x"}}}], "backendRefs": one_backend("bad")},
                {"timeouts": {"request": "soon"}, "backendRefs": one_backend("bad")},
                {"matches": [{"path": {"type": "PathPrefix", "value": "/good"}}], "backendRefs": one_backend("good")},
            ]}),
        )],
        &AllowAll,
    );
    assert_eq!(c.errors.len(), 3, "{:?}", c.errors);
    assert!(c.errors.iter().all(|e| e.route().name == "bad"));
    assert!(
        c.errors[0]
            .to_string()
            .contains("gateway-conformance-infra/bad rule 0"),
        "{}",
        c.errors[0]
    );
    assert_eq!(backend(port80(&c), &get("/good")).as_deref(), Some("good"));
    assert_eq!(backend(port80(&c), &get("/exact")), None);
}

/// httproute-omitted-backendrefs style: a rule without backendRefs still
/// selects, and answers 500.
#[test]
fn rule_without_backends_selects_and_answers_500() {
    let c = table(
        &[listener("http", 80, None)],
        &[route("empty", 1, &["http"], json!({"rules": [{}]}))],
    );
    assert_eq!(
        backend(port80(&c), &get("/anything")).as_deref(),
        Some("500")
    );
}

#[test]
fn from_http_route_takes_metadata() {
    let r: gateway_api::httproutes::HttpRoute = match serde_json::from_value(json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "r", "namespace": "ns", "creationTimestamp": "2026-01-02T03:04:05Z"},
        "spec": {"rules": [{"backendRefs": [{"name": "svc", "port": 80}]}]},
    })) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    let input = RouteInput::from_http_route(&r, vec!["http".into()]);
    assert_eq!((input.namespace.as_str(), input.name.as_str()), ("ns", "r"));
    assert!(input.created.is_some());
    let c = table(&[listener("http", 80, None)], &[input]);
    assert_eq!(backend(port80(&c), &get("/")).as_deref(), Some("svc"));
}

/// gateway-http-listener-isolation: a host belongs to the most specific
/// listener covering it, even one without routes (404, not a fallback to a
/// wildcard listener's routes).
#[test]
fn listener_isolation_holds_without_routes() {
    let listeners = [
        listener("empty", 80, None),
        listener("wildcard", 80, Some("*.example.com")),
        listener("foo-wildcard", 80, Some("*.foo.example.com")),
        listener("abc", 80, Some("abc.foo.example.com")),
    ];
    let r = route(
        "attaches-to-wildcard",
        1,
        &["wildcard"],
        json!({"rules": [{"backendRefs": [{"name": "v1", "port": 8080}]}]}),
    );
    let c = table(&listeners, &[r]);
    let t = &c.tables[&80];
    check(
        t,
        &[
            (RequestHead::get("bar.example.com", "/"), Some("v1")),
            (RequestHead::get("bar.foo.example.com", "/"), None),
            (RequestHead::get("abc.foo.example.com", "/"), None),
            (RequestHead::get("bar.com", "/"), None),
        ],
    );
}

/// httproute-https-listener-detect-misdirected-requests: a connection whose
/// server name chose one listener serves no host of another.
#[test]
fn misdirected_when_sni_and_host_pick_different_listeners() {
    let listeners = [
        listener("https", 443, None),
        listener("second", 443, Some("second-example.org")),
        listener("wildcard", 443, Some("*.wildcard.org")),
        listener("fourth", 443, Some("fourth-example.wildcard.org")),
    ];
    let c = table(&listeners, &[]);
    let t = &c.tables[&443];
    for (sni, host, want) in [
        ("example.org", "example.org", false),
        ("example.org", "second-example.org", true),
        ("example.org", "unknown-example.org", false),
        ("second-example.org", "example.org", true),
        ("second-example.org", "unknown-example.org", true),
        (
            "third-example.wildcard.org",
            "fith-example.wildcard.org",
            false,
        ),
        (
            "third-example.wildcard.org",
            "fourth-example.wildcard.org",
            true,
        ),
        (
            "fourth-example.wildcard.org",
            "fith-example.wildcard.org",
            true,
        ),
        ("unknown-example.org", "example.org", false),
    ] {
        assert_eq!(t.misdirected(sni, host), want, "SNI {sni}, Host {host}");
    }
}
