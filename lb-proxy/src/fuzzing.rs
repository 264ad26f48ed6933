//! Request routing without sockets, for the fuzz target (`lb-proxy/fuzz`)
//! and the stable-toolchain mutation test: arbitrary bytes become a request
//! head (host, path and query, method, headers), which goes through the
//! route table, the filter plan, the backend choice and the HTTP/2
//! addressing the data plane does. Nothing on that path may panic.

use std::net::SocketAddr;

use http::{HeaderName, HeaderValue, Method, Request};

use crate::{
    backends::{AllowAll, BackendChoice},
    dataplane::upstream::{self, Wire},
    filters::{self, Plan, Scheme},
    grpc::{self, RouteKind},
    request::RequestHead,
    route_table::{self, PortTable},
    routes::{Listener, RouteInput},
};

/// Routes covering every match kind, precedence rule and filter, on two
/// listeners (one wildcard), with an HTTPRoute and a GRPCRoute.
pub fn table() -> PortTable {
    let listeners = [
        Listener {
            name: "any".into(),
            port: 80,
            scheme: Scheme::Http,
            hostname: None,
        },
        Listener {
            name: "wild".into(),
            port: 80,
            scheme: Scheme::Http,
            hostname: Some("*.example.com".into()),
        },
    ];
    let http = serde_json::json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"namespace": "ns", "name": "http"},
        "spec": {"hostnames": ["shop.example.com", "*.example.com", "plain.test"], "rules": [
            {"matches": [{"path": {"type": "Exact", "value": "/exact"}},
                         {"path": {"type": "RegularExpression", "value": "/re/[a-z]+/\\d{2,}"}}],
             "backendRefs": [{"name": "a", "port": 80, "weight": 3},
                             {"name": "b", "port": 80, "weight": 1}]},
            {"matches": [{"path": {"type": "PathPrefix", "value": "/prefix/"},
                          "headers": [{"name": "x-v", "value": "1"},
                                      {"type": "RegularExpression", "name": "x-r", "value": "a.*b"}],
                          "queryParams": [{"name": "q", "value": "1"}],
                          "method": "POST"}],
             "filters": [{"type": "URLRewrite", "urlRewrite": {
                            "hostname": "rewritten.test",
                            "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}},
                         {"type": "RequestHeaderModifier", "requestHeaderModifier": {
                            "set": [{"name": "x-set", "value": "v"}],
                            "add": [{"name": "x-add", "value": "v"}], "remove": ["x-v"]}},
                         {"type": "ResponseHeaderModifier", "responseHeaderModifier": {
                            "add": [{"name": "x-resp", "value": "v"}]}}],
             "backendRefs": [{"name": "a", "port": 80, "weight": 3},
                             {"name": "b", "port": 80, "weight": 1}]},
            {"matches": [{"path": {"type": "PathPrefix", "value": "/redirect"}}],
             "filters": [{"type": "RequestRedirect", "requestRedirect": {
                "scheme": "https", "port": 8443, "statusCode": 301,
                "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/new"}}}]},
            {"matches": [{"path": {"type": "PathPrefix", "value": "/full"}}],
             "filters": [{"type": "URLRewrite", "urlRewrite": {
                "path": {"type": "ReplaceFullPath", "replaceFullPath": "/replaced"}}}],
             "backendRefs": [{"name": "a", "port": 80}]},
            {"matches": [{"path": {"type": "PathPrefix", "value": "/cors"}}],
             "filters": [{"type": "CORS", "cors": {
                "allowOrigins": ["https://*.example.com", "http://plain.test"],
                "allowMethods": ["GET", "PUT"], "allowHeaders": ["x-a"],
                "allowCredentials": true, "maxAge": 10}}],
             "backendRefs": [{"name": "a", "port": 80}]},
            {"backendRefs": [{"name": "a", "port": 80, "weight": 0}]},
        ]},
    });
    let grpc = serde_json::json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "GRPCRoute",
        "metadata": {"namespace": "ns", "name": "grpc"},
        "spec": {"hostnames": ["grpc.example.com"], "rules": [
            {"matches": [{"method": {"service": "echo.Echo", "method": "Say"}},
                         {"method": {"type": "RegularExpression", "service": "e.*", "method": "S.*"}},
                         {"method": {"method": "Other"}, "headers": [{"name": "v", "value": "2"}]}],
             "backendRefs": [{"name": "a", "port": 80}]},
        ]},
    });
    let mut inputs = Vec::new();
    if let Ok(route) = serde_json::from_value(http) {
        inputs.push(RouteInput::from_http_route(
            &route,
            vec!["any".into(), "wild".into()],
        ));
    }
    if let Some(route) = serde_json::from_value(grpc)
        .ok()
        .and_then(|r| grpc::to_http_route(&r).ok())
    {
        inputs.push(RouteInput::of_kind(
            RouteKind::Grpc,
            &route,
            vec!["any".into(), "wild".into()],
        ));
    }
    let mut compiled = route_table::build(&listeners, &inputs, &AllowAll);
    compiled.tables.remove(&80).unwrap_or_default()
}

