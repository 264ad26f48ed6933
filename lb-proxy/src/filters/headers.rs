//! RequestHeaderModifier and ResponseHeaderModifier.

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use super::FilterError;

/// Header edits in the spec's terms; names are case-insensitive because
/// `HeaderName` is lowercase.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderModifier {
    pub set: Vec<(HeaderName, HeaderValue)>,
    pub add: Vec<(HeaderName, HeaderValue)>,
    pub remove: Vec<HeaderName>,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    set: Vec<NameValue>,
    #[serde(default)]
    add: Vec<NameValue>,
    #[serde(default)]
    remove: Vec<String>,
}

#[derive(Deserialize)]
struct NameValue {
    name: String,
    value: String,
}

impl HeaderModifier {
    /// From any of the gateway-api crate's modifier structs: rule and backendRef
    /// filters, request and response, are four identical generated types.
    pub fn from_json(modifier: &impl Serialize) -> Result<Self, FilterError> {
        let raw: Raw = serde_json::to_value(modifier)
            .and_then(serde_json::from_value)
            .map_err(|e| FilterError::Malformed(e.to_string()))?;
        let pair = |nv: NameValue| -> Result<(HeaderName, HeaderValue), FilterError> {
            Ok((header_name(&nv.name)?, header_value(&nv.value)?))
        };
        Ok(Self {
            set: raw.set.into_iter().map(pair).collect::<Result<_, _>>()?,
            add: raw.add.into_iter().map(pair).collect::<Result<_, _>>()?,
            remove: raw
                .remove
                .iter()
                .map(|n| header_name(n))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Applies set, then add, then remove, the order the spec lists them in.
    /// `add` appends to an existing header as one comma-joined value, which is
    /// what httproute-request-header-modifier expects the backend to see.
    pub fn apply(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.set {
            headers.insert(name.clone(), value.clone());
        }
        for (name, value) in &self.add {
            let joined = join(headers.get_all(name).iter().chain(std::iter::once(value)));
            if let Some(joined) = joined {
                headers.insert(name.clone(), joined);
            }
        }
        for name in &self.remove {
            headers.remove(name);
        }
    }
}

fn join<'a>(values: impl Iterator<Item = &'a HeaderValue>) -> Option<HeaderValue> {
    let mut bytes = Vec::new();
    for v in values {
        if !bytes.is_empty() {
            bytes.push(b',');
        }
        bytes.extend_from_slice(v.as_bytes());
    }
    HeaderValue::from_bytes(&bytes).ok()
}

pub(crate) fn header_name(name: &str) -> Result<HeaderName, FilterError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| FilterError::HeaderName(name.to_owned()))
}

pub(crate) fn header_value(value: &str) -> Result<HeaderValue, FilterError> {
    HeaderValue::from_str(value).map_err(|_| FilterError::HeaderValue(value.to_owned()))
}

#[cfg(test)]
mod tests {
    use gateway_api::httproutes::HttpRouteRulesFiltersRequestHeaderModifier;
    use serde_json::json;

    use super::*;

