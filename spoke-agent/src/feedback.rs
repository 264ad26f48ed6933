//! What the member's Gateway API implementation says about an applied
//! object, reduced to the bounded feedback the hub aggregates. Pure.

use fedway_crds::work::{Feedback, FeedbackCondition, ListenerFeedback, ParentFeedback};
use serde_json::Value;

const MAX_ADDRESSES: usize = 16;
const MAX_LISTENERS: usize = 64;
const MAX_PARENTS: usize = 32;
const MAX_MESSAGE: usize = 1024;
const GATEWAY_CONDITIONS: [&str; 2] = ["Accepted", "Programmed"];
/// Routes' (and policies') conditions per parent.
const PARENT_CONDITIONS: [&str; 2] = ["Accepted", "ResolvedRefs"];
const LISTENER_CONDITIONS: [&str; 3] = ["Accepted", "ResolvedRefs", "Programmed"];

/// Feedback for Gateways, routes and policies; `None` for other kinds or
/// before the implementation has written any status.
pub fn extract(live: &Value) -> Option<Feedback> {
    let status = live.get("status")?;
    match live["kind"].as_str()? {
        // A ListenerSet's status has the same shape as a Gateway's (no
        // addresses).
        "Gateway" | "ListenerSet" => Some(Feedback {
            addresses: status["addresses"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["value"].as_str().map(str::to_owned))
                .take(MAX_ADDRESSES)
                .collect(),
            conditions: conditions(&status["conditions"], &GATEWAY_CONDITIONS),
            listeners: status["listeners"]
                .as_array()
                .into_iter()
                .flatten()
                .take(MAX_LISTENERS)
                .map(|l| ListenerFeedback {
                    name: l["name"].as_str().unwrap_or_default().to_owned(),
                    attached_routes: l["attachedRoutes"]
                        .as_i64()
                        .and_then(|n| i32::try_from(n).ok())
                        .unwrap_or(0),
                    conditions: conditions(&l["conditions"], &LISTENER_CONDITIONS),
                })
                .collect(),
            parents: vec![],
        }),
        "HTTPRoute" | "GRPCRoute" | "TLSRoute" | "TCPRoute" | "UDPRoute" => Some(Feedback {
            parents: parents(&status["parents"], "parentRef"),
            ..Default::default()
        }),
        // A policy (GEP-713): what each ancestor's implementation says.
        _ if status.get("ancestors").is_some() => Some(Feedback {
            parents: parents(&status["ancestors"], "ancestorRef"),
            ..Default::default()
        }),
        _ => None,
    }
}

/// Entries per parent Gateway or ListenerSet of a route's
/// `status.parents` or a policy's `status.ancestors` (`reference` names the
/// entry's parent field); parents of other kinds are not Fedway's to
/// report.
fn parents(list: &Value, reference: &str) -> Vec<ParentFeedback> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter(|p| {
            matches!(
                p[reference]["kind"].as_str().unwrap_or("Gateway"),
                "Gateway" | "ListenerSet"
            )
        })
        .take(MAX_PARENTS)
        .filter_map(|p| {
            let parent = &p[reference];
            let port = match parent.get("port") {
                None | Some(Value::Null) => None,
                // A port no parentRef can name: an entry that fits
                // none, and that the Work's schema would refuse.
                Some(port) => Some(
                    port.as_i64()
                        .and_then(|port| i32::try_from(port).ok())
                        .filter(|port| (1..=65535).contains(port))?,
                ),
            };
            Some(ParentFeedback {
                gateway: parent["name"].as_str().unwrap_or_default().to_owned(),
                kind: parent["kind"]
                    .as_str()
                    .filter(|kind| *kind != "Gateway")
                    .map(str::to_owned),
                namespace: parent["namespace"].as_str().map(str::to_owned),
                section_name: parent["sectionName"].as_str().map(str::to_owned),
                port,
                conditions: conditions(&p["conditions"], &PARENT_CONDITIONS),
            })
        })
        .collect()
}

