//! Aggregation of what members report (Work status) into the truthful
//! summary the hub Gateway and its routes carry. Pure: the controller reads
//! Works and writes the result.

use std::collections::BTreeSet;

use fedway_crds::work::{
    FeedbackCondition, ManifestStatus, WorkStatus, condition as work_condition,
};

use crate::{
    dns_records::{self, MemberGateway, RouteId},
    work_builder::ObjectKey,
};

/// Most items a status message names: a thousand members would pass
/// Gateway API's 32768-character limit on a condition's message (and the
/// write of the status would be refused).
const MAX_NAMED: usize = 10;

/// `items` joined for a status message: the first [`MAX_NAMED`], then how
/// many more.
pub fn listed<S: AsRef<str>>(items: &[S]) -> String {
    let mut text = items
        .iter()
        .take(MAX_NAMED)
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > MAX_NAMED {
        text.push_str(&format!(" and {} more", items.len() - MAX_NAMED));
    }
    text
}

/// Gateway status addresses are limited to 16 by the Gateway API.
pub const MAX_ADDRESSES: usize = 16;

/// One placed member and what its agent last reported for the Work.
#[derive(Clone)]
pub struct MemberReport<'a> {
    pub cluster: &'a str,
    /// The member is Ready. A NotReady member's report is stale: it never
    /// counts as programmed, whatever it last said.
    pub ready: bool,
    pub work: Option<&'a WorkStatus>,
}

#[cfg(test)]
impl<'a> MemberReport<'a> {
    pub(crate) fn new(cluster: &'a str, ready: bool, work: &'a WorkStatus) -> Self {
        MemberReport {
            cluster,
            ready,
            work: Some(work),
        }
    }
}

/// A Gateway API object `web/<name>` as a Work's status names it.
#[cfg(test)]
pub(crate) fn test_identity(kind: &str, name: &str) -> fedway_crds::work::ObjectIdentity {
    fedway_crds::work::ObjectIdentity {
        group: "gateway.networking.k8s.io".into(),
        version: "v1".into(),
        kind: kind.into(),
        namespace: Some("web".into()),
        name: name.into(),
    }
}

/// A condition to set: status, reason, message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub status: bool,
    /// Fedway's own reason, or (for routes) the reason a member's
    /// implementation gave, so the hub says what the implementation said.
    pub reason: String,
    pub message: String,
}

impl Summary {
    /// As the wanted condition of type `type_`: `(type, status, reason,
    /// message)`.
    pub fn condition<'a>(&'a self, type_: &'a str) -> (&'a str, bool, &'a str, String) {
        (type_, self.status, &self.reason, self.message.clone())
    }
}

/// Fedway's condition on a hub Gateway: some placed members serve it while
/// others fail (or serve it with a failing listener).
pub const DEGRADED: &str = "fedway.dev/Degraded";

/// Where the Gateway is programmed and where not, and why.
struct Rollup {
    programmed: Vec<String>,
    /// `member (why)` for every placed member not programmed.
    failing: Vec<String>,
    /// `member: listener (why)` for listeners not programmed in members
    /// whose Gateway is.
    failing_listeners: Vec<String>,
}

