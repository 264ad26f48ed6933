use super::*;

const HTTP_80: Ingress = Ingress {
    scheme: Scheme::Http,
    port: 80,
};
const HTTP_8080: Ingress = Ingress {
    scheme: Scheme::Http,
    port: 8080,
};
const HTTPS_443: Ingress = Ingress {
    scheme: Scheme::Https,
    port: 443,
};

fn catch_all() -> PathMatch {
    PathMatch::Prefix {
        value: "/".into(),
        trimmed: String::new(),
    }
}

fn filter(scheme: Option<Scheme>, port: Option<u16>) -> RedirectFilter {
    RedirectFilter {
        scheme,
        hostname: Some("example.org".into()),
        path: None,
        port,
        status: 302,
    }
}

/// Every row of httproute-redirect-port-and-scheme (listeners on 80, 8080, 443).
#[test]
fn httproute_redirect_port_and_scheme() {
    use Scheme::{Http, Https};
    for (ingress, scheme, port, want) in [
        (HTTP_80, None, None, "http://example.org/p"),
        (HTTP_80, None, Some(80), "http://example.org/p"),
        (HTTP_80, None, Some(8080), "http://example.org:8080/p"),
        (HTTP_80, Some(Https), None, "https://example.org/p"),
        (HTTP_80, Some(Https), Some(443), "https://example.org/p"),
        (
            HTTP_80,
            Some(Https),
            Some(8443),
            "https://example.org:8443/p",
        ),
        (HTTP_8080, None, None, "http://example.org:8080/p"),
        (HTTP_8080, None, Some(80), "http://example.org/p"),
        (HTTP_8080, Some(Https), None, "https://example.org/p"),
        (HTTPS_443, None, None, "https://example.org/p"),
        (HTTPS_443, None, Some(443), "https://example.org/p"),
        (HTTPS_443, None, Some(8443), "https://example.org:8443/p"),
        (HTTPS_443, Some(Http), None, "http://example.org/p"),
        (HTTPS_443, Some(Http), Some(80), "http://example.org/p"),
        (
            HTTPS_443,
            Some(Http),
            Some(8080),
            "http://example.org:8080/p",
        ),
    ] {
        let r = filter(scheme, port).redirect(
            &RequestHead::get("gw.example", "/p"),
            &catch_all(),
            ingress,
        );
        assert_eq!(r.location, want, "{ingress:?} {scheme:?} {port:?}");
        assert_eq!(r.status, 302);
    }
}

/// httproute-redirect-host-and-status, httproute-redirect-port, httproute-redirect-scheme,
/// httproute-30x-redirect: the request's host is kept unless replaced.
#[test]
fn httproute_redirect_host_port_status() {
    for (hostname, scheme, port, status, path, want) in [
        (
            Some("example.org"),
            None,
            None,
            302,
            "/hostname-redirect",
            "http://example.org/hostname-redirect",
        ),
        (
            Some("example.org"),
            None,
            None,
            301,
            "/host-and-status",
            "http://example.org/host-and-status",
        ),
        (
            None,
            None,
            Some(8083),
            302,
            "/port",
            "http://gw.example:8083/port",
        ),
        (
            Some("example.org"),
            None,
            Some(8083),
            302,
            "/port-and-host",
            "http://example.org:8083/port-and-host",
        ),
        (
            None,
            Some(Scheme::Https),
            None,
            302,
            "/scheme",
            "https://gw.example/scheme",
        ),
        (None, None, None, 303, "/303", "http://gw.example/303"),
        (None, None, None, 307, "/307", "http://gw.example/307"),
        (
            None,
            None,
            None,
            308,
            "/308?keep=me",
            "http://gw.example/308?keep=me",
        ),
    ] {
        let f = RedirectFilter {
            scheme,
            hostname: hostname.map(str::to_owned),
            path: None,
            port,
            status,
        };
        let r = f.redirect(
            &RequestHead::get("gw.example:80", path),
            &catch_all(),
            HTTP_80,
        );
        assert_eq!(
            r,
            Redirect {
                location: want.to_owned(),
                status
            },
            "{path}"
        );
    }
}

/// httproute-redirect-path rows.
#[test]
fn httproute_redirect_path() {
    let prefix = |v: &str| PathMatch::Prefix {
        value: v.into(),
        trimmed: v.trim_end_matches('/').into(),
    };
    for (matched, modifier, hostname, path, want) in [
        (
            "/original-prefix",
            PathModifier::ReplacePrefixMatch("/replacement-prefix".into()),
            None,
            "/original-prefix/lemon",
            "http://gw.example/replacement-prefix/lemon",
        ),
        (
            "/full",
            PathModifier::ReplaceFullPath("/full-path-replacement".into()),
            None,
            "/full/path/original",
            "http://gw.example/full-path-replacement",
        ),
        (
            "/path-and-host",
            PathModifier::ReplacePrefixMatch("/replacement-prefix".into()),
            Some("example.org"),
            "/path-and-host",
            "http://example.org/replacement-prefix",
        ),
        (
            "/full-path-and-host",
            PathModifier::ReplaceFullPath("/replacement-full".into()),
            Some("example.org"),
            "/full-path-and-host",
            "http://example.org/replacement-full",
        ),
    ] {
        let f = RedirectFilter {
            scheme: None,
            hostname: hostname.map(str::to_owned),
            path: Some(modifier),
            port: None,
            status: 302,
        };
        let r = f.redirect(
            &RequestHead::get("gw.example", path),
            &prefix(matched),
            HTTP_80,
        );
        assert_eq!(r.location, want, "{path}");
    }
}