    fn modifier(v: serde_json::Value) -> HeaderModifier {
        let m: HttpRouteRulesFiltersRequestHeaderModifier = match serde_json::from_value(v) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        };
        match HeaderModifier::from_json(&m) {
            Ok(m) => m,
            Err(e) => panic!("{e}"),
        }
    }

    type Pairs = Vec<(&'static str, &'static str)>;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            if let (Ok(n), Ok(v)) = (header_name(n), header_value(v)) {
                h.append(n, v);
            }
        }
        h
    }

    fn sorted(h: &HeaderMap) -> Vec<(String, String)> {
        let mut v: Vec<_> = h
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("?").to_owned()))
            .collect();
        v.sort();
        v
    }

    /// Rows of httproute-request-header-modifier (and, the same semantics,
    /// httproute-response-header-modifier).
    #[test]
    fn httproute_request_header_modifier() {
        let set =
            modifier(json!({"set": [{"name": "X-Header-Set", "value": "set-overwrites-values"}]}));
        let add =
            modifier(json!({"add": [{"name": "X-Header-Add", "value": "add-appends-values"}]}));
        let remove = modifier(json!({"remove": ["X-Header-Remove"]}));
        let multiple = modifier(json!({
            "set": [{"name": "X-Header-Set-1", "value": "header-set-1"}, {"name": "X-Header-Set-2", "value": "header-set-2"}],
            "add": [{"name": "X-Header-Add-1", "value": "header-add-1"}, {"name": "X-Header-Add-2", "value": "header-add-2"}, {"name": "X-Header-Add-3", "value": "header-add-3"}],
            "remove": ["X-Header-Remove-1", "X-Header-Remove-2"],
        }));
        let case = modifier(json!({
            "set": [{"name": "X-Header-Set", "value": "header-set"}],
            "add": [{"name": "X-Header-Add", "value": "header-add"}, {"name": "x-lowercase-add", "value": "lowercase-add"}, {"name": "x-Mixedcase-ADD-1", "value": "mixedcase-add-1"}, {"name": "X-mixeDcase-add-2", "value": "mixedcase-add-2"}, {"name": "X-UPPERCASE-ADD", "value": "uppercase-add"}],
            "remove": ["X-Header-Remove"],
        }));
        let rows: Vec<(&HeaderModifier, Pairs, Pairs)> = vec![
            (
                &set,
                vec![("Some-Other-Header", "val")],
                vec![
                    ("some-other-header", "val"),
                    ("x-header-set", "set-overwrites-values"),
                ],
            ),
            (
                &set,
                vec![
                    ("Some-Other-Header", "val"),
                    ("X-Header-Set", "some-other-value"),
                ],
                vec![
                    ("some-other-header", "val"),
                    ("x-header-set", "set-overwrites-values"),
                ],
            ),
            (
                &add,
                vec![("Some-Other-Header", "val")],
                vec![
                    ("some-other-header", "val"),
                    ("x-header-add", "add-appends-values"),
                ],
            ),
            (
                &add,
                vec![
                    ("Some-Other-Header", "val"),
                    ("X-Header-Add", "some-other-value"),
                ],
                vec![
                    ("some-other-header", "val"),
                    ("x-header-add", "some-other-value,add-appends-values"),
                ],
            ),
            (&remove, vec![("X-Header-Remove", "val")], vec![]),
            (
                &remove,
                vec![
                    ("x-header-remove", "a"),
                    ("X-HEADER-REMOVE", "b"),
                    ("keep", "k"),
                ],
                vec![("keep", "k")],
            ),
            (
                &multiple,
                vec![
                    ("X-Header-Set-2", "set-val-2"),
                    ("X-Header-Add-2", "add-val-2"),
                    ("X-Header-Remove-2", "remove-val-2"),
                    ("Another-Header", "another-header-val"),
                ],
                vec![
                    ("another-header", "another-header-val"),
                    ("x-header-add-1", "header-add-1"),
                    ("x-header-add-2", "add-val-2,header-add-2"),
                    ("x-header-add-3", "header-add-3"),
                    ("x-header-set-1", "header-set-1"),
                    ("x-header-set-2", "header-set-2"),
                ],
            ),
            (
                &case,
                vec![
                    ("x-header-set", "original-val-set"),
                    ("x-header-add", "original-val-add"),
                    ("x-header-remove", "original-val-remove"),
                    ("Another-Header", "another-header-val"),
                ],
                vec![
                    ("another-header", "another-header-val"),
                    ("x-header-add", "original-val-add,header-add"),
                    ("x-header-set", "header-set"),
                    ("x-lowercase-add", "lowercase-add"),
                    ("x-mixedcase-add-1", "mixedcase-add-1"),
                    ("x-mixedcase-add-2", "mixedcase-add-2"),
                    ("x-uppercase-add", "uppercase-add"),
                ],
            ),
        ];
        for (m, input, want) in rows {
            let mut h = headers(&input);
            m.apply(&mut h);
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect();
            assert_eq!(sorted(&h), want, "{input:?}");
        }
    }

    #[test]
    fn invalid_names_are_errors() {
        let m: HttpRouteRulesFiltersRequestHeaderModifier =
            match serde_json::from_value(json!({"remove": ["bad name"]})) {
                Ok(m) => m,
                Err(e) => panic!("{e}"),
            };
        assert!(HeaderModifier::from_json(&m).is_err());
    }
}