fn rollup(gateway_name: &str, reports: &[MemberReport<'_>]) -> Rollup {
    let mut rollup = Rollup {
        programmed: vec![],
        failing: vec![],
        failing_listeners: vec![],
    };
    for report in reports {
        match member_state(gateway_name, report) {
            Ok(()) => {
                rollup.programmed.push(report.cluster.to_owned());
                rollup.failing_listeners.extend(
                    failing_listeners(gateway_name, report.work)
                        .map(|(listener, why)| format!("{}: {listener} ({why})", report.cluster)),
                );
            }
            Err(why) => rollup.failing.push(format!("{} ({why})", report.cluster)),
        }
    }
    rollup
}

/// The hub Gateway's `Programmed`: true when every placed member programs
/// its copy; the message counts and names where it is and is not
/// programmed, and the listeners that fail where it is.
pub fn gateway_programmed(gateway_name: &str, reports: &[MemberReport<'_>]) -> Summary {
    if reports.is_empty() {
        return Summary {
            status: false,
            reason: "NoResources".into(),
            message: "placed in no member cluster".into(),
        };
    }
    let Rollup {
        programmed,
        failing,
        failing_listeners,
    } = rollup(gateway_name, reports);
    let mut message = format!(
        "programmed in {} of {} members",
        programmed.len(),
        reports.len()
    );
    if !programmed.is_empty() {
        message.push_str(&format!(": {}", listed(&programmed)));
    }
    if !failing.is_empty() {
        message.push_str(&format!("; not programmed in {}", listed(&failing)));
    }
    if !failing_listeners.is_empty() {
        message.push_str(&format!(
            "; listeners not programmed: {}",
            listed(&failing_listeners)
        ));
    }
    let status = failing.is_empty();
    Summary {
        status,
        reason: if status { "Programmed" } else { "Pending" }.into(),
        message,
    }
}

/// [`DEGRADED`]: true while some members serve the Gateway and others do
/// not, or a listener fails where the Gateway is programmed; it names them.
pub fn gateway_degraded(gateway_name: &str, reports: &[MemberReport<'_>]) -> Summary {
    let Rollup {
        programmed,
        failing,
        failing_listeners,
    } = rollup(gateway_name, reports);
    let (status, reason, message) = if programmed.is_empty() {
        (
            false,
            "NotServing",
            "no placed member serves the Gateway (see Programmed)".to_owned(),
        )
    } else if !failing.is_empty() {
        (
            true,
            "MembersFailing",
            format!(
                "{} of {} members serve; failing: {}",
                programmed.len(),
                reports.len(),
                listed(&failing)
            ),
        )
    } else if !failing_listeners.is_empty() {
        (
            true,
            "ListenersFailing",
            format!("listeners not programmed: {}", listed(&failing_listeners)),
        )
    } else {
        (
            false,
            "AllServing",
            format!(
                "every placed member serves every listener ({})",
                programmed.len()
            ),
        )
    };
    Summary {
        status,
        reason: reason.into(),
        message,
    }
}

/// Why a NotReady member is not counted.
pub(crate) const STALE: &str = "NotReady: its last report may be stale";

/// A member's condition that is not True, for a message.
pub(crate) fn why(c: &FeedbackCondition) -> String {
    if c.message.is_empty() {
        format!("{}={}: {}", c.type_, c.status, c.reason)
    } else {
        format!("{}={}: {}: {}", c.type_, c.status, c.reason, c.message)
    }
}

fn member_state(gateway_name: &str, report: &MemberReport<'_>) -> Result<(), String> {
    if !report.ready {
        return Err(STALE.into());
    }
    member_gateway_state(gateway_name, report.work)
}

/// Listeners the member's implementation reports with `Programmed` other
/// than True, and why.
fn failing_listeners<'a>(
    gateway_name: &str,
    work: Option<&'a WorkStatus>,
) -> impl Iterator<Item = (&'a str, String)> {
    work.and_then(|w| find(w, "Gateway", gateway_name))
        .into_iter()
        .flat_map(failing_listeners_of)
}

/// Listeners of one reported object (a Gateway or ListenerSet) with
/// `Programmed` other than True, and why.
fn failing_listeners_of(manifest: &ManifestStatus) -> impl Iterator<Item = (&str, String)> {
    manifest
        .feedback
        .iter()
        .flat_map(|f| f.listeners.iter())
        .filter_map(|l| {
            let c = l.conditions.iter().find(|c| c.type_ == "Programmed")?;
            (c.status != "True").then(|| (l.name.as_str(), why(c)))
        })
}

/// The member's copies of the Gateway's ListenerSets (a Work carries only
/// its Gateway's), as reported.
fn listener_sets(work: Option<&WorkStatus>) -> impl Iterator<Item = (ObjectKey, &ManifestStatus)> {
    work.into_iter()
        .flat_map(|w| w.manifests.iter())
        .filter(|m| m.identity.kind == "ListenerSet")
        .map(|m| {
            let key = ObjectKey {
                namespace: m.identity.namespace.clone().unwrap_or_default(),
                name: m.identity.name.clone(),
            };
            (key, m)
        })
}

/// What global DNS needs of one member's report on its copy of the
/// Gateway: whether it is programmed, its addresses, and which listeners
/// and routes fail there.
pub fn member_gateway(
    cluster: &str,
    (gateway_namespace, gateway_name): (&str, &str),
    work: Option<&WorkStatus>,
) -> MemberGateway {
    MemberGateway {
        cluster: cluster.to_owned(),
        programmed: member_gateway_state(gateway_name, work).is_ok(),
        addresses: member_addresses(gateway_name, work),
        failing_listeners: failing_listeners(gateway_name, work)
            .map(|(name, _)| name.to_owned())
            .chain(listener_sets(work).flat_map(|(set, manifest)| {
                failing_listeners_of(manifest)
                    .map(|(name, _)| dns_records::listener_id("ListenerSet", &set, name))
                    .collect::<Vec<_>>()
            }))
            .collect(),
        failing_routes: failing_routes((gateway_namespace, gateway_name), work).collect(),
    }
}

/// The addresses of the member's copy of the Gateway, as reported.
pub fn member_addresses(gateway_name: &str, work: Option<&WorkStatus>) -> Vec<String> {
    work.and_then(|w| find(w, "Gateway", gateway_name)?.feedback.as_ref())
        .map(|f| f.addresses.clone())
        .unwrap_or_default()
}

/// Routes the member's implementation refuses for the Gateway or one of
/// its ListenerSets (`Accepted=False`) or cannot resolve
/// (`ResolvedRefs=False`, e.g. a backend Service missing in that member):
/// they serve nothing there.
fn failing_routes<'a>(
    gateway: (&'a str, &'a str),
    work: Option<&'a WorkStatus>,
) -> impl Iterator<Item = RouteId> + 'a {
    let sets: Vec<ObjectKey> = listener_sets(work).map(|(key, _)| key).collect();
    work.into_iter()
        .flat_map(|w| w.manifests.iter())
        .filter(move |m| {
            let route_namespace = m.identity.namespace.as_deref().unwrap_or_default();
            m.feedback.as_ref().is_some_and(|f| {
                f.parents.iter().any(|p| {
                    (p.is_for_any(route_namespace, "Gateway", gateway)
                        || sets.iter().any(|set| {
                            p.is_for_any(
                                route_namespace,
                                "ListenerSet",
                                (&set.namespace, &set.name),
                            )
                        }))
                        && p.conditions.iter().any(|c| {
                            (c.type_ == "Accepted" || c.type_ == "ResolvedRefs")
                                && c.status == "False"
                        })
                })
            })
        })
        .map(|m| RouteId::from(&m.identity))
}

