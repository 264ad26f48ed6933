//! What routing needs to know about a request, taken once from its head.

use http::{HeaderMap, Method};

/// The parts of a request that routing looks at.
#[derive(Debug, Clone)]
pub struct RequestHead {
    pub method: Method,
    /// Authority without its port, lowercased: hostnames match case-insensitively
    /// and the spec says a port in Host MUST be ignored.
    pub host: String,
    /// Path without the query.
    pub path: String,
    /// Raw query (after `?`), when there is one.
    pub query: Option<String>,
    pub headers: HeaderMap,
}

impl RequestHead {
    /// Reads the head of a request as hyper hands it over: the URI's authority
    /// (HTTP/2, absolute-form) wins over the Host header (HTTP/1.1).
    pub fn from_parts(parts: &http::request::Parts) -> Self {
        let authority = parts
            .uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .or_else(|| {
                parts
                    .headers
                    .get(http::header::HOST)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            })
            .unwrap_or_default();
        Self {
            method: parts.method.clone(),
            host: host_without_port(&authority),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers.clone(),
        }
    }

    /// A GET for `host` and `path_and_query`, for tests and probes.
    pub fn get(host: &str, path_and_query: &str) -> Self {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
            None => (path_and_query.to_owned(), None),
        };
        Self {
            method: Method::GET,
            host: host_without_port(host),
            path,
            query,
            headers: HeaderMap::new(),
        }
    }

    /// Adds a header; names that are not valid HTTP are dropped, as hyper would
    /// never have produced them.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(n), Ok(v)) = (
            http::header::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(value),
        ) {
            self.headers.append(n, v);
        }
        self
    }

    pub fn with_method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// The request's values for `name`, joined with `,` as RFC 9110 §5.3 allows
    /// for repeated fields, or `None` when absent.
    pub fn header(&self, name: &str) -> Option<String> {
        let mut values = self
            .headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok());
        let first = values.next()?;
        Some(values.fold(first.to_owned(), |mut acc, v| {
            acc.push(',');
            acc.push_str(v);
            acc
        }))
    }

    /// The first value of query parameter `name` (names are case-sensitive). The
    /// spec leaves repeated parameters undefined; the first is what Envoy uses.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.as_deref()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then_some(v)
        })
    }
}

/// Lowercased host of an authority, without port; IPv6 literals keep brackets.
pub fn host_without_port(authority: &str) -> String {
    let host = if authority.starts_with('[') {
        match authority.find(']') {
            Some(end) => &authority[..=end],
            None => authority,
        }
    } else {
        authority.split(':').next().unwrap_or(authority)
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_without_port_rows() {
        for (input, want) in [
            ("very.specific.com:1234", "very.specific.com"),
            ("Example.COM", "example.com"),
            ("example.com.", "example.com"),
            ("[::1]:8080", "[::1]"),
            ("", ""),
        ] {
            assert_eq!(host_without_port(input), want, "{input}");
        }
    }

    #[test]
    fn repeated_headers_join_with_comma() {
        let r = RequestHead::get("a", "/")
            .with_header("X-A", "1")
            .with_header("x-a", "2");
        assert_eq!(r.header("x-a").as_deref(), Some("1,2"));
        assert_eq!(r.header("X-B"), None);
    }

    #[test]
    fn query_params() {
        let r = RequestHead::get("a", "/?animal=whale&otherparam=irrelevant&animal=dog&flag");
        assert_eq!(r.query_param("animal"), Some("whale"));
        assert_eq!(r.query_param("ANIMAL"), None);
        assert_eq!(r.query_param("flag"), Some(""));
        assert_eq!(r.query_param("missing"), None);
    }

    #[test]
    fn from_parts_prefers_uri_authority() {
        let Ok(req) = http::Request::builder()
            .uri("http://Foo.Example:8080/a/b?x=1")
            .header("host", "other")
            .body(())
        else {
            panic!("request builds");
        };
        let (parts, ()) = req.into_parts();
        let head = RequestHead::from_parts(&parts);
        assert_eq!(head.host, "foo.example");
        assert_eq!(head.path, "/a/b");
        assert_eq!(head.query.as_deref(), Some("x=1"));
    }
}
