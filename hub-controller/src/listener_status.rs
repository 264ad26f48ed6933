//! The hub Gateway's `status.listeners`: for each listener of its spec,
//! the kinds of route it takes, the routes attached, and `Accepted`,
//! `ResolvedRefs` and `Programmed` across the placed members, with the
//! members that fail named and why. What the hub itself knows comes first
//! (a certificate reference it cannot follow, a route kind it cannot
//! federate); then what the members' implementations report. Pure.

use std::collections::BTreeMap;

use fedway_crds::work::{FeedbackCondition, ListenerFeedback, WorkStatus};
use serde_json::Value;

use crate::{
    listener_certificates::Unresolved,
    status::{MemberReport, STALE, Summary, find, is_valid_reason, listed, why},
    work_builder::GATEWAY_API_GROUP,
};

/// The Gateway API allows at most 64 listeners (and so statuses).
pub const MAX_LISTENERS: usize = 64;

/// One listener's status at the hub.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerStatus {
    pub name: String,
    /// Route kinds (all in the Gateway API group) the listener takes and
    /// Fedway federates.
    pub supported_kinds: Vec<&'static str>,
    pub attached_routes: i32,
    pub accepted: Summary,
    pub resolved_refs: Summary,
    pub programmed: Summary,
}

/// Route kinds Fedway federates, by listener protocol.
fn federated_kinds(protocol: &str) -> &'static [&'static str] {
    match protocol {
        "HTTP" | "HTTPS" => &["HTTPRoute", "GRPCRoute"],
        "TLS" => &["TLSRoute"],
        "TCP" => &["TCPRoute"],
        "UDP" => &["UDPRoute"],
        _ => &[],
    }
}

/// Every listener of `gateway`'s spec — a Gateway's or a ListenerSet's —
/// (at most [`MAX_LISTENERS`]), given
/// the certificate references the hub could not resolve (by listener) and
/// the placed members' reports.
pub fn listeners(
    gateway: &Value,
    unresolved: &[(String, Unresolved)],
    reports: &[MemberReport<'_>],
) -> Vec<ListenerStatus> {
    let owner = Owner {
        kind: gateway["kind"].as_str().unwrap_or("Gateway"),
        name: gateway["metadata"]["name"].as_str().unwrap_or_default(),
    };
    let unresolved: BTreeMap<&str, &Unresolved> = unresolved
        .iter()
        .rev() // the first unresolved reference of a listener wins
        .map(|(listener, u)| (listener.as_str(), u))
        .collect();
    gateway["spec"]["listeners"]
        .as_array()
        .into_iter()
        .flatten()
        .take(MAX_LISTENERS)
        .map(|spec| {
            let name = spec["name"].as_str().unwrap_or_default();
            let reported: Vec<(&str, Option<&ListenerFeedback>)> = reports
                .iter()
                .filter(|r| r.ready)
                .map(|r| (r.cluster, reported(owner, name, r.work)))
                .collect();
            let (supported_kinds, invalid_kinds) = kinds(spec);
            ListenerStatus {
                name: name.to_owned(),
                attached_routes: reported
                    .iter()
                    .filter_map(|(_, l)| l.map(|l| l.attached_routes))
                    .min()
                    .unwrap_or(0),
                accepted: not_false("Accepted", &reported, None),
                resolved_refs: not_false(
                    "ResolvedRefs",
                    &reported,
                    unresolved
                        .get(name)
                        .map(|u| (u.reason.to_owned(), u.message.clone()))
                        .or_else(|| {
                            (!invalid_kinds.is_empty()).then(|| {
                                (
                                    "InvalidRouteKinds".to_owned(),
                                    format!(
                                        "Fedway does not federate {} on a listener of protocol {}",
                                        invalid_kinds.join(", "),
                                        spec["protocol"].as_str().unwrap_or_default()
                                    ),
                                )
                            })
                        }),
                ),
                programmed: programmed(owner, name, reports),
                supported_kinds,
            }
        })
        .collect()
}

/// The listener's supported kinds, and the kinds its `allowedRoutes`
/// names that Fedway cannot federate on it.
fn kinds(spec: &Value) -> (Vec<&'static str>, Vec<String>) {
    let federated = federated_kinds(spec["protocol"].as_str().unwrap_or_default());
    let Some(allowed) = spec["allowedRoutes"]["kinds"]
        .as_array()
        .filter(|k| !k.is_empty())
    else {
        return (federated.to_vec(), vec![]);
    };
    let mut supported = vec![];
    let mut invalid = vec![];
    for kind in allowed {
        let group = kind["group"].as_str().unwrap_or(GATEWAY_API_GROUP);
        let name = kind["kind"].as_str().unwrap_or_default();
        match federated.iter().find(|f| **f == name) {
            Some(f) if group == GATEWAY_API_GROUP => {
                if !supported.contains(f) {
                    supported.push(*f);
                }
            }
            _ => invalid.push(if group.is_empty() || group == GATEWAY_API_GROUP {
                name.to_owned()
            } else {
                format!("{group}/{name}")
            }),
        }
    }
    (supported, invalid)
}

/// Whose listeners: a Gateway or a ListenerSet, by kind and name.
#[derive(Clone, Copy)]
struct Owner<'a> {
    kind: &'a str,
    name: &'a str,
}