fn conditions(list: &Value, wanted: &[&str]) -> Vec<FeedbackCondition> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["type"].as_str().is_some_and(|t| wanted.contains(&t)))
        .map(|c| FeedbackCondition {
            type_: c["type"].as_str().unwrap_or_default().to_owned(),
            status: c["status"].as_str().unwrap_or("Unknown").to_owned(),
            reason: c["reason"].as_str().unwrap_or_default().to_owned(),
            message: truncate(c["message"].as_str().unwrap_or_default(), MAX_MESSAGE),
        })
        .collect()
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn gateway_feedback_is_bounded_and_selective() {
        let addresses: Vec<Value> = (0..20)
            .map(|i| json!({"type": "IPAddress", "value": format!("10.0.0.{i}")}))
            .collect();
        let live = json!({
            "kind": "Gateway",
            "status": {
                "addresses": addresses,
                "conditions": [
                    {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "ok"},
                    {"type": "Programmed", "status": "False", "reason": "Pending", "message": "x".repeat(5000)},
                    {"type": "VendorSpecific", "status": "True"},
                ],
                "listeners": [{"name": "http", "attachedRoutes": 2, "conditions": [
                    {"type": "Programmed", "status": "True", "reason": "Programmed"},
                    {"type": "ResolvedRefs", "status": "False", "reason": "InvalidCertificateRef", "message": "Secret web/shop-tls does not exist"},
                    {"type": "Conflicted", "status": "False"},
                ]}],
            },
        });
        let feedback = extract(&live).expect("feedback");
        assert_eq!(feedback.addresses.len(), 16);
        assert_eq!(feedback.conditions.len(), 2);
        assert_eq!(feedback.conditions[1].message.len(), 1024);
        assert_eq!(
            feedback.listeners,
            [ListenerFeedback {
                name: "http".into(),
                attached_routes: 2,
                conditions: vec![
                    FeedbackCondition {
                        type_: "Programmed".into(),
                        status: "True".into(),
                        reason: "Programmed".into(),
                        message: String::new(),
                    },
                    FeedbackCondition {
                        type_: "ResolvedRefs".into(),
                        status: "False".into(),
                        reason: "InvalidCertificateRef".into(),
                        message: "Secret web/shop-tls does not exist".into(),
                    },
                ],
            }]
        );
    }

    #[test]
    fn route_feedback_lists_parents() {
        let live = json!({
            "kind": "HTTPRoute",
            "status": {"parents": [{
                "parentRef": {"name": "shop", "sectionName": "http"},
                "controllerName": "istio.io/gateway-controller",
                "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted"},
                               {"type": "ResolvedRefs", "status": "False", "reason": "BackendNotFound", "message": "svc"}],
            }, {
                "parentRef": {"name": "shop", "namespace": "edge", "port": 8443},
                "controllerName": "istio.io/gateway-controller",
            }, {
                "parentRef": {"name": "shop", "port": 70000},
                "controllerName": "istio.io/gateway-controller",
            }, {
                "parentRef": {"group": "gateway.networking.k8s.io", "kind": "ListenerSet", "name": "team-a"},
                "controllerName": "istio.io/gateway-controller",
            }, {
                "parentRef": {"group": "example.com", "kind": "Mesh", "name": "mesh"},
                "controllerName": "example.com/mesh",
            }]},
        });
        let feedback = extract(&live).expect("feedback");
        assert_eq!(feedback.parents[0].gateway, "shop");
        assert_eq!(feedback.parents[0].section_name.as_deref(), Some("http"));
        assert_eq!(
            (
                feedback.parents[0].namespace.as_deref(),
                feedback.parents[0].port
            ),
            (None, None)
        );
        assert_eq!(feedback.parents[0].conditions[1].reason, "BackendNotFound");
        assert_eq!(
            (
                feedback.parents[1].namespace.as_deref(),
                feedback.parents[1].port
            ),
            (Some("edge"), Some(8443))
        );
        assert_eq!(
            (
                feedback.parents[2].kind.as_deref(),
                feedback.parents[2].gateway.as_str()
            ),
            (Some("ListenerSet"), "team-a")
        );
        assert_eq!(
            feedback.parents.len(),
            3,
            "the entry with port 70000 and the Mesh parent are dropped"
        );
    }

    /// A policy's ancestors are reported as its parents: the Gateways it
    /// takes effect through; ancestors of other kinds are not reported.
    #[test]
    fn policy_feedback_lists_gateway_ancestors() {
        let live = json!({
            "kind": "BackendTLSPolicy",
            "status": {"ancestors": [{
                "ancestorRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shop", "namespace": "web"},
                "controllerName": "traefik.io/gateway-controller",
                "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted"},
                               {"type": "ResolvedRefs", "status": "False", "reason": "InvalidCACertificateRef", "message": "ConfigMap web/ca not found"},
                               {"type": "Vendor", "status": "True"}],
            }, {
                "ancestorRef": {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "cart"},
                "controllerName": "example.com/mesh",
            }]},
        });
        let feedback = extract(&live).expect("feedback");
        assert_eq!(
            feedback.parents,
            [ParentFeedback {
                gateway: "shop".into(),
                kind: None,
                namespace: Some("web".into()),
                section_name: None,
                port: None,
                conditions: vec![
                    FeedbackCondition {
                        type_: "Accepted".into(),
                        status: "True".into(),
                        reason: "Accepted".into(),
                        message: String::new(),
                    },
                    FeedbackCondition {
                        type_: "ResolvedRefs".into(),
                        status: "False".into(),
                        reason: "InvalidCACertificateRef".into(),
                        message: "ConfigMap web/ca not found".into(),
                    },
                ],
            }]
        );
    }

    #[test]
    fn nothing_for_other_kinds_or_without_status() {
        assert_eq!(
            extract(&json!({"kind": "ReferenceGrant", "status": {}})),
            None
        );
        assert_eq!(extract(&json!({"kind": "Gateway"})), None);
    }
}
