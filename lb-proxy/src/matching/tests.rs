use serde_json::json;

use super::*;

fn compile(m: serde_json::Value) -> RouteMatch {
    let m: HttpRouteRulesMatches = match serde_json::from_value(m) {
        Ok(m) => m,
        Err(e) => panic!("match does not parse: {e}"),
    };
    match RouteMatch::compile(&m) {
        Ok(m) => m,
        Err(e) => panic!("match does not compile: {e}"),
    }
}

fn prefix(v: &str) -> RouteMatch {
    compile(json!({"path": {"type": "PathPrefix", "value": v}}))
}

/// PathPrefix is element-wise and ignores a trailing `/` (httproute-matching,
/// httproute-path-match-order, the spec's own examples).
#[test]
fn httproute_matching_path_prefix() {
    for (value, path, want) in [
        ("/", "/", true),
        ("/", "/example", true),
        ("/v2", "/v2", true),
        ("/v2", "/v2/", true),
        ("/v2", "/v2/example", true),
        ("/v2", "/v2example", false),
        ("/v2", "/foo/v2/example", false),
        ("/abc/", "/abc", true),
        ("/abc/", "/abc/def", true),
        ("/abc/", "/abcd", false),
        ("/abc", "/ABC", false),
        ("/match/prefix/one", "/match/prefix/one/any", true),
        ("/match/prefix/one", "/match/prefix/oneany", false),
    ] {
        assert_eq!(
            prefix(value).matches(&RequestHead::get("h", path)),
            want,
            "{value} vs {path}"
        );
    }
}

#[test]
fn httproute_exact_path_matching() {
    let m = compile(json!({"path": {"type": "Exact", "value": "/one"}}));
    for (path, want) in [
        ("/one", true),
        ("/one/", false),
        ("/one/example", false),
        ("/on", false),
        ("/One", false),
    ] {
        assert_eq!(m.matches(&RequestHead::get("h", path)), want, "{path}");
    }
}

#[test]
fn path_regular_expression_is_anchored() {
    let m = compile(json!({"path": {"type": "RegularExpression", "value": "/v[0-9]+/.*"}}));
    for (path, want) in [
        ("/v1/a", true),
        ("/v12/", true),
        ("/x/v1/a", false),
        ("/v1", false),
        ("/vx/a", false),
    ] {
        assert_eq!(m.matches(&RequestHead::get("h", path)), want, "{path}");
    }
}

/// Rows of httproute-header-matching: names are case-insensitive, values exact.
#[test]
fn httproute_header_matching() {
    let m = compile(
        json!({"headers": [{"name": "version", "value": "two"}, {"name": "color", "value": "orange"}]}),
    );
    for (headers, want) in [
        (vec![("Version", "two"), ("Color", "orange")], true),
        (vec![("VERSION", "two"), ("color", "orange")], true),
        (vec![("Version", "two")], false),
        (vec![("Version", "two"), ("Color", "Orange")], false),
        (vec![("Version", "two"), ("Color", "blue")], false),
        (vec![("Some-Other-Header", "one")], false),
    ] {
        let req = headers
            .iter()
            .fold(RequestHead::get("h", "/"), |r, (n, v)| r.with_header(n, v));
        assert_eq!(m.matches(&req), want, "{headers:?}");
    }
}

#[test]
fn header_regular_expression_and_repeated_values() {
    let re = compile(
        json!({"headers": [{"type": "RegularExpression", "name": "x-id", "value": "[0-9]{3}"}]}),
    );
    for (values, want) in [
        (vec!["123"], true),
        (vec!["1234"], false),
        (vec!["abc"], false),
        (vec![], false),
    ] {
        let req = values
            .iter()
            .fold(RequestHead::get("h", "/"), |r, v| r.with_header("X-Id", v));
        assert_eq!(re.matches(&req), want, "{values:?}");
    }
    // A repeated header is matched as its comma-joined value (RFC 9110 §5.3).
    let exact = compile(json!({"headers": [{"name": "x-a", "value": "1,2"}]}));
    let req = RequestHead::get("h", "/")
        .with_header("x-a", "1")
        .with_header("x-a", "2");
    assert!(exact.matches(&req));
}

