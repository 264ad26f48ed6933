//! Deciding what to do with one desired object given what the member has:
//! create, leave alone (already as desired), apply, or refuse (Conflict).
//! Pure; the reconciler does the I/O.

use fedway_crds::work::TakeoverPolicy;
use serde_json::Value;

/// Label on every object the agent manages in the member.
pub const MANAGED_LABEL: &str = "fedway.dev/managed-by";
pub const MANAGED_VALUE: &str = "fedway-agent";
/// Annotation naming the Work an object comes from.
pub const WORK_ANNOTATION: &str = "fedway.dev/work";
/// Annotation on objects that existed before and were taken over: pruning
/// releases them instead of deleting them.
pub const ADOPTED_ANNOTATION: &str = "fedway.dev/adopted";
/// Annotation carrying the Work's deletion policy, so objects can be
/// cleaned up correctly after their Work is gone.
pub const DELETION_ANNOTATION: &str = "fedway.dev/deletion-policy";

/// What the reconciler should do with one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing: the member already has every desired field.
    UpToDate,
    /// Server-side apply (create or update).
    Apply { adopt: bool },
    /// Refuse: the object exists, is not Fedway's, and may not be taken over.
    Conflict(String),
}

/// Decides for `desired` (which carries Fedway's markers) against `live`.
pub fn decide(desired: &Value, live: Option<&Value>, policy: TakeoverPolicy) -> Action {
    let Some(live) = live else {
        return Action::Apply { adopt: false };
    };
    if is_managed(live) {
        return if is_subset(desired, live) {
            Action::UpToDate
        } else {
            Action::Apply {
                adopt: live["metadata"]["annotations"][ADOPTED_ANNOTATION] == "true",
            }
        };
    }
    match policy {
        TakeoverPolicy::Always => Action::Apply { adopt: true },
        TakeoverPolicy::Never => {
            Action::Conflict("it exists and is not Fedway's; takeover is Never".into())
        }
        TakeoverPolicy::IfNoDiff => {
            let differences = differences(&without_markers(desired), live);
            if differences.is_empty() {
                Action::Apply { adopt: true }
            } else {
                Action::Conflict(format!(
                    "it exists, is not Fedway's and differs at {}; takeover is IfNoDiff",
                    differences.join(", ")
                ))
            }
        }
    }
}

pub fn is_managed(object: &Value) -> bool {
    object["metadata"]["labels"][MANAGED_LABEL] == MANAGED_VALUE
}

/// Whether every field of `desired` has the same value in `live`. Fields
/// only in `live` (server defaults, status, other managers' fields) do not
/// matter; lists must have the same length and match element-wise.
pub fn is_subset(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d
            .iter()
            .all(|(k, v)| l.get(k).is_some_and(|lv| is_subset(v, lv))),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(a, b)| is_subset(a, b))
        }
        (Value::Number(d), Value::Number(l)) => d.as_f64() == l.as_f64(),
        (d, l) => d == l,
    }
}

/// Paths (like `spec.listeners[0].port`) where `desired` is not a subset of
/// `live`, at most 8 of them.
pub fn differences(desired: &Value, live: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect_differences(desired, live, String::new(), &mut out);
    out.truncate(8);
    out
}

fn collect_differences(desired: &Value, live: &Value, path: String, out: &mut Vec<String>) {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => {
            for (key, value) in d {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match l.get(key) {
                    Some(lv) => collect_differences(value, lv, child, out),
                    None => out.push(child),
                }
            }
        }
        (Value::Array(d), Value::Array(l)) if d.len() == l.len() => {
            for (i, (a, b)) in d.iter().zip(l).enumerate() {
                collect_differences(a, b, format!("{path}[{i}]"), out);
            }
        }
        _ if is_subset(desired, live) => {}
        _ => out.push(if path.is_empty() {
            "(root)".into()
        } else {
            path
        }),
    }
}

