//! Placement: which member clusters run a hub Gateway, and with which
//! GatewayClass there. A pure function of the policy and what the hub knows
//! about its members.

use std::collections::BTreeMap;

use crate::{
    member_cluster::DiscoveredGatewayClass, placement_policy::PlacementPolicySpec, selector,
};

/// The class of Fedway's own proxy, used where a member has none.
pub const FALLBACK_CLASS: &str = "fedway-proxy";

/// Controllers that are Fedway's own and never a member's native class.
const FEDWAY_CONTROLLERS: [&str; 2] = ["fedway.dev/hub", "fedway.dev/lb-proxy"];

/// What placement needs to know about one member.
#[derive(Clone, Debug)]
pub struct Member<'a> {
    pub name: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    /// Its agent's heartbeat is fresh.
    pub ready: bool,
    /// It already runs this Gateway (it has a Work for it), with this
    /// GatewayClass. A member that goes NotReady keeps what it runs: config
    /// stays, traffic moves.
    pub placed: Option<&'a str>,
    /// GatewayClasses its agent found.
    pub classes: &'a [DiscoveredGatewayClass],
}

/// One member chosen, with the class its copy of the Gateway uses.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Decision {
    pub cluster: String,
    pub gateway_class: String,
}

/// Chooses the members for a Gateway, sorted by name.
///
/// Without a policy (or with one that names no clusters) every eligible
/// member is chosen; a member is eligible when Ready or already running the
/// Gateway. With `clusterSelector` and/or `clusterNames`, a member is chosen
/// when it matches either.
pub fn place(policy: Option<&PlacementPolicySpec>, members: &[Member<'_>]) -> Vec<Decision> {
    let mut decisions: Vec<Decision> = members
        .iter()
        .filter(|m| eligible(policy, m))
        .map(|m| Decision {
            cluster: m.name.to_owned(),
            gateway_class: class_for(policy, m),
        })
        .collect();
    decisions.sort();
    decisions
}

/// Whether [`place`] chooses `member`: Ready or already running the
/// Gateway, and selected by the policy. A change to a member that is not
/// eligible before or after it cannot change the Gateway's placement.
pub fn eligible(policy: Option<&PlacementPolicySpec>, member: &Member<'_>) -> bool {
    (member.ready || member.placed.is_some()) && policy.is_none_or(|p| selects(p, member))
}

fn selects(policy: &PlacementPolicySpec, member: &Member<'_>) -> bool {
    if policy.cluster_selector.is_none() && policy.cluster_names.is_empty() {
        return true;
    }
    policy.cluster_names.iter().any(|n| n == member.name)
        || policy
            .cluster_selector
            .as_ref()
            .is_some_and(|s| selector::matches(s, member.labels))
}

/// The policy's first matching class mapping, else the native class the
/// member's copy already uses while the member still has that class (even
/// not accepted: an implementation restarting must not move the Gateway to
/// Fedway's proxy and back), else the member's native class, else Fedway's
/// proxy.
fn class_for(policy: Option<&PlacementPolicySpec>, member: &Member<'_>) -> String {
    let mapped = policy
        .into_iter()
        .flat_map(|p| &p.class_mapping)
        .find(|mapping| {
            mapping.cluster_names.iter().any(|n| n == member.name)
                || mapping
                    .cluster_selector
                    .as_ref()
                    .is_some_and(|s| selector::matches(s, member.labels))
        });
    if let Some(mapping) = mapped {
        return mapping.gateway_class_name.clone();
    }
    let kept = member.placed.filter(|current| {
        member.classes.iter().any(|c| {
            c.name == *current && !FEDWAY_CONTROLLERS.contains(&c.controller_name.as_str())
        })
    });
    kept.or_else(|| native_class(member.classes))
        .unwrap_or(FALLBACK_CLASS)
        .to_owned()
}

/// The member's own Gateway API implementation: an accepted class of a
/// controller that is not Fedway's; the first by name when there are several,
/// so the choice is stable.
pub fn native_class(classes: &[DiscoveredGatewayClass]) -> Option<&str> {
    classes
        .iter()
        .filter(|c| c.accepted && !FEDWAY_CONTROLLERS.contains(&c.controller_name.as_str()))
        .map(|c| c.name.as_str())
        .min()
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    use super::*;
    use crate::placement_policy::ClassMapping;

    fn class(name: &str, controller: &str, accepted: bool) -> DiscoveredGatewayClass {
        DiscoveredGatewayClass {
            name: name.into(),
            controller_name: controller.into(),
            accepted,
            supported_features: vec![],
        }
    }

    fn region(r: &str) -> BTreeMap<String, String> {
        [("region".to_owned(), r.to_owned())].into()
    }

    fn selector(r: &str) -> LabelSelector {
        LabelSelector {
            match_labels: Some(region(r)),
            ..Default::default()
        }
    }

    struct Fixture {
        eu: BTreeMap<String, String>,
        us: BTreeMap<String, String>,
        istio: Vec<DiscoveredGatewayClass>,
        envoy_and_istio: Vec<DiscoveredGatewayClass>,
        only_fedway: Vec<DiscoveredGatewayClass>,
        not_accepted: Vec<DiscoveredGatewayClass>,
    }

    impl Fixture {
        fn new() -> Self {
            Self {
                eu: region("eu"),
                us: region("us"),
                istio: vec![class("istio", "istio.io/gateway-controller", true)],
                envoy_and_istio: vec![
                    class("istio", "istio.io/gateway-controller", true),
                    class("eg", "gateway.envoyproxy.io/gatewayclass-controller", true),
                ],
                only_fedway: vec![class("fedway-proxy", "fedway.dev/lb-proxy", true)],
                not_accepted: vec![class("broken", "example.com/ctrl", false)],
            }
        }

        fn members(&self) -> Vec<Member<'_>> {
            vec![
                Member {
                    name: "eu-1",
                    labels: &self.eu,
                    ready: true,
                    placed: None,
                    classes: &self.istio,
                },
                Member {
                    name: "eu-2",
                    labels: &self.eu,
                    ready: false,
                    placed: None,
                    classes: &self.envoy_and_istio,
                },
                Member {
                    name: "eu-3",
                    labels: &self.eu,
                    ready: false,
                    placed: Some("fedway-proxy"),
                    classes: &self.only_fedway,
                },
                Member {
                    name: "us-1",
                    labels: &self.us,
                    ready: true,
                    placed: None,
                    classes: &self.not_accepted,
                },
                Member {
                    name: "us-2",
                    labels: &self.us,
                    ready: true,
                    placed: None,
                    classes: &self.envoy_and_istio,
                },
            ]
        }
    }

    fn decisions(list: &[(&str, &str)]) -> Vec<Decision> {
        list.iter()
            .map(|(c, g)| Decision {
                cluster: (*c).into(),
                gateway_class: (*g).into(),
            })
            .collect()
    }

    #[test]
    fn placement_table() {
        let fixture = Fixture::new();
        let members = fixture.members();
        let cases: Vec<(&str, Option<PlacementPolicySpec>, Vec<Decision>)> = vec![
            (
                "no policy: every Ready member, and members already running it; native class else fedway-proxy",
                None,
                decisions(&[
                    ("eu-1", "istio"),
                    ("eu-3", "fedway-proxy"),
                    ("us-1", "fedway-proxy"),
                    ("us-2", "eg"),
                ]),
            ),
            (
                "policy without clusters behaves like no policy",
                Some(PlacementPolicySpec::default()),
                decisions(&[
                    ("eu-1", "istio"),
                    ("eu-3", "fedway-proxy"),
                    ("us-1", "fedway-proxy"),
                    ("us-2", "eg"),
                ]),
            ),
            (
                "selector",
                Some(PlacementPolicySpec {
                    cluster_selector: Some(selector("us")),
                    ..Default::default()
                }),
                decisions(&[("us-1", "fedway-proxy"), ("us-2", "eg")]),
            ),
            (
                "names",
                Some(PlacementPolicySpec {
                    cluster_names: vec!["eu-1".into(), "nope".into()],
                    ..Default::default()
                }),
                decisions(&[("eu-1", "istio")]),
            ),
            (
                "selector or names",
                Some(PlacementPolicySpec {
                    cluster_selector: Some(selector("us")),
                    cluster_names: vec!["eu-1".into()],
                    ..Default::default()
                }),
                decisions(&[("eu-1", "istio"), ("us-1", "fedway-proxy"), ("us-2", "eg")]),
            ),
            (
                "a NotReady member not yet running it is not chosen, even by name",
                Some(PlacementPolicySpec {
                    cluster_names: vec!["eu-2".into()],
                    ..Default::default()
                }),
                vec![],
            ),
            (
                "class mapping: first match wins, by name or selector",
                Some(PlacementPolicySpec {
                    class_mapping: vec![
                        ClassMapping {
                            cluster_names: vec!["us-2".into()],
                            cluster_selector: None,
                            gateway_class_name: "special".into(),
                        },
                        ClassMapping {
                            cluster_names: vec![],
                            cluster_selector: Some(selector("us")),
                            gateway_class_name: "us-class".into(),
                        },
                        ClassMapping {
                            cluster_names: vec![],
                            cluster_selector: Some(selector("us")),
                            gateway_class_name: "never".into(),
                        },
                    ],
                    ..Default::default()
                }),
                decisions(&[
                    ("eu-1", "istio"),
                    ("eu-3", "fedway-proxy"),
                    ("us-1", "us-class"),
                    ("us-2", "special"),
                ]),
            ),
        ];
        for (name, policy, want) in cases {
            assert_eq!(place(policy.as_ref(), &members), want, "{name}");
        }
    }

    #[test]
    fn native_class_ignores_fedway_and_unaccepted_classes_and_is_stable() {
        let fixture = Fixture::new();
        assert_eq!(native_class(&fixture.only_fedway), None);
        assert_eq!(native_class(&fixture.not_accepted), None);
        assert_eq!(native_class(&fixture.envoy_and_istio), Some("eg"));
        let mut reversed = fixture.envoy_and_istio.clone();
        reversed.reverse();
        assert_eq!(native_class(&reversed), Some("eg"));
    }

    #[test]
    fn a_member_keeps_the_native_class_its_copy_uses_while_it_has_that_class() {
        let labels = BTreeMap::new();
        let istio_restarting = vec![class("istio", "istio.io/gateway-controller", false)];
        let istio_restarting_and_eg = vec![
            class("istio", "istio.io/gateway-controller", false),
            class("eg", "gateway.envoyproxy.io/gatewayclass-controller", true),
        ];
        let istio_and_eg = vec![
            class("istio", "istio.io/gateway-controller", true),
            class("eg", "gateway.envoyproxy.io/gatewayclass-controller", true),
        ];
        let only_eg = vec![class(
            "eg",
            "gateway.envoyproxy.io/gatewayclass-controller",
            true,
        )];
        let only_fedway = vec![class("fedway-proxy", "fedway.dev/lb-proxy", true)];
        let mapping = PlacementPolicySpec {
            class_mapping: vec![ClassMapping {
                cluster_names: vec!["m".into()],
                cluster_selector: None,
                gateway_class_name: "mapped".into(),
            }],
            ..Default::default()
        };
        // (case, policy, the class its copy uses, its classes, the class chosen)
        type Case<'a> = (
            &'a str,
            Option<&'a PlacementPolicySpec>,
            Option<&'a str>,
            &'a [DiscoveredGatewayClass],
            &'a str,
        );
        let cases: [Case<'_>; 8] = [
            (
                "a restart: istio not accepted for a moment, kept",
                None,
                Some("istio"),
                &istio_restarting,
                "istio",
            ),
            (
                "kept over another accepted class",
                None,
                Some("istio"),
                &istio_restarting_and_eg,
                "istio",
            ),
            (
                "kept over one first by name",
                None,
                Some("istio"),
                &istio_and_eg,
                "istio",
            ),
            (
                "a new Gateway takes an accepted class",
                None,
                None,
                &istio_restarting_and_eg,
                "eg",
            ),
            (
                "uninstalled: the member's other class",
                None,
                Some("istio"),
                &only_eg,
                "eg",
            ),
            (
                "uninstalled: Fedway's proxy",
                None,
                Some("istio"),
                &only_fedway,
                "fedway-proxy",
            ),
            (
                "from Fedway's proxy to a native class once there is one",
                None,
                Some("fedway-proxy"),
                &only_eg,
                "eg",
            ),
            (
                "a class mapping wins",
                Some(&mapping),
                Some("istio"),
                &istio_and_eg,
                "mapped",
            ),
        ];
        for (case, policy, placed, classes, want) in cases {
            let member = Member {
                name: "m",
                labels: &labels,
                ready: true,
                placed,
                classes,
            };
            assert_eq!(
                place(policy, &[member]),
                decisions(&[("m", want)]),
                "{case}"
            );
        }
    }
}