fn reported<'a>(
    owner: Owner<'_>,
    listener: &str,
    work: Option<&'a WorkStatus>,
) -> Option<&'a ListenerFeedback> {
    find(work?, owner.kind, owner.name)?
        .feedback
        .as_ref()?
        .listeners
        .iter()
        .find(|l| l.name == listener)
}

fn condition<'a>(listener: &'a ListenerFeedback, type_: &str) -> Option<&'a FeedbackCondition> {
    listener.conditions.iter().find(|c| c.type_ == type_)
}

/// A condition that holds unless the hub knows otherwise (`hub`: reason
/// and message) or a Ready member reports it False; the first such
/// member's reason is the hub's, every one is named in the message.
fn not_false(
    type_: &str,
    reported: &[(&str, Option<&ListenerFeedback>)],
    hub: Option<(String, String)>,
) -> Summary {
    let mut reason = None;
    let mut failing = vec![];
    for (cluster, listener) in reported {
        let Some(c) = listener.and_then(|l| condition(l, type_)) else {
            continue;
        };
        if c.status == "False" {
            if reason.is_none() && is_valid_reason(&c.reason) {
                reason = Some(c.reason.clone());
            }
            failing.push(format!("{cluster} ({})", why(c)));
        }
    }
    let members = (!failing.is_empty()).then(|| format!("not {type_} in {}", listed(&failing)));
    match (hub, members) {
        (Some((reason, message)), None) => Summary {
            status: false,
            reason,
            message,
        },
        (Some((reason, message)), Some(members)) => Summary {
            status: false,
            reason,
            message: format!("{message}; {members}"),
        },
        (None, Some(members)) => Summary {
            status: false,
            reason: reason.unwrap_or_else(|| "Pending".into()),
            message: members,
        },
        (None, None) => Summary {
            status: true,
            reason: type_.into(),
            message: match type_ {
                "Accepted" => "no member refuses it",
                _ => "every reference resolves, at the hub and in every member that reported",
            }
            .into(),
        },
    }
}

/// `Programmed` only where every placed member is Ready and reports the
/// listener programmed.
fn programmed(owner: Owner<'_>, listener: &str, reports: &[MemberReport<'_>]) -> Summary {
    if reports.is_empty() {
        return Summary {
            status: false,
            reason: "Pending".into(),
            message: "placed in no member cluster".into(),
        };
    }
    let mut yes = vec![];
    let mut no = vec![];
    let mut reason = None;
    for report in reports {
        let why = if !report.ready {
            STALE.to_owned()
        } else {
            match reported(owner, listener, report.work).and_then(|l| condition(l, "Programmed")) {
                Some(c) if c.status == "True" => {
                    yes.push(report.cluster);
                    continue;
                }
                Some(c) => {
                    if reason.is_none() && is_valid_reason(&c.reason) {
                        reason = Some(c.reason.clone());
                    }
                    why(c)
                }
                None => "not reported yet".to_owned(),
            }
        };
        no.push(format!("{} ({why})", report.cluster));
    }
    let mut message = format!("programmed in {} of {} members", yes.len(), reports.len());
    if !yes.is_empty() {
        message.push_str(&format!(": {}", listed(&yes)));
    }
    if !no.is_empty() {
        message.push_str(&format!("; not in {}", listed(&no)));
    }
    let status = no.is_empty();
    Summary {
        status,
        reason: if status {
            "Programmed".into()
        } else {
            reason.unwrap_or_else(|| "Pending".into())
        },
        message,
    }
}

#[cfg(test)]
mod tests {
    use fedway_crds::work::{Feedback, ManifestStatus};
    use serde_json::json;

    use super::*;