/// One request from `data`: lines are host, path and query, method, then
/// `name: value` headers. Returns the status a client would get (0 when
/// the bytes are not a request hyper would accept).
pub fn route(table: &PortTable, data: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let host = lines.next().unwrap_or_default();
    let target = lines.next().unwrap_or("/");
    let method = Method::from_bytes(lines.next().unwrap_or("GET").as_bytes()).unwrap_or_default();
    let mut builder = Request::builder().method(method).uri(target);
    if let Ok(h) = HeaderValue::from_str(host) {
        builder = builder.header(http::header::HOST, h);
    }
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value.trim()),
        ) {
            builder = builder.header(n, v);
        }
    }
    // hyper rejects what `http` cannot represent, before routing.
    let Ok(request) = builder.body(()) else {
        return 0;
    };
    let (parts, ()) = request.into_parts();
    let head = RequestHead::from_parts(&parts);
    let Some(selected) = table.select(&head) else {
        return 404;
    };
    match filters::plan(&selected, &head, selected.ingress) {
        Plan::Redirect(r) => r.status,
        Plan::Respond { status, .. } => status,
        Plan::Forward(fwd) => {
            let mut headers = parts.headers.clone();
            fwd.request.apply_headers(&mut headers);
            fwd.response.apply(&mut headers);
            if !matches!(
                selected.rule.backends.choose(data.len() as u64),
                BackendChoice::Forward(_)
            ) {
                return 500;
            }
            let path = fwd
                .request
                .path_and_query
                .clone()
                .unwrap_or_else(|| target.to_owned());
            let mut out = Request::new(());
            *out.headers_mut() = headers;
            if let Some(host) = fwd.request.host.as_deref()
                && let Ok(v) = HeaderValue::from_str(host)
            {
                out.headers_mut().insert(http::header::HOST, v);
            }
            let endpoint = SocketAddr::from(([192, 0, 2, 1], 8080));
            for wire in [Wire::Http1, Wire::H2c] {
                if upstream::address(&mut out, wire, endpoint, &path).is_err() {
                    return 500;
                }
            }
            200
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixed table routes what it should (so the mutation test below
    /// starts from requests that reach every branch).
    #[test]
    fn seeds_reach_every_branch() {
        let t = table();
        for (seed, want) in [
            ("shop.example.com\n/exact\nGET", 200),
            ("a.example.com\n/re/abc/123\nGET", 200),
            (
                "shop.example.com\n/prefix/x?q=1\nPOST\nx-v: 1\nx-r: a-b",
                200,
            ),
            ("shop.example.com\n/redirect/x\nGET", 301),
            (
                "shop.example.com\n/cors\nOPTIONS\norigin: https://a.example.com\naccess-control-request-method: PUT",
                204,
            ),
            ("grpc.example.com\n/echo.Echo/Say\nPOST", 200),
            ("nobody.test\n/\nGET", 404),
            ("plain.test\n/anything\nGET", 500),
        ] {
            assert_eq!(route(&t, seed.as_bytes()), want, "{seed:?}");
        }
    }

    /// 100 000 mutations of the seeds (bytes flipped, inserted, removed,
    /// lines duplicated): every one routes or is refused, none panics.
    #[test]
    fn mutated_requests_never_panic() {
        let t = table();
        let seeds: [&[u8]; 4] = [
            b"shop.example.com\n/prefix/x?q=1\nPOST\nx-v: 1\nx-r: a-b",
            b"shop.example.com\n/redirect/a/b?c\nGET",
            b"grpc.example.com\n/echo.Echo/Say\nPOST\nv: 2",
            b"a.example.com:8080\n/re/abc/12?x=%41\nGET\norigin: http://plain.test",
        ];
        let mut rng = fastrand::Rng::with_seed(7);
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..100_000 {
            let mut data = seeds[i % seeds.len()].to_vec();
            for _ in 0..rng.usize(1..6) {
                let at = rng.usize(..=data.len());
                match rng.u8(..4) {
                    0 if at < data.len() => data[at] = rng.u8(..),
                    1 => data.insert(at, rng.u8(..)),
                    2 if at < data.len() => {
                        data.remove(at);
                    }
                    _ => data.extend_from_slice(b"\n/%2e%2e/x\nx-v: 1"),
                }
            }
            seen.insert(route(&t, &data));
        }
        // Mutations reach both routed and refused outcomes.
        assert!(
            seen.contains(&200) && seen.contains(&404) && seen.contains(&0),
            "{seen:?}"
        );
    }
}
