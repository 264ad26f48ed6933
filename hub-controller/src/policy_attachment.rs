//! Which policies go along with a federated Gateway (GEP-713 policy
//! attachment): a policy of a kind the hub federates travels to the members
//! that run what it targets — the Gateway itself, a route the member runs,
//! or a Service such a route sends to — with the ConfigMaps it needs (a
//! BackendTLSPolicy's CA certificates). Pure.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::work_builder::{GATEWAY_API_GROUP, ObjectKey, str_at};

/// The policy's targets as written: `spec.targetRefs`, or the older single
/// `spec.targetRef` some implementations still accept.
fn target_refs(policy: &Value) -> impl Iterator<Item = &Value> {
    let spec = &policy["spec"];
    spec["targetRefs"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(spec["targetRef"].is_object().then_some(&spec["targetRef"]))
}

/// Whether `target` (a local reference from a policy in `namespace`) names
/// the object of `group`/`kind` at `key`.
fn names(target: &Value, namespace: &str, group: &str, kind: &str, key: &ObjectKey) -> bool {
    // The core group is written "" (and sometimes "core").
    let target_group = match target["group"].as_str().unwrap_or_default() {
        "core" => "",
        g => g,
    };
    target_group == group
        && target["kind"] == kind
        && target["name"] == key.name.as_str()
        && namespace == key.namespace
}

/// The Services a route sends to, as (namespace, name).
fn backend_services(route: &Value) -> impl Iterator<Item = ObjectKey> + '_ {
    let namespace = str_at(route, &["metadata", "namespace"]);
    route["spec"]["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|rule| rule["backendRefs"].as_array().into_iter().flatten())
        .filter(|b| {
            matches!(b["group"].as_str().unwrap_or_default(), "" | "core")
                && b["kind"].as_str().unwrap_or("Service") == "Service"
        })
        .filter_map(move |b| {
            Some(ObjectKey {
                namespace: b["namespace"].as_str().unwrap_or(namespace).to_owned(),
                name: b["name"].as_str()?.to_owned(),
            })
        })
}

/// The policies (of the kinds the hub federates, all listed in `policies`)
/// that target the Gateway at `gateway`, one of `routes` (those the member
/// runs), or a Service one of them sends to; in a stable order.
pub fn attached<'a>(
    gateway: &ObjectKey,
    routes: &[&Value],
    policies: &'a [Value],
) -> Vec<&'a Value> {
    let services: BTreeSet<ObjectKey> = routes.iter().flat_map(|r| backend_services(r)).collect();
    let mut attached: Vec<&Value> = policies
        .iter()
        .filter(|policy| {
            let namespace = str_at(policy, &["metadata", "namespace"]);
            target_refs(policy).any(|target| {
                names(target, namespace, GATEWAY_API_GROUP, "Gateway", gateway)
                    || routes.iter().any(|route| {
                        names(
                            target,
                            namespace,
                            GATEWAY_API_GROUP,
                            str_at(route, &["kind"]),
                            &ObjectKey::of(route),
                        )
                    })
                    || services
                        .iter()
                        .any(|service| names(target, namespace, "", "Service", service))
            })
        })
        .collect();
    attached.sort_by_key(|p| (str_at(p, &["kind"]).to_owned(), ObjectKey::of(p)));
    attached
}

/// The ConfigMaps the policies name as CA certificates (BackendTLSPolicy's
/// `validation.caCertificateRefs`; always in the policy's namespace). CA
/// certificates are public: they travel in the Work. Other kinds of
/// reference (a Secret, which some implementations allow) are the member's
/// own.
pub fn config_maps(policies: &[&Value]) -> BTreeSet<ObjectKey> {
    policies
        .iter()
        .flat_map(|policy| {
            let namespace = str_at(policy, &["metadata", "namespace"]);
            policy["spec"]["validation"]["caCertificateRefs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| {
                    matches!(r["group"].as_str().unwrap_or_default(), "" | "core")
                        && r["kind"] == "ConfigMap"
                })
                .filter_map(move |r| {
                    Some(ObjectKey {
                        namespace: namespace.to_owned(),
                        name: r["name"].as_str()?.to_owned(),
                    })
                })
        })
        .collect()
}