    fn condition(type_: &str, status: &str, reason: &str, message: &str) -> FeedbackCondition {
        FeedbackCondition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
        }
    }

    /// A member's report: its Gateway `shop` with these listeners.
    fn work(listeners: Vec<ListenerFeedback>) -> WorkStatus {
        WorkStatus {
            manifests: vec![ManifestStatus {
                identity: crate::status::test_identity("Gateway", "shop"),
                conditions: vec![],
                feedback: Some(Feedback {
                    listeners,
                    ..Default::default()
                }),
            }],
            ..Default::default()
        }
    }

    fn listener(name: &str, attached: i32, conditions: Vec<FeedbackCondition>) -> ListenerFeedback {
        ListenerFeedback {
            name: name.into(),
            attached_routes: attached,
            conditions,
        }
    }

    fn all_true() -> Vec<FeedbackCondition> {
        vec![
            condition("Accepted", "True", "Accepted", ""),
            condition("ResolvedRefs", "True", "ResolvedRefs", ""),
            condition("Programmed", "True", "Programmed", ""),
        ]
    }

    fn gateway() -> Value {
        json!({"kind": "Gateway", "metadata": {"name": "shop", "namespace": "web"}, "spec": {"listeners": [
            {"name": "http", "port": 80, "protocol": "HTTP"},
            {"name": "https", "port": 443, "protocol": "HTTPS", "tls": {"certificateRefs": [{"name": "shop-tls"}]}},
            {"name": "tcp", "port": 5432, "protocol": "TCP"},
            {"name": "kinds", "port": 8080, "protocol": "HTTP", "allowedRoutes": {"kinds": [
                {"kind": "HTTPRoute"}, {"group": GATEWAY_API_GROUP, "kind": "HTTPRoute"},
                {"kind": "TCPRoute"}, {"group": "example.com", "kind": "Foo"}]}},
        ]}})
    }

    #[test]
    fn each_listener_says_where_it_works_and_why_not() {
        let a = work(vec![
            listener("http", 2, all_true()),
            listener(
                "https",
                0,
                vec![
                    condition("Accepted", "True", "Accepted", ""),
                    condition(
                        "ResolvedRefs",
                        "False",
                        "InvalidCertificateRef",
                        "Secret web/tls-x does not exist",
                    ),
                    condition("Programmed", "False", "Invalid", ""),
                ],
            ),
            listener(
                "kinds",
                1,
                vec![condition(
                    "Accepted",
                    "False",
                    "PortUnavailable",
                    "8080 is taken",
                )],
            ),
        ]);
        let b = work(vec![listener("http", 1, all_true())]);
        let reports = [
            MemberReport::new("a", true, &a),
            MemberReport::new("b", true, &b),
            // NotReady: what it last said is not counted, not even its failures.
            MemberReport::new("c", false, &a),
        ];
        let hub_unresolved = [(
            "https".to_owned(),
            Unresolved {
                reason: "RefNotPermitted",
                message: "Secret certs/shop: no ReferenceGrant in certs allows Gateways from web"
                    .into(),
            },
        )];
        let with_hub = listeners(&gateway(), &hub_unresolved, &reports);
        let without_hub = listeners(&gateway(), &[], &reports);
        let find = |all: &[ListenerStatus], name: &str| {
            all.iter().find(|l| l.name == name).cloned().expect(name)
        };
        let summary = |status, reason: &str, message: &str| Summary {
            status,
            reason: reason.into(),
            message: message.into(),
        };
        let stale = "c (NotReady: its last report may be stale)";

        assert_eq!(
            with_hub.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
            ["http", "https", "tcp", "kinds"],
            "every listener of the spec, in order"
        );
        let http = find(&with_hub, "http");
        assert_eq!(http.supported_kinds, ["HTTPRoute", "GRPCRoute"]);
        assert_eq!(
            http.attached_routes, 1,
            "attached in every member that reports it"
        );
        assert!(http.accepted.status && http.resolved_refs.status);
        assert_eq!(
            http.programmed,
            summary(
                false,
                "Pending",
                &format!("programmed in 2 of 3 members: a, b; not in {stale}")
            )
        );

        let https = find(&with_hub, "https");
        assert_eq!(
            https.resolved_refs,
            summary(
                false,
                "RefNotPermitted",
                "Secret certs/shop: no ReferenceGrant in certs allows Gateways from web; not ResolvedRefs in a (ResolvedRefs=False: InvalidCertificateRef: Secret web/tls-x does not exist)"
            ),
            "the hub's reason first, the members' named"
        );
        assert_eq!(
            find(&without_hub, "https").resolved_refs.reason,
            "InvalidCertificateRef",
            "no hub reason: the member's"
        );
        assert_eq!(
            https.programmed,
            summary(
                false,
                "Invalid",
                &format!(
                    "programmed in 0 of 3 members; not in a (Programmed=False: Invalid), b (not reported yet), {stale}"
                )
            )
        );
        assert_eq!(https.attached_routes, 0);

        let tcp = find(&with_hub, "tcp");
        assert_eq!(tcp.supported_kinds, ["TCPRoute"]);
        assert!(tcp.resolved_refs.status, "no kinds named, none invalid");

        let kinds = find(&with_hub, "kinds");
        assert_eq!(kinds.supported_kinds, ["HTTPRoute"], "deduplicated");
        assert_eq!(
            kinds.resolved_refs,
            summary(
                false,
                "InvalidRouteKinds",
                "Fedway does not federate TCPRoute, example.com/Foo on a listener of protocol HTTP"
            )
        );
        assert_eq!(
            kinds.accepted,
            summary(
                false,
                "PortUnavailable",
                "not Accepted in a (Accepted=False: PortUnavailable: 8080 is taken)"
            )
        );

        let nowhere = listeners(&gateway(), &[], &[]);
        assert_eq!(
            find(&nowhere, "http").programmed,
            summary(false, "Pending", "placed in no member cluster")
        );
    }

    #[test]
    fn at_most_sixty_four_listeners() {
        let many: Vec<Value> = (0..70)
            .map(|i| json!({"name": format!("l{i}"), "port": 80, "protocol": "HTTP"}))
            .collect();
        let gateway = json!({"metadata": {"name": "shop"}, "spec": {"listeners": many}});
        assert_eq!(listeners(&gateway, &[], &[]).len(), MAX_LISTENERS);
    }
}