pub fn member_gateway_state(gateway_name: &str, work: Option<&WorkStatus>) -> Result<(), String> {
    let work = work.ok_or("not reported yet")?;
    if let Some(applied) = work
        .conditions
        .iter()
        .find(|c| c.type_ == work_condition::APPLIED)
        && applied.status != "True"
    {
        return Err(format!("{}: {}", applied.reason, applied.message));
    }
    let gateway = find(work, "Gateway", gateway_name).ok_or("Gateway not applied yet")?;
    let feedback = gateway
        .feedback
        .as_ref()
        .ok_or("no status from its implementation yet")?;
    match feedback.conditions.iter().find(|c| c.type_ == "Programmed") {
        Some(c) if c.status == "True" => Ok(()),
        Some(c) => Err(format!("Programmed={}: {}", c.status, c.reason)),
        None => Err("no Programmed condition yet".into()),
    }
}

pub(crate) fn find<'a>(work: &'a WorkStatus, kind: &str, name: &str) -> Option<&'a ManifestStatus> {
    work.manifests
        .iter()
        .find(|m| m.identity.kind == kind && m.identity.name == name)
}

/// Addresses of the Gateway in every member, deduplicated, in member
/// order, at most [`MAX_ADDRESSES`].
pub fn gateway_addresses(gateway_name: &str, reports: &[MemberReport<'_>]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    reports
        .iter()
        .filter_map(|r| r.work)
        .filter_map(|w| find(w, "Gateway", gateway_name)?.feedback.as_ref())
        .flat_map(|f| f.addresses.iter())
        .filter(|a| seen.insert(a.as_str()))
        .take(MAX_ADDRESSES)
        .cloned()
        .collect()
}

/// One parentRef of a route to a Gateway or ListenerSet, as the spec and
/// the member's status entries name it.
#[derive(Clone, Copy, Debug)]
pub struct ParentRef<'a> {
    /// `Gateway` or `ListenerSet`.
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub section_name: Option<&'a str>,
    pub port: Option<i32>,
}