/// `desired` without Fedway's own labels and annotations, which an object
/// that is not yet Fedway's cannot have.
fn without_markers(desired: &Value) -> Value {
    let mut copy = desired.clone();
    if let Some(labels) = copy["metadata"]["labels"].as_object_mut() {
        labels.remove(MANAGED_LABEL);
    }
    if let Some(annotations) = copy["metadata"]["annotations"].as_object_mut() {
        annotations.retain(|k, _| !k.starts_with("fedway.dev/"));
    }
    for key in ["labels", "annotations"] {
        if copy["metadata"][key]
            .as_object()
            .is_some_and(|m| m.is_empty())
            && let Some(metadata) = copy["metadata"].as_object_mut()
        {
            metadata.remove(key);
        }
    }
    copy
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn desired() -> Value {
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "shop", "namespace": "web",
                         "labels": {MANAGED_LABEL: MANAGED_VALUE, "team": "web"},
                         "annotations": {WORK_ANNOTATION: "web.shop"}},
            "spec": {"gatewayClassName": "istio", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]},
        })
    }

    /// What the API server returns for `desired`: plus server fields and defaults.
    fn live_of(desired: &Value) -> Value {
        let mut live = desired.clone();
        live["metadata"]["uid"] = "u".into();
        live["metadata"]["resourceVersion"] = "7".into();
        live["spec"]["listeners"][0]["allowedRoutes"] = json!({"namespaces": {"from": "Same"}});
        live["status"] = json!({"conditions": []});
        live
    }

    fn foreign(mut live: Value) -> Value {
        let labels = live["metadata"]["labels"].as_object_mut().expect("labels");
        labels.remove(MANAGED_LABEL);
        live["metadata"]
            .as_object_mut()
            .expect("metadata")
            .remove("annotations");
        live
    }

    #[test]
    fn takeover_table() {
        let d = desired();
        let ours = live_of(&d);
        let mut ours_drifted = ours.clone();
        ours_drifted["spec"]["listeners"][0]["port"] = 8080.into();
        let mut ours_adopted = ours_drifted.clone();
        ours_adopted["metadata"]["annotations"][ADOPTED_ANNOTATION] = "true".into();
        let theirs_same = foreign(live_of(&d));
        let theirs_different = foreign(ours_drifted.clone());

        use TakeoverPolicy::*;
        let cases: Vec<(&str, Option<&Value>, TakeoverPolicy, Action)> = vec![
            ("missing: create", None, Never, Action::Apply { adopt: false }),
            ("ours and as desired: no write", Some(&ours), IfNoDiff, Action::UpToDate),
            ("ours and drifted: apply", Some(&ours_drifted), Never, Action::Apply { adopt: false }),
            ("adopted earlier stays adopted", Some(&ours_adopted), Never, Action::Apply { adopt: true }),
            ("theirs, same, IfNoDiff: adopt", Some(&theirs_same), IfNoDiff, Action::Apply { adopt: true }),
            ("theirs, same, Always: adopt", Some(&theirs_same), Always, Action::Apply { adopt: true }),
            ("theirs, different, Always: adopt", Some(&theirs_different), Always, Action::Apply { adopt: true }),
            (
                "theirs, different, IfNoDiff: conflict naming the field",
                Some(&theirs_different),
                IfNoDiff,
                Action::Conflict("it exists, is not Fedway's and differs at spec.listeners[0].port; takeover is IfNoDiff".into()),
            ),
            (
                "theirs, same, Never: conflict",
                Some(&theirs_same),
                Never,
                Action::Conflict("it exists and is not Fedway's; takeover is Never".into()),
            ),
        ];
        for (name, live, policy, want) in cases {
            assert_eq!(decide(&d, live, policy), want, "{name}");
        }
    }

    #[test]
    fn subset_semantics() {
        assert!(is_subset(&json!({"a": 1}), &json!({"a": 1.0, "b": 2})));
        assert!(!is_subset(&json!({"a": 1, "c": 3}), &json!({"a": 1})));
        assert!(
            !is_subset(&json!([1, 2]), &json!([1, 2, 3])),
            "lists are compared whole"
        );
        assert!(is_subset(
            &json!([{"x": 1}]),
            &json!([{"x": 1, "default": true}])
        ));
        assert!(
            !is_subset(&json!({"a": null}), &json!({})),
            "an explicit null must be there"
        );
        assert_eq!(
            differences(
                &json!({"a": {"b": [1, 2]}, "c": 1}),
                &json!({"a": {"b": [1, 3]}})
            ),
            ["a.b[1]", "c"]
        );
    }
}
