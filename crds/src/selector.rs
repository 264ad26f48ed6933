//! Label selector matching (Kubernetes semantics, by kube's `Selector`),
//! for placement and DNS policies that pick member clusters by their labels
//! and fedway-proxy's `allowedRoutes` namespace selectors.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::core::{Selector, SelectorExt};

/// Whether `selector` selects an object with `labels`, by kube's
/// [`Selector`]. An empty selector selects everything; one that is not
/// valid (an unknown operator, `In` or `NotIn` without values) selects
/// nothing.
pub fn matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    Selector::try_from(selector.clone()).is_ok_and(|selector| selector.matches(labels))
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
