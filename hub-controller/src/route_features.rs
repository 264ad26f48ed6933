//! Capability-aware placement: the Gateway API features a route uses
//! (named as in the upstream conformance suite and in GatewayClass
//! `status.supportedFeatures`), and which of them a member's implementation
//! says it lacks. Members differ a lot (in the v1.6 reports Traefik passes
//! 19 of 38 extended HTTP features, NGINX Gateway Fabric 30), so a route
//! written once can work in one member and half-work in another: the hub
//! says where, and the PlacementPolicy chooses what happens there. Pure.

use std::collections::BTreeSet;

use fedway_crds::{
    MemberCluster,
    member_cluster::DiscoveredGatewayClass,
    placement::{Decision, FALLBACK_CLASS},
    placement_policy::UnsupportedFeatures,
};
use serde_json::Value;

/// The features `route` uses: its kind's core feature and every extended
/// one its fields call for.
pub fn used(route: &Value) -> BTreeSet<&'static str> {
    let mut used = BTreeSet::new();
    let spec = &route["spec"];
    let each = |value: &Value| value.as_array().cloned().unwrap_or_default();
    match route["kind"].as_str().unwrap_or_default() {
        "HTTPRoute" => {
            used.insert("HTTPRoute");
            if each(&spec["parentRefs"])
                .iter()
                .any(|p| !p["port"].is_null())
            {
                used.insert("HTTPRouteParentRefPort");
            }
            for rule in each(&spec["rules"]) {
                if !rule["name"].is_null() {
                    used.insert("HTTPRouteNamedRouteRule");
                }
                for m in each(&rule["matches"]) {
                    if !each(&m["queryParams"]).is_empty() {
                        used.insert("HTTPRouteQueryParamMatching");
                    }
                    if !m["method"].is_null() {
                        used.insert("HTTPRouteMethodMatching");
                    }
                }
                let filters = each(&rule["filters"]);
                let mirrors = filters
                    .iter()
                    .filter(|f| f["type"] == "RequestMirror")
                    .count();
                if mirrors > 1 {
                    used.insert("HTTPRouteRequestMultipleMirrors");
                }
                for filter in &filters {
                    http_filter(filter, &mut used);
                }
                if !rule["timeouts"]["request"].is_null() {
                    used.insert("HTTPRouteRequestTimeout");
                }
                if !rule["timeouts"]["backendRequest"].is_null() {
                    used.insert("HTTPRouteBackendTimeout");
                }
                if !rule["retry"].is_null() {
                    used.insert("HTTPRouteRetry");
                }
                for backend in each(&rule["backendRefs"]) {
                    if each(&backend["filters"])
                        .iter()
                        .any(|f| f["type"] == "RequestHeaderModifier")
                    {
                        used.insert("HTTPRouteBackendRequestHeaderModification");
                    }
                }
            }
        }
        "GRPCRoute" => {
            used.insert("GRPCRoute");
            if each(&spec["rules"]).iter().any(|r| !r["name"].is_null()) {
                used.insert("GRPCRouteNamedRouteRule");
            }
        }
        "TLSRoute" => {
            used.insert("TLSRoute");
        }
        "TCPRoute" => {
            used.insert("TCPRoute");
        }
        "UDPRoute" => {
            used.insert("UDPRoute");
        }
        _ => {}
    }
    used
}

