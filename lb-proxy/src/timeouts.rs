//! A rule's `timeouts` (GEP-1742) as std durations.

use std::time::Duration;

use gateway_api::httproutes::HttpRouteRulesTimeouts;

#[derive(Debug, thiserror::Error)]
#[error("invalid {field} timeout {value:?}: {reason}")]
pub struct TimeoutError {
    pub field: &'static str,
    pub value: String,
    pub reason: String,
}

/// `None` means no timeout: unset, or the zero duration, which the spec says
/// disables the timeout.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timeouts {
    /// From the gateway receiving the request to the last byte of the response
    /// sent back, retries included (answered with 504 when it fires).
    pub request: Option<Duration>,
    /// One attempt from the gateway to a backend.
    pub backend_request: Option<Duration>,
}

impl Timeouts {
    pub fn compile(t: Option<&HttpRouteRulesTimeouts>) -> Result<Self, TimeoutError> {
        let Some(t) = t else {
            return Ok(Self::default());
        };
        Ok(Self {
            request: parse("request", t.request.as_deref())?,
            backend_request: parse("backendRequest", t.backend_request.as_deref())?,
        })
    }
}

/// Parses a GEP-2257 duration (`1h`, `1m30s`, `500ms`) with the gateway-api
/// crate's parser, which follows the same pattern as the CRD's validation.
pub fn parse(field: &'static str, value: Option<&str>) -> Result<Option<Duration>, TimeoutError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let d: gateway_api::Duration = value.parse().map_err(|reason| TimeoutError {
        field,
        value: value.to_owned(),
        reason,
    })?;
    let d = Duration::new(d.as_secs(), d.subsec_nanos());
    Ok((!d.is_zero()).then_some(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// httproute-timeout-request uses `request: 500ms`; httproute-timeout-backend-request `backendRequest: 500ms`.
    #[test]
    fn gep_2257_durations() {
        for (input, want) in [
            ("500ms", Some(Duration::from_millis(500))),
            ("1s", Some(Duration::from_secs(1))),
            ("1m30s", Some(Duration::from_secs(90))),
            ("1h", Some(Duration::from_secs(3600))),
            ("2h1m1s1ms", Some(Duration::from_millis(7_261_001))),
            ("0s", None),
        ] {
            match parse("request", Some(input)) {
                Ok(got) => assert_eq!(got, want, "{input}"),
                Err(e) => panic!("{input}: {e}"),
            }
        }
    }

    #[test]
    fn rejects_what_gep_2257_rejects() {
        for input in ["", "1", "1.5s", "-1s", "1d", "1us", "100000h", "1 s"] {
            assert!(parse("request", Some(input)).is_err(), "{input}");
        }
    }

    #[test]
    fn compile_rule_timeouts() {
        let t = HttpRouteRulesTimeouts {
            request: Some("10s".into()),
            backend_request: Some("2s".into()),
        };
        let got = Timeouts::compile(Some(&t)).ok();
        assert_eq!(
            got,
            Some(Timeouts {
                request: Some(Duration::from_secs(10)),
                backend_request: Some(Duration::from_secs(2)),
            })
        );
        assert_eq!(Timeouts::compile(None).ok(), Some(Timeouts::default()));
    }
}
