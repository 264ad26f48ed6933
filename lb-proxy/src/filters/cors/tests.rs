use gateway_api::httproutes::HttpRouteRulesFiltersCors;
use serde_json::json;

use super::*;

fn cors(v: serde_json::Value) -> Cors {
    let c: HttpRouteRulesFiltersCors = match serde_json::from_value(v) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    match Cors::from_json(&c) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

fn preflight(origin: &str, method: &str, headers: Option<&str>) -> RequestHead {
    let r = RequestHead::get("h", "/")
        .with_method(Method::OPTIONS)
        .with_header("Origin", origin)
        .with_header("access-control-request-method", method);
    match headers {
        Some(h) => r.with_header("access-control-request-headers", h),
        None => r,
    }
}

fn get(headers: &[(HeaderName, HeaderValue)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n.as_str() == name)
        .and_then(|(_, v)| v.to_str().ok())
        .map(str::to_owned)
}

/// httproute-cors rows for the route `cors-multiple-origins-methods-headers`.
#[test]
fn httproute_cors_multiple_origins() {
    let c = cors(json!({
        "allowOrigins": ["https://www.foo.com", "https://*.bar.com"],
        "allowMethods": ["GET", "OPTIONS"],
        "allowHeaders": ["x-header-1", "x-header-2"],
        "exposeHeaders": ["x-header-3", "x-header-4"],
        "allowCredentials": true,
        "maxAge": 3600,
    }));
    for origin in [
        "https://www.foo.com",
        "https://www.bar.com",
        "https://xpto.www.bar.com",
    ] {
        let CorsOutcome::Preflight(h) =
            c.evaluate(&preflight(origin, "GET", Some("x-header-1, x-header-2")))
        else {
            panic!("{origin}: not a preflight");
        };
        assert_eq!(
            get(&h, "access-control-allow-origin").as_deref(),
            Some(origin)
        );
        assert_eq!(
            get(&h, "access-control-allow-methods").as_deref(),
            Some("GET, OPTIONS")
        );
        assert_eq!(
            get(&h, "access-control-allow-headers").as_deref(),
            Some("x-header-1, x-header-2")
        );
        assert_eq!(
            get(&h, "access-control-expose-headers").as_deref(),
            Some("x-header-3, x-header-4")
        );
        assert_eq!(get(&h, "access-control-max-age").as_deref(), Some("3600"));
        assert_eq!(
            get(&h, "access-control-allow-credentials").as_deref(),
            Some("true")
        );
    }
    // Not allowed: the preflight is answered without any CORS header.
    assert_eq!(
        c.evaluate(&preflight("https://foobar.com", "GET", None)),
        CorsOutcome::Preflight(Vec::new())
    );
    // Actual requests.
    let actual =
        |origin: &str| c.evaluate(&RequestHead::get("h", "/").with_header("Origin", origin));
    let CorsOutcome::Actual(h) = actual("https://www.bar.com") else {
        panic!("allowed origin");
    };
    assert_eq!(
        get(&h, "access-control-allow-origin").as_deref(),
        Some("https://www.bar.com")
    );
    assert_eq!(actual("https://foobar.com"), CorsOutcome::NotCors);
    assert_eq!(
        c.evaluate(&RequestHead::get("h", "/")),
        CorsOutcome::NotCors
    );
}

#[test]
fn httproute_cors_wildcards() {
    let methods = cors(json!({"allowOrigins": ["https://www.foo.com"], "allowMethods": ["*"]}));
    let CorsOutcome::Preflight(h) =
        methods.evaluate(&preflight("https://www.foo.com", "POST", None))
    else {
        panic!("preflight");
    };
    assert_eq!(
        get(&h, "access-control-allow-methods").as_deref(),
        Some("POST")
    );
    assert_eq!(get(&h, "access-control-allow-credentials"), None);

    let origin =
        cors(json!({"allowOrigins": ["*"], "allowMethods": ["PUT"], "allowCredentials": false}));
    for o in ["https://foobar.com", "https://foobar.com:12345"] {
        let CorsOutcome::Preflight(h) = origin.evaluate(&preflight(o, "PUT", None)) else {
            panic!("preflight");
        };
        assert_eq!(get(&h, "access-control-allow-origin").as_deref(), Some(o));
        assert_eq!(
            get(&h, "access-control-allow-methods").as_deref(),
            Some("PUT")
        );
        assert_eq!(get(&h, "access-control-allow-credentials"), None);
    }

    let all = cors(
        json!({"allowOrigins": ["*"], "allowMethods": ["*"], "allowHeaders": ["*"], "allowCredentials": true}),
    );
    let CorsOutcome::Preflight(h) = all.evaluate(&preflight(
        "https://other.foo.com",
        "PUT",
        Some("x-header-1, x-header-2"),
    )) else {
        panic!("preflight");
    };
    assert_eq!(
        get(&h, "access-control-allow-origin").as_deref(),
        Some("https://other.foo.com")
    );
    assert_eq!(
        get(&h, "access-control-allow-methods").as_deref(),
        Some("PUT")
    );
    assert_eq!(
        get(&h, "access-control-allow-headers").as_deref(),
        Some("x-header-1, x-header-2")
    );
    assert_eq!(
        get(&h, "access-control-allow-credentials").as_deref(),
        Some("true")
    );
}
