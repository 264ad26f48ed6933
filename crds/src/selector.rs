//! Label selector matching (Kubernetes semantics), for placement and DNS
//! policies that pick member clusters by their labels.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Whether `selector` selects an object with `labels`. An empty selector
/// selects everything; an unknown operator selects nothing.
pub fn matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let by_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(key, value)| labels.get(key) == Some(value));
    let by_expressions = selector.match_expressions.iter().flatten().all(|expr| {
        let value = labels.get(&expr.key);
        let values = expr.values.as_deref().unwrap_or_default();
        match expr.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    by_labels && by_expressions
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    fn expr(key: &str, operator: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: operator.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| (*v).into()).collect()),
        }
    }

    #[test]
    fn selector_semantics() {
        let eu = labels(&[("region", "eu"), ("tier", "gold")]);
        let us = labels(&[("region", "us")]);
        let none = labels(&[]);
        let cases: Vec<(&str, LabelSelector, [bool; 3])> = vec![
            (
                "empty selects all",
                LabelSelector::default(),
                [true, true, true],
            ),
            (
                "matchLabels",
                LabelSelector {
                    match_labels: Some(labels(&[("region", "eu")])),
                    ..Default::default()
                },
                [true, false, false],
            ),
            (
                "In",
                LabelSelector {
                    match_expressions: Some(vec![expr("region", "In", &["eu", "us"])]),
                    ..Default::default()
                },
                [true, true, false],
            ),
            (
                "NotIn matches missing labels",
                LabelSelector {
                    match_expressions: Some(vec![expr("region", "NotIn", &["eu"])]),
                    ..Default::default()
                },
                [false, true, true],
            ),
            (
                "Exists",
                LabelSelector {
                    match_expressions: Some(vec![expr("tier", "Exists", &[])]),
                    ..Default::default()
                },
                [true, false, false],
            ),
            (
                "DoesNotExist",
                LabelSelector {
                    match_expressions: Some(vec![expr("tier", "DoesNotExist", &[])]),
                    ..Default::default()
                },
                [false, true, true],
            ),
            (
                "labels and expressions are ANDed",
                LabelSelector {
                    match_labels: Some(labels(&[("region", "eu")])),
                    match_expressions: Some(vec![expr("tier", "In", &["silver"])]),
                },
                [false, false, false],
            ),
            (
                "unknown operator selects nothing",
                LabelSelector {
                    match_expressions: Some(vec![expr("region", "Near", &["eu"])]),
                    ..Default::default()
                },
                [false, false, false],
            ),
        ];
        for (name, selector, want) in cases {
            let got = [
                matches(&selector, &eu),
                matches(&selector, &us),
                matches(&selector, &none),
            ];
            assert_eq!(got, want, "{name}");
        }
    }
}