/// The extended features one HTTPRoute rule filter calls for.
fn http_filter(filter: &Value, used: &mut BTreeSet<&'static str>) {
    match filter["type"].as_str().unwrap_or_default() {
        "ResponseHeaderModifier" => {
            used.insert("HTTPRouteResponseHeaderModification");
        }
        "RequestRedirect" => {
            let redirect = &filter["requestRedirect"];
            for (field, feature) in [
                ("port", "HTTPRoutePortRedirect"),
                ("scheme", "HTTPRouteSchemeRedirect"),
                ("path", "HTTPRoutePathRedirect"),
            ] {
                if !redirect[field].is_null() {
                    used.insert(feature);
                }
            }
            match redirect["statusCode"].as_u64() {
                Some(303) => used.insert("HTTPRoute303RedirectStatusCode"),
                Some(307) => used.insert("HTTPRoute307RedirectStatusCode"),
                Some(308) => used.insert("HTTPRoute308RedirectStatusCode"),
                _ => false,
            };
        }
        "URLRewrite" => {
            let rewrite = &filter["urlRewrite"];
            if !rewrite["hostname"].is_null() {
                used.insert("HTTPRouteHostRewrite");
            }
            if !rewrite["path"].is_null() {
                used.insert("HTTPRoutePathRewrite");
            }
        }
        "RequestMirror" => {
            used.insert("HTTPRouteRequestMirror");
            let mirror = &filter["requestMirror"];
            if !mirror["percent"].is_null() || !mirror["fraction"].is_null() {
                used.insert("HTTPRouteRequestPercentageMirror");
            }
        }
        "CORS" => {
            used.insert("HTTPRouteCORS");
        }
        _ => {}
    }
}

/// The features of `used` that `class` does not list; none when the class
/// lists no features at all (its implementation does not say: unknown, not
/// nothing).
pub fn missing(used: &BTreeSet<&'static str>, class: &DiscoveredGatewayClass) -> Vec<&'static str> {
    if class.supported_features.is_empty() {
        return vec![];
    }
    used.iter()
        .filter(|f| !class.supported_features.iter().any(|s| s == *f))
        .copied()
        .collect()
}

/// The condition type on a hub route's parent entries.
pub const FEATURES_SUPPORTED: &str = "fedway.dev/FeaturesSupported";

/// One member whose implementation lacks features a route uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lack {
    pub member: String,
    /// The class the member's copy would have used.
    pub class: String,
    pub features: Vec<&'static str>,
    /// Why `Fallback` kept the member's class instead of moving it to
    /// fedway-proxy ([`fallback`]).
    pub kept: Option<String>,
}

/// Whether `Fallback` can move a member's copy to fedway-proxy for
/// `routes` (those its own class lacks features for): fedway-proxy's class
/// must be there, accepted, and not lack a feature they use itself.
/// Otherwise moving would break what the native class serves, for nothing:
/// the copy stays where it is, and `Err` says why.
pub fn fallback(member: Option<&MemberCluster>, routes: &[&Value]) -> Result<(), String> {
    let class = member
        .and_then(|m| m.status.as_ref())
        .and_then(|s| s.gateway_classes.iter().find(|c| c.name == FALLBACK_CLASS))
        .filter(|c| c.accepted)
        .ok_or_else(|| format!("{FALLBACK_CLASS} is not running there"))?;
    let used: BTreeSet<&'static str> = routes.iter().flat_map(|r| used(r)).collect();
    let features = missing(&used, class);
    if features.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{FALLBACK_CLASS} lacks {} too",
            features.join(", ")
        ))
    }
}

/// `Fallback`: moves each decision whose class lacks features of some
/// routes (`lacks`, per route) to fedway-proxy where [`fallback`] allows,
/// and records on those lacks why it kept the class where it does not.
pub fn fall_back(
    decisions: &mut [Decision],
    lacks: &mut [(&Value, Vec<Lack>)],
    members: &[MemberCluster],
) {
    for decision in decisions {
        let lacking: Vec<&Value> = lacks
            .iter()
            .filter(|(_, lacks)| lacks.iter().any(|l| l.member == decision.cluster))
            .map(|(route, _)| *route)
            .collect();
        if lacking.is_empty() {
            continue;
        }
        let member = members
            .iter()
            .find(|m| m.metadata.name.as_deref() == Some(decision.cluster.as_str()));
        match fallback(member, &lacking) {
            Ok(()) => decision.gateway_class = FALLBACK_CLASS.to_owned(),
            Err(why) => lacks
                .iter_mut()
                .flat_map(|(_, lacks)| lacks.iter_mut())
                .filter(|lack| lack.member == decision.cluster)
                .for_each(|lack| lack.kept = Some(why.clone())),
        }
    }
}