/// The Gateway a policy targets directly, if any (the trigger for a
/// change to it; other targets reach their Gateways through the routes).
pub fn targeted_gateways(policy: &Value) -> Vec<ObjectKey> {
    let namespace = str_at(policy, &["metadata", "namespace"]);
    target_refs(policy)
        .filter(|t| t["group"] == GATEWAY_API_GROUP && t["kind"] == "Gateway")
        .filter_map(|t| {
            Some(ObjectKey {
                namespace: namespace.to_owned(),
                name: t["name"].as_str()?.to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn key(namespace: &str, name: &str) -> ObjectKey {
        ObjectKey {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    fn policy(kind: &str, namespace: &str, name: &str, spec: Value) -> Value {
        json!({"apiVersion": "example.com/v1", "kind": kind,
               "metadata": {"name": name, "namespace": namespace}, "spec": spec})
    }

    fn route(namespace: &str, name: &str, backends: Value) -> Value {
        json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
               "metadata": {"name": name, "namespace": namespace},
               "spec": {"parentRefs": [{"name": "shop"}], "rules": [{"backendRefs": backends}]}})
    }

    /// A policy goes along when one of its targets is the Gateway, a route
    /// the member runs, or a Service such a route sends to — in the
    /// policy's own namespace, with the target's group and kind.
    #[test]
    fn policies_go_where_their_targets_run() {
        let gateway = key("web", "shop");
        let carried = route(
            "web",
            "cart",
            json!([{"name": "cart", "port": 80}, {"name": "pay", "namespace": "payments", "port": 443},
                   {"group": "example.com", "kind": "Bucket", "name": "assets"}]),
        );
        let routes = [&carried];
        let cases = [
            (
                "gateway",
                "web",
                json!({"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shop"}]}),
                true,
            ),
            (
                "gateway by the older targetRef",
                "web",
                json!({"targetRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shop"}}),
                true,
            ),
            (
                "gateway section",
                "web",
                json!({"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shop", "sectionName": "https"}]}),
                true,
            ),
            (
                "another gateway",
                "web",
                json!({"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "other"}]}),
                false,
            ),
            (
                "same name, other namespace",
                "other",
                json!({"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shop"}]}),
                false,
            ),
            (
                "carried route",
                "web",
                json!({"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "cart"}]}),
                true,
            ),
            (
                "route of another kind",
                "web",
                json!({"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "GRPCRoute", "name": "cart"}]}),
                false,
            ),
            (
                "route not carried",
                "web",
                json!({"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "admin"}]}),
                false,
            ),
            (
                "backend service",
                "web",
                json!({"targetRefs": [{"group": "", "kind": "Service", "name": "cart"}]}),
                true,
            ),
            (
                "backend service, core group",
                "web",
                json!({"targetRefs": [{"group": "core", "kind": "Service", "name": "cart"}]}),
                true,
            ),
            (
                "backend in another namespace",
                "payments",
                json!({"targetRefs": [{"group": "", "kind": "Service", "name": "pay"}]}),
                true,
            ),
            (
                "a service of that name elsewhere",
                "web",
                json!({"targetRefs": [{"group": "", "kind": "Service", "name": "pay"}]}),
                false,
            ),
            (
                "not a service backend",
                "web",
                json!({"targetRefs": [{"group": "", "kind": "Service", "name": "assets"}]}),
                false,
            ),
            (
                "one of several targets",
                "web",
                json!({"targetRefs": [{"group": "", "kind": "Service", "name": "gone"}, {"group": "", "kind": "Service", "name": "cart"}]}),
                true,
            ),
            ("no targets", "web", json!({}), false),
        ];
        for (what, namespace, spec, wanted) in cases {
            let policies = [policy("RateLimitPolicy", namespace, "p", spec)];
            assert_eq!(
                !attached(&gateway, &routes, &policies).is_empty(),
                wanted,
                "{what}"
            );
        }
    }

    #[test]
    fn attached_policies_come_in_a_stable_order() {
        let gateway = key("web", "shop");
        let target = json!({"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shop"}]});
        let policies = [
            policy("RateLimitPolicy", "web", "b", target.clone()),
            policy("BackendTLSPolicy", "web", "z", target.clone()),
            policy("RateLimitPolicy", "web", "a", target),
        ];
        let names: Vec<String> = attached(&gateway, &[], &policies)
            .iter()
            .map(|p| {
                format!(
                    "{}/{}",
                    p["kind"].as_str().unwrap_or_default(),
                    p["metadata"]["name"].as_str().unwrap_or_default()
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                "BackendTLSPolicy/z",
                "RateLimitPolicy/a",
                "RateLimitPolicy/b"
            ]
        );
    }

    #[test]
    fn backend_tls_policies_bring_their_ca_config_maps() {
        let tls = policy(
            "BackendTLSPolicy",
            "web",
            "cart-tls",
            json!({"validation": {"hostname": "cart.internal", "caCertificateRefs": [
                {"group": "", "kind": "ConfigMap", "name": "cart-ca"},
                {"group": "", "kind": "Secret", "name": "member-own"},
                {"group": "", "kind": "ConfigMap", "name": "cart-ca"},
            ]}}),
        );
        let system = policy(
            "BackendTLSPolicy",
            "web",
            "pay-tls",
            json!({"validation": {"hostname": "pay.internal", "wellKnownCACertificates": "System"}}),
        );
        assert_eq!(
            config_maps(&[&tls, &system]),
            BTreeSet::from([key("web", "cart-ca")])
        );
    }

    #[test]
    fn only_direct_gateway_targets_are_triggers() {
        let p = policy(
            "RateLimitPolicy",
            "web",
            "p",
            json!({"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shop"},
                                  {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "cart"}]}),
        );
        assert_eq!(targeted_gateways(&p), [key("web", "shop")]);
    }
}
