//! The CORS filter: answers preflights itself and adds CORS headers to the
//! responses of allowed cross-origin requests.

use http::{HeaderName, HeaderValue, Method};
use regex::Regex;
use serde::{Deserialize, Serialize};

use super::FilterError;
use super::headers::header_value;
use crate::request::RequestHead;

#[derive(Debug, Clone)]
pub struct Cors {
    origins: Vec<OriginPattern>,
    allow_methods: Vec<String>,
    allow_headers: Vec<String>,
    expose_headers: Vec<String>,
    allow_credentials: bool,
    max_age: Option<u32>,
}

#[derive(Debug, Clone)]
enum OriginPattern {
    Any,
    Exact(String),
    /// `https://*.bar.com`: `*` stands for one or more labels.
    Wildcard(Regex),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    #[serde(default)]
    allow_origins: Vec<String>,
    #[serde(default)]
    allow_methods: Vec<String>,
    #[serde(default)]
    allow_headers: Vec<String>,
    #[serde(default)]
    expose_headers: Vec<String>,
    #[serde(default)]
    allow_credentials: Option<bool>,
    #[serde(default)]
    max_age: Option<i64>,
}

/// What the filter decides for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOutcome {
    /// Not a cross-origin request (no Origin): nothing to do.
    NotCors,
    /// A preflight: answer it here with 204 and these headers (none when the
    /// origin is not allowed, which tells the browser no).
    Preflight(Vec<(HeaderName, HeaderValue)>),
    /// An actual cross-origin request: forward it, add these to the response.
    Actual(Vec<(HeaderName, HeaderValue)>),
}

impl Cors {
    pub fn from_json(cors: &impl Serialize) -> Result<Self, FilterError> {
        let raw: Raw = serde_json::to_value(cors)
            .and_then(serde_json::from_value)
            .map_err(|e| FilterError::Malformed(e.to_string()))?;
        let origins = raw
            .allow_origins
            .iter()
            .map(|o| origin_pattern(o))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            origins,
            allow_methods: raw.allow_methods,
            allow_headers: raw.allow_headers,
            expose_headers: raw.expose_headers,
            allow_credentials: raw.allow_credentials.unwrap_or(false),
            max_age: raw.max_age.and_then(|a| u32::try_from(a).ok()),
        })
    }

    fn allows_origin(&self, origin: &str) -> bool {
        self.origins.iter().any(|p| match p {
            OriginPattern::Any => true,
            OriginPattern::Exact(o) => o.eq_ignore_ascii_case(origin),
            OriginPattern::Wildcard(re) => re.is_match(origin),
        })
    }

    pub fn evaluate(&self, req: &RequestHead) -> CorsOutcome {
        let Some(origin) = req.header("origin") else {
            return CorsOutcome::NotCors;
        };
        let requested_method = req.header("access-control-request-method");
        let preflight = req.method == Method::OPTIONS && requested_method.is_some();
        if !self.allows_origin(&origin) {
            return if preflight {
                CorsOutcome::Preflight(Vec::new())
            } else {
                CorsOutcome::NotCors
            };
        }
        let mut out = Vec::new();
        // The origin is echoed rather than `*`: always valid, and required
        // when credentials are allowed.
        push(&mut out, "access-control-allow-origin", &origin);
        if self.allow_credentials {
            push(&mut out, "access-control-allow-credentials", "true");
        }
        if !preflight {
            if !self.expose_headers.is_empty() {
                push(
                    &mut out,
                    "access-control-expose-headers",
                    &self.expose_headers.join(", "),
                );
            }
            return CorsOutcome::Actual(out);
        }
        // A `*` list is answered with what was asked: with credentials the
        // browser takes `*` literally, so echoing is right in both cases.
        let methods = if self.allow_methods.iter().any(|m| m == "*") {
            requested_method.unwrap_or_default()
        } else {
            self.allow_methods.join(", ")
        };
        if !methods.is_empty() {
            push(&mut out, "access-control-allow-methods", &methods);
        }
        let headers = if self.allow_headers.iter().any(|h| h == "*") {
            req.header("access-control-request-headers")
                .unwrap_or_default()
        } else {
            self.allow_headers.join(", ")
        };
        if !headers.is_empty() {
            push(&mut out, "access-control-allow-headers", &headers);
        }
        if !self.expose_headers.is_empty() {
            push(
                &mut out,
                "access-control-expose-headers",
                &self.expose_headers.join(", "),
            );
        }
        if let Some(age) = self.max_age {
            push(&mut out, "access-control-max-age", &age.to_string());
        }
        CorsOutcome::Preflight(out)
    }
}

fn push(out: &mut Vec<(HeaderName, HeaderValue)>, name: &'static str, value: &str) {
    // Values come from the request or validated config; one that is not a valid
    // header value is dropped rather than failing the request.
    if let Ok(v) = header_value(value) {
        out.push((HeaderName::from_static(name), v));
    }
}

fn origin_pattern(origin: &str) -> Result<OriginPattern, FilterError> {
    if origin == "*" {
        return Ok(OriginPattern::Any);
    }
    if !origin.contains('*') {
        return Ok(OriginPattern::Exact(origin.to_owned()));
    }
    let pattern = origin
        .split('*')
        .map(regex::escape)
        .collect::<Vec<_>>()
        .join("[^/]+");
    Regex::new(&format!("(?i)^{pattern}$"))
        .map(OriginPattern::Wildcard)
        .map_err(|e| FilterError::Malformed(format!("CORS origin {origin:?}: {e}")))
}

#[cfg(test)]
mod tests;