/// The chosen members whose implementation (the class of their decision,
/// as they reported it) lacks features `route` uses.
pub fn lacks(route: &Value, decisions: &[Decision], members: &[MemberCluster]) -> Vec<Lack> {
    let used = used(route);
    decisions
        .iter()
        .filter_map(|decision| {
            let class = members
                .iter()
                .find(|m| m.metadata.name.as_deref() == Some(decision.cluster.as_str()))?
                .status
                .as_ref()?
                .gateway_classes
                .iter()
                .find(|c| c.name == decision.gateway_class)?;
            let features = missing(&used, class);
            (!features.is_empty()).then(|| Lack {
                member: decision.cluster.clone(),
                class: decision.gateway_class.clone(),
                features,
                kept: None,
            })
        })
        .collect()
}

/// The route's `fedway.dev/FeaturesSupported` condition for one Gateway:
/// (status, reason, message), given the members that lack features and
/// what the policy did about it.
pub fn condition(lacks: &[Lack], action: UnsupportedFeatures) -> (bool, &'static str, String) {
    if lacks.is_empty() {
        return (
            true,
            "FeaturesSupported",
            "every member's implementation supports the features this route uses, or does not say"
                .to_owned(),
        );
    }
    let members: Vec<String> = lacks
        .iter()
        .map(|l| {
            let outcome = match (action, &l.kept) {
                (UnsupportedFeatures::Place, _) => "placed there anyway".to_owned(),
                (UnsupportedFeatures::Skip, _) => "not placed there".to_owned(),
                (UnsupportedFeatures::Fallback, None) => {
                    format!("placed there on {FALLBACK_CLASS}")
                }
                (UnsupportedFeatures::Fallback, Some(why)) => {
                    format!("placed there anyway ({why})")
                }
            };
            format!(
                "{} ({}) lacks {}: {outcome}",
                l.member,
                l.class,
                l.features.join(", ")
            )
        })
        .collect();
    (false, "UnsupportedFeatures", members.join("; "))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn http_route(spec: Value) -> Value {
        json!({"kind": "HTTPRoute", "spec": spec})
    }

    #[test]
    fn features_a_route_uses() {
        let cases: Vec<(&str, Value, Vec<&str>)> = vec![
            (
                "a plain HTTPRoute: core only",
                http_route(
                    json!({"rules": [{"matches": [{"path": {"value": "/"}}], "filters": [{"type": "RequestHeaderModifier"}]}]}),
                ),
                vec!["HTTPRoute"],
            ),
            (
                "matches",
                http_route(
                    json!({"rules": [{"matches": [{"method": "GET"}, {"queryParams": [{"name": "q", "value": "1"}]}, {"queryParams": []}]}]}),
                ),
                vec![
                    "HTTPRoute",
                    "HTTPRouteMethodMatching",
                    "HTTPRouteQueryParamMatching",
                ],
            ),
            (
                "redirects",
                http_route(json!({"rules": [{"filters": [
                {"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "port": 443, "statusCode": 301}},
                {"type": "RequestRedirect", "requestRedirect": {"path": {"type": "ReplaceFullPath", "replaceFullPath": "/"}, "statusCode": 308}}]}]})),
                vec![
                    "HTTPRoute",
                    "HTTPRoute308RedirectStatusCode",
                    "HTTPRoutePathRedirect",
                    "HTTPRoutePortRedirect",
                    "HTTPRouteSchemeRedirect",
                ],
            ),
            (
                "rewrites, response headers, CORS",
                http_route(json!({"rules": [{"filters": [
                {"type": "URLRewrite", "urlRewrite": {"hostname": "a"}},
                {"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplacePrefixMatch"}}},
                {"type": "ResponseHeaderModifier"}, {"type": "CORS"}]}]})),
                vec![
                    "HTTPRoute",
                    "HTTPRouteCORS",
                    "HTTPRouteHostRewrite",
                    "HTTPRoutePathRewrite",
                    "HTTPRouteResponseHeaderModification",
                ],
            ),
            (
                "mirrors",
                http_route(json!({"rules": [{"filters": [
                {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "a"}}},
                {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "b"}, "percent": 10}}]}]})),
                vec![
                    "HTTPRoute",
                    "HTTPRouteRequestMirror",
                    "HTTPRouteRequestMultipleMirrors",
                    "HTTPRouteRequestPercentageMirror",
                ],
            ),
            (
                "timeouts, retry, names, parent port, backend filters",
                http_route(json!({
                "parentRefs": [{"name": "shop"}, {"name": "shop", "port": 8080}],
                "rules": [{"name": "cart", "timeouts": {"request": "10s", "backendRequest": "2s"}, "retry": {"attempts": 2},
                           "backendRefs": [{"name": "a", "filters": [{"type": "RequestHeaderModifier"}]}]}]})),
                vec![
                    "HTTPRoute",
                    "HTTPRouteBackendRequestHeaderModification",
                    "HTTPRouteBackendTimeout",
                    "HTTPRouteNamedRouteRule",
                    "HTTPRouteParentRefPort",
                    "HTTPRouteRequestTimeout",
                    "HTTPRouteRetry",
                ],
            ),
            (
                "GRPCRoute",
                json!({"kind": "GRPCRoute", "spec": {"rules": [{"name": "x"}]}}),
                vec!["GRPCRoute", "GRPCRouteNamedRouteRule"],
            ),
            (
                "TLSRoute",
                json!({"kind": "TLSRoute", "spec": {}}),
                vec!["TLSRoute"],
            ),
            ("TCPRoute", json!({"kind": "TCPRoute"}), vec!["TCPRoute"]),
            ("UDPRoute", json!({"kind": "UDPRoute"}), vec!["UDPRoute"]),
            ("not a route", json!({"kind": "Service"}), vec![]),
            (
                "malformed fields are no features",
                http_route(json!({"rules": "x", "parentRefs": {"port": 1}})),
                vec!["HTTPRoute"],
            ),
        ];
        for (case, route, want) in cases {
            assert_eq!(used(&route).into_iter().collect::<Vec<_>>(), want, "{case}");
        }
    }

    #[test]
    fn missing_features_only_where_the_class_says_what_it_supports() {
        let class = |features: &[&str]| DiscoveredGatewayClass {
            name: "traefik".into(),
            controller_name: "traefik.io/gateway-controller".into(),
            accepted: true,
            supported_features: features.iter().map(|f| (*f).to_owned()).collect(),
        };
        let used: BTreeSet<&str> = [
            "HTTPRoute",
            "HTTPRouteRequestMirror",
            "HTTPRouteRequestTimeout",
        ]
        .into();
        assert_eq!(
            missing(&used, &class(&["HTTPRoute", "HTTPRouteRequestTimeout"])),
            ["HTTPRouteRequestMirror"]
        );
        assert_eq!(
            missing(&used, &class(&[])),
            Vec::<&str>::new(),
            "says nothing: unknown"
        );
        assert_eq!(
            missing(&used, &class(&["Gateway"])),
            [
                "HTTPRoute",
                "HTTPRouteRequestMirror",
                "HTTPRouteRequestTimeout"
            ]
        );
    }

    #[test]
    fn fallback_only_where_fedway_proxy_runs_and_has_the_features() {
        let member = |classes: Vec<DiscoveredGatewayClass>| {
            let mut m = MemberCluster::new("eu", Default::default());
            m.status = Some(fedway_crds::member_cluster::MemberClusterStatus {
                gateway_classes: classes,
                ..Default::default()
            });
            m
        };
        let proxy = |accepted: bool, features: &[&str]| DiscoveredGatewayClass {
            name: "fedway-proxy".into(),
            controller_name: "fedway.dev/lb-proxy".into(),
            accepted,
            supported_features: features.iter().map(|f| (*f).to_owned()).collect(),
        };
        let timeout = http_route(json!({"rules": [{"timeouts": {"request": "5s"}}]}));
        let cors = http_route(
            json!({"rules": [{"filters": [{"type": "CORS", "cors": {"allowOrigins": ["*"]}}]}]}),
        );
        let routes = [&timeout, &cors];
        let full = ["HTTPRoute", "HTTPRouteRequestTimeout", "HTTPRouteCORS"];
        let cases: Vec<(&str, Option<MemberCluster>, Result<(), &str>)> = vec![
            ("has them", Some(member(vec![proxy(true, &full)])), Ok(())),
            (
                "says nothing: unknown, so taken",
                Some(member(vec![proxy(true, &[])])),
                Ok(()),
            ),
            (
                "lacks one",
                Some(member(vec![proxy(true, &full[..2])])),
                Err("fedway-proxy lacks HTTPRouteCORS too"),
            ),
            (
                "not accepted",
                Some(member(vec![proxy(false, &full)])),
                Err("fedway-proxy is not running there"),
            ),
            (
                "not installed",
                Some(member(vec![])),
                Err("fedway-proxy is not running there"),
            ),
            (
                "unknown member",
                None,
                Err("fedway-proxy is not running there"),
            ),
        ];
        for (case, member, want) in cases {
            assert_eq!(
                fallback(member.as_ref(), &routes),
                want.map_err(str::to_owned),
                "{case}"
            );
        }
    }

    #[test]
    fn fall_back_moves_only_the_members_fedway_proxy_can_serve() {
        let member = |name: &str, proxy: bool| {
            let mut m = MemberCluster::new(name, Default::default());
            m.status = Some(fedway_crds::member_cluster::MemberClusterStatus {
                gateway_classes: proxy
                    .then(|| DiscoveredGatewayClass {
                        name: "fedway-proxy".into(),
                        controller_name: "fedway.dev/lb-proxy".into(),
                        accepted: true,
                        supported_features: vec![],
                    })
                    .into_iter()
                    .collect(),
                ..Default::default()
            });
            m
        };
        let members = [member("eu", true), member("us", false), member("ap", false)];
        let decision = |cluster: &str| Decision {
            cluster: cluster.into(),
            gateway_class: "native".into(),
        };
        let mut decisions = [decision("eu"), decision("us"), decision("ap")];
        let route = http_route(json!({"rules": [{"timeouts": {"request": "5s"}}]}));
        let lack = |member: &str| Lack {
            member: member.into(),
            class: "native".into(),
            features: vec!["HTTPRouteRequestTimeout"],
            kept: None,
        };
        let mut lacks = [(&route, vec![lack("eu"), lack("us")])];
        fall_back(&mut decisions, &mut lacks, &members);
        let classes: Vec<&str> = decisions.iter().map(|d| d.gateway_class.as_str()).collect();
        assert_eq!(
            classes,
            ["fedway-proxy", "native", "native"],
            "ap lacks nothing"
        );
        let kept: Vec<Option<&str>> = lacks[0].1.iter().map(|l| l.kept.as_deref()).collect();
        assert_eq!(kept, [None, Some("fedway-proxy is not running there")]);
    }

    #[test]
    fn the_condition_names_each_member_its_features_and_the_outcome() {
        let lacks = [
            Lack {
                member: "eu".into(),
                class: "traefik".into(),
                features: vec!["HTTPRouteCORS", "HTTPRouteRequestMirror"],
                kept: None,
            },
            Lack {
                member: "us".into(),
                class: "nginx".into(),
                features: vec!["HTTPRouteCORS"],
                kept: Some("fedway-proxy is not running there".into()),
            },
        ];
        assert_eq!(
            condition(&lacks, UnsupportedFeatures::Skip),
            (false, "UnsupportedFeatures",
             "eu (traefik) lacks HTTPRouteCORS, HTTPRouteRequestMirror: not placed there; us (nginx) lacks HTTPRouteCORS: not placed there".to_owned())
        );
        assert_eq!(
            condition(&lacks, UnsupportedFeatures::Fallback).2,
            "eu (traefik) lacks HTTPRouteCORS, HTTPRouteRequestMirror: placed there on fedway-proxy; \
             us (nginx) lacks HTTPRouteCORS: placed there anyway (fedway-proxy is not running there)"
        );
        assert!(
            condition(&lacks[..1], UnsupportedFeatures::Place)
                .2
                .ends_with(": placed there anyway")
        );
        assert!(condition(&[], UnsupportedFeatures::Skip).0);
    }
}