#[test]
fn duplicate_header_names_only_first_counts() {
    let m = compile(
        json!({"headers": [{"name": "version", "value": "one"}, {"name": "Version", "value": "two"}]}),
    );
    assert_eq!(m.headers.len(), 1);
    assert!(m.matches(&RequestHead::get("h", "/").with_header("version", "one")));
}

/// Rows of httproute-query-param-matching: names and values are case-sensitive.
#[test]
fn httproute_query_param_matching() {
    let one = compile(json!({"queryParams": [{"name": "animal", "value": "whale"}]}));
    let two = compile(
        json!({"queryParams": [{"name": "animal", "value": "dolphin"}, {"name": "color", "value": "blue"}]}),
    );
    let re = compile(
        json!({"queryParams": [{"type": "RegularExpression", "name": "animal", "value": "wha.e"}]}),
    );
    for (m, path, want) in [
        (&one, "/?animal=whale", true),
        (&one, "/?animal=whale&otherparam=irrelevant", true),
        (&one, "/?ANIMAL=Whale", false),
        (&one, "/?animal=whaledolphin", false),
        (&one, "/?color=blue", false),
        (&one, "/", false),
        (&two, "/?animal=dolphin&color=blue", true),
        (&two, "/?color=blue&animal=dolphin", true),
        (&two, "/?animal=dolphin&color=yellow", false),
        (&two, "/?animal=dolphin", false),
        (&re, "/?animal=whale", true),
        (&re, "/?animal=whales", false),
    ] {
        assert_eq!(m.matches(&RequestHead::get("h", path)), want, "{path}");
    }
}

#[test]
fn httproute_method_matching() {
    let post = compile(json!({"method": "POST"}));
    for (method, want) in [
        (Method::POST, true),
        (Method::GET, false),
        (Method::HEAD, false),
    ] {
        let req = RequestHead::get("h", "/").with_method(method.clone());
        assert_eq!(post.matches(&req), want, "{method}");
    }
}

#[test]
fn rank_follows_spec_order() {
    let exact = compile(json!({"path": {"type": "Exact", "value": "/a"}}));
    let regex = compile(json!({"path": {"type": "RegularExpression", "value": "/a.*"}}));
    let long_prefix = prefix("/a/b");
    let short_prefix = prefix("/a");
    let method = compile(json!({"path": {"type": "PathPrefix", "value": "/a"}, "method": "GET"}));
    let two_headers = compile(
        json!({"path": {"type": "PathPrefix", "value": "/a"}, "headers": [{"name": "a", "value": "1"}, {"name": "b", "value": "1"}]}),
    );
    let one_header = compile(
        json!({"path": {"type": "PathPrefix", "value": "/a"}, "headers": [{"name": "a", "value": "1"}]}),
    );
    let query = compile(
        json!({"path": {"type": "PathPrefix", "value": "/a"}, "queryParams": [{"name": "a", "value": "1"}]}),
    );
    let method_and_query = compile(
        json!({"path": {"type": "PathPrefix", "value": "/a"}, "method": "GET", "queryParams": [{"name": "a", "value": "1"}]}),
    );
    let ordered = [
        &exact,
        &regex,
        &long_prefix,
        &method_and_query,
        &method,
        &two_headers,
        &one_header,
        &query,
        &short_prefix,
    ];
    for pair in ordered.windows(2) {
        assert!(
            pair[0].rank() < pair[1].rank(),
            "{:?} should rank before {:?}",
            pair[0],
            pair[1]
        );
    }
}

#[test]
fn invalid_inputs_are_errors() {
    for m in [
        json!({"path": {"type": "RegularExpression", "value": "/(unclosed"}}),
        json!({"path": {"type": "Exact", "value": "relative"}}),
        json!({"headers": [{"name": "bad name", "value": "x"}]}),
        json!({"queryParams": [{"type": "RegularExpression", "name": "q", "value": "["}]}),
    ] {
        let parsed: HttpRouteRulesMatches = match serde_json::from_value(m.clone()) {
            Ok(p) => p,
            Err(e) => panic!("{m}: {e}"),
        };
        assert!(RouteMatch::compile(&parsed).is_err(), "{m}");
    }
}