impl<'a> ParentRef<'a> {
    /// The whole Gateway `namespace/name`: no section, no port.
    pub fn gateway(namespace: &'a str, name: &'a str) -> Self {
        ParentRef {
            kind: "Gateway",
            namespace,
            name,
            section_name: None,
            port: None,
        }
    }
}

/// A route's condition `condition_type` for one of its parentRefs (a
/// Gateway, and the listener section and port when the parentRef names
/// them), across members:
/// true when every placed member reports it true. When a member
/// reports it false, the reason is the one its implementation gave (the
/// first such member's, in member order; every member's is in the message,
/// attributed to it), so "BackendNotFound" from a member's Traefik reads
/// the same at the hub. Nothing reported false yet: `Pending`.
pub fn route_condition(
    route_kind: &str,
    route_namespace: &str,
    route_name: &str,
    parent: ParentRef<'_>,
    condition_type: &str,
    reports: &[MemberReport<'_>],
) -> Summary {
    summarize(condition_type, reports, |work| {
        find_in(work, route_kind, route_namespace, route_name)?
            .feedback
            .as_ref()?
            .parents
            .iter()
            .find(|p| {
                p.is_for(
                    route_namespace,
                    parent.kind,
                    (parent.namespace, parent.name),
                    parent.section_name,
                    parent.port,
                )
            })?
            .conditions
            .iter()
            .find(|c| c.type_ == condition_type)
    })
}

/// An object's own condition `condition_type` (a ListenerSet's
/// `Accepted`, say) across members, summarized as [`route_condition`] does.
pub fn object_condition(
    kind: &str,
    namespace: &str,
    name: &str,
    condition_type: &str,
    reports: &[MemberReport<'_>],
) -> Summary {
    summarize(condition_type, reports, |work| {
        find_in(work, kind, namespace, name)?
            .feedback
            .as_ref()?
            .conditions
            .iter()
            .find(|c| c.type_ == condition_type)
    })
}

/// The manifest status of `kind` `namespace/name` in a member's Work.
fn find_in<'a>(
    work: &'a WorkStatus,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Option<&'a ManifestStatus> {
    work.manifests.iter().find(|m| {
        m.identity.kind == kind
            && m.identity.name == name
            && m.identity.namespace.as_deref() == Some(namespace)
    })
}

/// True when every placed member reports the condition true (a NotReady
/// member's report is stale and counts against). When a member reports it
/// false, the reason is the one its implementation gave (the first such
/// member's), every member's in the message, attributed to it.
fn summarize<'a>(
    condition_type: &str,
    reports: &[MemberReport<'a>],
    reported: impl Fn(&'a WorkStatus) -> Option<&'a FeedbackCondition>,
) -> Summary {
    let mut yes = Vec::new();
    let mut no = Vec::new();
    let mut member_reason = None;
    for report in reports {
        if !report.ready {
            no.push(format!("{} ({STALE})", report.cluster));
            continue;
        }
        match report.work.and_then(&reported) {
            Some(c) if c.status == "True" => yes.push(report.cluster.to_owned()),
            Some(c) => {
                if member_reason.is_none() && is_valid_reason(&c.reason) {
                    member_reason = Some(c.reason.clone());
                }
                no.push(format!("{} ({}: {})", report.cluster, c.reason, c.message));
            }
            None => no.push(format!("{} (not reported yet)", report.cluster)),
        }
    }
    let status = no.is_empty() && !yes.is_empty();
    let message = match (yes.is_empty(), no.is_empty()) {
        (_, true) if !yes.is_empty() => format!("{condition_type} in {}", listed(&yes)),
        (true, true) => "placed in no member cluster".into(),
        (true, false) => format!("not {condition_type} in {}", listed(&no)),
        (false, false) => format!(
            "{condition_type} in {}; not in {}",
            listed(&yes),
            listed(&no)
        ),
        _ => String::new(),
    };
    let reason = if status {
        condition_type.to_owned()
    } else {
        member_reason.unwrap_or_else(|| "Pending".to_owned())
    };
    Summary {
        status,
        reason,
        message,
    }
}

/// Whether `reason` may be a condition reason (metav1.Condition: 1-1024
/// characters, a letter first, then letters, digits, `_`, `,`, `:`, not
/// ending in `,` or `:`). A member's implementation is outside input: a
/// reason the API server would refuse must not make the hub's write fail.
pub(crate) fn is_valid_reason(reason: &str) -> bool {
    let mut chars = reason.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && reason.len() <= 1024
        && reason
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ',' | ':'))
        && !reason.ends_with([',', ':'])
}

#[cfg(test)]
mod tests {
    use fedway_crds::work::{Feedback, FeedbackCondition, ParentFeedback};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

    use super::*;

    #[test]
    fn messages_name_at_most_ten_members_and_count_the_rest() {
        let members = |n: usize| (0..n).map(|i| format!("m{i}")).collect::<Vec<_>>();
        assert_eq!(listed::<String>(&[]), "");
        assert_eq!(listed(&members(2)), "m0, m1");
        assert_eq!(
            listed(&members(10)),
            "m0, m1, m2, m3, m4, m5, m6, m7, m8, m9"
        );
        assert_eq!(
            listed(&members(11)),
            "m0, m1, m2, m3, m4, m5, m6, m7, m8, m9 and 1 more"
        );
        // A thousand members stay far below the 32768 characters Gateway
        // API allows a condition's message.
        let long: Vec<String> = (0..1000)
            .map(|i| format!("member-{i:04} ({})", "x".repeat(200)))
            .collect();
        assert!(listed(&long).len() < 4096, "{}", listed(&long).len());
    }

    fn condition(type_: &str, status: &str, reason: &str) -> FeedbackCondition {
        FeedbackCondition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: String::new(),
        }
    }

    fn gateway_status(programmed: &str, addresses: &[&str]) -> ManifestStatus {
        ManifestStatus {
            identity: test_identity("Gateway", "shop"),
            conditions: vec![],
            feedback: Some(Feedback {
                addresses: addresses.iter().map(|a| (*a).into()).collect(),
                conditions: vec![condition("Programmed", programmed, "Programmed")],
                ..Default::default()
            }),
        }
    }

    fn route_status(accepted: &str) -> ManifestStatus {
        ManifestStatus {
            identity: test_identity("HTTPRoute", "r"),
            conditions: vec![],
            feedback: Some(Feedback {
                parents: vec![ParentFeedback {
                    gateway: "shop".into(),
                    section_name: None,
                    conditions: vec![condition("Accepted", accepted, "NotAllowedByListeners")],
                    ..Default::default()
                }],
                ..Default::default()
            }),
        }
    }

    fn work(manifests: Vec<ManifestStatus>) -> WorkStatus {
        WorkStatus {
            manifests,
            ..Default::default()
        }
    }

    #[test]
    fn programmed_summary_names_where() {
        let a = work(vec![gateway_status("True", &["127.20.1.10"])]);
        let b = work(vec![gateway_status("False", &[])]);
        let conflict = WorkStatus {
            conditions: vec![Condition {
                type_: "Applied".into(),
                status: "False".into(),
                reason: "Conflict".into(),
                message: "Gateway web/shop exists".into(),
                last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    Default::default(),
                ),
                observed_generation: None,
            }],
            ..Default::default()
        };
        let cases: Vec<(&str, Vec<MemberReport<'_>>, Summary)> = vec![
            (
                "nowhere",
                vec![],
                Summary { status: false, reason: "NoResources".into(), message: "placed in no member cluster".into() },
            ),
            (
                "everywhere",
                vec![MemberReport::new("a", true, &a), MemberReport::new("c", true, &a)],
                Summary { status: true, reason: "Programmed".into(), message: "programmed in 2 of 2 members: a, c".into() },
            ),
            (
                "partly",
                vec![
                    MemberReport::new("a", true, &a),
                    MemberReport::new("b", true, &b),
                    MemberReport { cluster: "c", ready: true, work: None },
                    MemberReport::new("d", true, &conflict),
                ],
                Summary {
                    status: false,
                    reason: "Pending".into(),
                    message: "programmed in 1 of 4 members: a; not programmed in b (Programmed=False: Programmed), c (not reported yet), d (Conflict: Gateway web/shop exists)".into(),
                },
            ),
        ];
        for (name, reports, want) in cases {
            assert_eq!(gateway_programmed("shop", &reports), want, "{name}");
        }
    }

    /// A member Gateway programmed, with listener `https` as `https` says.
    fn with_https_listener(https: &str) -> WorkStatus {
        let mut gateway = gateway_status("True", &[]);
        let feedback = gateway.feedback.as_mut().expect("feedback");
        feedback.listeners = vec![fedway_crds::work::ListenerFeedback {
            name: "https".into(),
            attached_routes: 1,
            conditions: vec![FeedbackCondition {
                message: "bad certificate".into(),
                ..condition("Programmed", https, "Invalid")
            }],
        }];
        work(vec![gateway])
    }

    #[test]
    fn stale_members_and_failing_listeners_degrade_the_gateway() {
        let good = with_https_listener("True");
        let bad_listener = with_https_listener("False");
        let pending = work(vec![gateway_status("False", &[])]);
        let report = MemberReport::new;
        // (case, reports, Programmed (status, message), Degraded (status, reason, message))
        type Case<'a> = (
            &'a str,
            Vec<MemberReport<'a>>,
            (bool, &'a str),
            (bool, &'a str, &'a str),
        );
        let cases: Vec<Case<'_>> = vec![
            (
                "all serve",
                vec![report("a", true, &good), report("b", true, &good)],
                (true, "programmed in 2 of 2 members: a, b"),
                (
                    false,
                    "AllServing",
                    "every placed member serves every listener (2)",
                ),
            ),
            (
                "a NotReady member's programmed report is stale",
                vec![report("a", true, &good), report("b", false, &good)],
                (
                    false,
                    "programmed in 1 of 2 members: a; not programmed in b (NotReady: its last report may be stale)",
                ),
                (
                    true,
                    "MembersFailing",
                    "1 of 2 members serve; failing: b (NotReady: its last report may be stale)",
                ),
            ),
            (
                "a listener fails where the Gateway is programmed",
                vec![report("a", true, &good), report("b", true, &bad_listener)],
                (
                    true,
                    "programmed in 2 of 2 members: a, b; listeners not programmed: b: https (Programmed=False: Invalid: bad certificate)",
                ),
                (
                    true,
                    "ListenersFailing",
                    "listeners not programmed: b: https (Programmed=False: Invalid: bad certificate)",
                ),
            ),
            (
                "none serves",
                vec![report("a", true, &pending), report("b", false, &good)],
                (
                    false,
                    "programmed in 0 of 2 members; not programmed in a (Programmed=False: Programmed), b (NotReady: its last report may be stale)",
                ),
                (
                    false,
                    "NotServing",
                    "no placed member serves the Gateway (see Programmed)",
                ),
            ),
        ];
        for (name, reports, (programmed, programmed_message), (degraded, reason, message)) in cases
        {
            let got = gateway_programmed("shop", &reports);
            assert_eq!(
                (got.status, got.message.as_str()),
                (programmed, programmed_message),
                "{name}"
            );
            let got = gateway_degraded("shop", &reports);
            assert_eq!(
                (got.status, got.reason.as_str(), got.message.as_str()),
                (degraded, reason, message),
                "{name}"
            );
        }
    }

    #[test]
    fn addresses_are_deduplicated_and_bounded() {
        let many: Vec<String> = (0..20).map(|i| format!("127.20.{i}.10")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let a = work(vec![gateway_status(
            "True",
            &["127.20.1.10", "127.20.1.11"],
        )]);
        let b = work(vec![gateway_status("True", &many)]);
        let reports = [
            MemberReport::new("a", true, &a),
            MemberReport::new("b", true, &b),
        ];
        let addresses = gateway_addresses("shop", &reports);
        assert_eq!(addresses.len(), MAX_ADDRESSES);
        assert_eq!(
            &addresses[..3],
            ["127.20.1.10", "127.20.1.11", "127.20.0.10"]
        );
    }

    #[test]
    fn route_acceptance_across_members() {
        // Route web/r's (or `namespace`/r's) Accepted for Gateway web/shop.
        let accepted = |namespace, reports: &[MemberReport<'_>]| {
            route_condition(
                "HTTPRoute",
                namespace,
                "r",
                ParentRef::gateway("web", "shop"),
                "Accepted",
                reports,
            )
        };
        let yes = work(vec![route_status("True")]);
        let no = work(vec![route_status("False")]);
        let all = [
            MemberReport::new("a", true, &yes),
            MemberReport::new("b", true, &yes),
        ];
        let got = accepted("web", &all);
        assert!(got.status, "{got:?}");
        assert_eq!(got.message, "Accepted in a, b");
        assert_eq!(got.reason, "Accepted");
        let mixed = [
            MemberReport::new("a", true, &yes),
            MemberReport::new("b", true, &no),
        ];
        let got = accepted("web", &mixed);
        assert!(!got.status);
        assert_eq!(
            got.message,
            "Accepted in a; not in b (NotAllowedByListeners: )"
        );
        // The member implementation's own reason, not a generic one.
        assert_eq!(got.reason, "NotAllowedByListeners");
        let wrong_namespace = accepted("api", &all);
        assert!(!wrong_namespace.status);
        // Nothing reported false, only nothing reported: Pending.
        assert_eq!(wrong_namespace.reason, "Pending");
        // A NotReady member's true report is stale: not counted.
        let stale = [
            MemberReport::new("a", true, &yes),
            MemberReport::new("b", false, &yes),
        ];
        let got = accepted("web", &stale);
        assert!(!got.status, "{got:?}");
        assert_eq!(
            got.message,
            "Accepted in a; not in b (NotReady: its last report may be stale)"
        );
    }

    #[test]
    fn each_section_of_a_parent_keeps_its_own_status() {
        let mut sections = route_status("True");
        let feedback = sections.feedback.as_mut().expect("feedback");
        feedback.parents = vec![
            ParentFeedback {
                gateway: "shop".into(),
                section_name: Some("http".into()),
                conditions: vec![condition("Accepted", "True", "Accepted")],
                ..Default::default()
            },
            ParentFeedback {
                gateway: "shop".into(),
                section_name: Some("https".into()),
                conditions: vec![condition("Accepted", "False", "NoMatchingListenerHostname")],
                ..Default::default()
            },
            // The same section through another port: another parentRef.
            ParentFeedback {
                gateway: "shop".into(),
                section_name: Some("http".into()),
                port: Some(8080),
                conditions: vec![condition("Accepted", "False", "NotAllowedByListeners")],
                ..Default::default()
            },
            // A Gateway of the same name in another namespace.
            ParentFeedback {
                gateway: "shop".into(),
                namespace: Some("edge".into()),
                section_name: Some("https".into()),
                conditions: vec![condition("Accepted", "True", "Accepted")],
                ..Default::default()
            },
        ];
        // The other namespace's entry first: it must not be taken for ours.
        feedback.parents.rotate_right(1);
        let work = work(vec![sections]);
        let reports = [MemberReport::new("a", true, &work)];
        let accepted = |section_name, port| {
            let parent = ParentRef {
                section_name,
                port,
                ..ParentRef::gateway("web", "shop")
            };
            let got = route_condition("HTTPRoute", "web", "r", parent, "Accepted", &reports);
            (got.status, got.reason)
        };
        assert_eq!(accepted(Some("http"), None), (true, "Accepted".to_owned()));
        assert_eq!(
            accepted(Some("https"), None),
            (false, "NoMatchingListenerHostname".to_owned()),
            "not the entry for Gateway edge/shop"
        );
        assert_eq!(
            accepted(Some("http"), Some(8080)),
            (false, "NotAllowedByListeners".to_owned())
        );
        assert_eq!(
            accepted(None, None),
            (false, "Pending".to_owned()),
            "a parentRef without a section is another parent"
        );
        assert_eq!(
            accepted(Some("https"), Some(443)),
            (false, "Pending".to_owned()),
            "nor is one with a port"
        );
    }
}
