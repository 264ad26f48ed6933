//! Durations as Gateway API writes them (GEP-2257): `1h`, `30s`, `500ms`,
//! `1m30s`. The same pattern is enforced by the API server, so parsing here
//! only fails on objects that bypassed validation.

use std::{fmt, time::Duration as StdDuration};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// The pattern of GEP-2257 durations: one to four `<number><unit>` parts.
pub const PATTERN: &str = r"^([0-9]{1,5}(h|m|s|ms)){1,4}$";

/// A duration string such as `5s` or `1m30s`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Duration(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid duration {input:?}: {reason} (expected e.g. 5s, 500ms, 1m30s)")]
pub struct ParseDurationError {
    input: String,
    reason: &'static str,
}

impl Duration {
    /// Parses and validates `text`.
    pub fn parse(text: &str) -> Result<Self, ParseDurationError> {
        parse_std(text)?;
        Ok(Self(text.to_owned()))
    }

    /// The duration as a [`std::time::Duration`].
    pub fn to_std(&self) -> Result<StdDuration, ParseDurationError> {
        parse_std(&self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn parse_std(input: &str) -> Result<StdDuration, ParseDurationError> {
    let error = |reason| ParseDurationError {
        input: input.to_owned(),
        reason,
    };
    if input.is_empty() {
        return Err(error("empty"));
    }
    let mut total = StdDuration::ZERO;
    let mut parts = 0;
    let mut rest = input;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(error("each part must start with a number"));
        }
        if digits > 5 {
            return Err(error("a number has more than 5 digits"));
        }
        let (number, tail) = rest.split_at(digits);
        let value: u64 = number.parse().map_err(|_| error("bad number"))?;
        let (unit, tail) = if let Some(t) = tail.strip_prefix("ms") {
            (StdDuration::from_millis(1), t)
        } else if let Some(t) = tail.strip_prefix('h') {
            (StdDuration::from_secs(3600), t)
        } else if let Some(t) = tail.strip_prefix('m') {
            (StdDuration::from_secs(60), t)
        } else if let Some(t) = tail.strip_prefix('s') {
            (StdDuration::from_secs(1), t)
        } else {
            return Err(error("unit must be h, m, s or ms"));
        };
        parts += 1;
        if parts > 4 {
            return Err(error("more than 4 parts"));
        }
        // At most 4 parts of 99999h each: no overflow is possible.
        total += unit * u32::try_from(value).map_err(|_| error("bad number"))?;
        rest = tail;
    }
    Ok(total)
}

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": PATTERN,
            "description": "A duration such as 5s, 500ms or 1m30s (GEP-2257).",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_gep_2257_durations() {
        let cases = [
            ("0s", StdDuration::ZERO),
            ("5s", StdDuration::from_secs(5)),
            ("500ms", StdDuration::from_millis(500)),
            ("1m30s", StdDuration::from_secs(90)),
            ("1h", StdDuration::from_secs(3600)),
            ("1h1m1s1ms", StdDuration::from_millis(3_661_001)),
            ("99999h", StdDuration::from_secs(99_999 * 3600)),
        ];
        for (input, want) in cases {
            assert_eq!(
                Duration::parse(input).and_then(|d| d.to_std()),
                Ok(want),
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_what_the_api_server_pattern_rejects() {
        for input in [
            "",
            "5",
            "s",
            "-5s",
            "5d",
            "1.5s",
            "123456s",
            "1h1m1s1ms1h",
            "5 s",
            "5S",
        ] {
            let err = Duration::parse(input).expect_err(input);
            assert!(err.to_string().contains(&format!("{input:?}")), "{err}");
        }
    }
}
