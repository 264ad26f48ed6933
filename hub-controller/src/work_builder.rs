//! What one member runs for one hub Gateway: the Gateway with its class
//! mapped, the routes attached to it with their parentRefs narrowed to it,
//! and the ReferenceGrants those references need. Objects are copied as raw
//! JSON, so fields Fedway does not know reach the member unchanged; only
//! server-owned metadata and status are dropped.

use std::collections::BTreeSet;

use fedway_crds::work::Manifest;
use serde_json::{Map, Value};

use crate::policy_attachment;

pub const GATEWAY_API_GROUP: &str = "gateway.networking.k8s.io";

/// Namespace and name of an object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn of(object: &Value) -> ObjectKey {
        ObjectKey {
            namespace: str_at(object, &["metadata", "namespace"]).to_owned(),
            name: str_at(object, &["metadata", "name"]).to_owned(),
        }
    }
}

/// A hub Gateway and the ListenerSets attached to it: the parents its
/// Works carry, which routes attach to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parents {
    pub gateway: ObjectKey,
    pub listener_sets: Vec<ObjectKey>,
}

impl Parents {
    /// The Gateway alone.
    pub fn gateway(gateway: ObjectKey) -> Parents {
        Parents {
            gateway,
            listener_sets: Vec::new(),
        }
    }

    /// The Gateway and those of `listener_sets` (every one of the hub)
    /// whose parentRef is the Gateway.
    pub fn of(gateway: &Value, listener_sets: &[Value]) -> Parents {
        let gateway = ObjectKey::of(gateway);
        let listener_sets = listener_sets_of(&gateway, listener_sets)
            .map(ObjectKey::of)
            .collect();
        Parents {
            gateway,
            listener_sets,
        }
    }

    /// Whether a route's `parent` reference (from `route_namespace`) is one
    /// of these.
    fn include(&self, parent: &Value, route_namespace: &str) -> bool {
        parent_is(parent, route_namespace, "Gateway", &self.gateway)
            || self
                .listener_sets
                .iter()
                .any(|set| parent_is(parent, route_namespace, "ListenerSet", set))
    }
}

/// Whether a route's `parent` reference (from `route_namespace`) names the
/// Gateway API object of `kind` (Gateway or ListenerSet) `key`.
pub fn parent_is(parent: &Value, route_namespace: &str, kind: &str, key: &ObjectKey) -> bool {
    parent["group"].as_str().unwrap_or(GATEWAY_API_GROUP) == GATEWAY_API_GROUP
        && parent["kind"].as_str().unwrap_or("Gateway") == kind
        && parent["namespace"].as_str().unwrap_or(route_namespace) == key.namespace
        && parent["name"] == key.name
}

/// The ListenerSets whose parentRef is the Gateway `gateway`, in a stable
/// order.
pub fn listener_sets_of<'a>(
    gateway: &ObjectKey,
    listener_sets: &'a [Value],
) -> impl Iterator<Item = &'a Value> + use<'a> {
    let mut of: Vec<&Value> = listener_sets
        .iter()
        .filter(|set| {
            let parent = &set["spec"]["parentRef"];
            parent["group"].as_str().unwrap_or(GATEWAY_API_GROUP) == GATEWAY_API_GROUP
                && parent["kind"].as_str().unwrap_or("Gateway") == "Gateway"
                && parent["namespace"]
                    .as_str()
                    .unwrap_or(str_at(set, &["metadata", "namespace"]))
                    == gateway.namespace
                && parent["name"] == gateway.name
        })
        .collect();
    of.sort_by_key(|set| ObjectKey::of(set));
    of.into_iter()
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The hub objects one Gateway's Works are built from.
pub struct Sources<'a> {
    pub gateway: &'a Value,
    /// ListenerSets of the hub (attached to this Gateway or not).
    pub listener_sets: &'a [Value],
    /// HTTPRoutes and GRPCRoutes of the hub (attached or not).
    pub routes: &'a [Value],
    pub reference_grants: &'a [Value],
    /// Policies of the kinds the hub federates (attached or not).
    pub policies: &'a [Value],
    /// The ConfigMaps attached policies name (others are ignored).
    pub config_maps: &'a [Value],
}

/// The manifests of the Work for one member, in a stable order: Gateway,
/// its ListenerSets, routes (those attached to either that `keep` keeps),
/// ReferenceGrants, the policies that target any of them (or a Service a
/// route sends to), the ConfigMaps those policies name.
pub fn manifests(
    sources: &Sources<'_>,
    gateway_class: &str,
    keep: impl Fn(&Value) -> bool,
) -> Vec<Manifest> {
    let parents = Parents::of(sources.gateway, sources.listener_sets);
    let mut gateway = clean(sources.gateway);
    if let Some(spec) = gateway.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("gatewayClassName".into(), gateway_class.into());
    }
    let listener_sets: Vec<&Value> =
        listener_sets_of(&parents.gateway, sources.listener_sets).collect();

    let mut routes: Vec<&Value> = attached_routes(&parents, sources.routes)
        .filter(|route| keep(route))
        .collect();
    routes.sort_by_key(|r| (str_at(r, &["kind"]).to_owned(), ObjectKey::of(r)));
    let listener_owners: Vec<&Value> = std::iter::once(sources.gateway)
        .chain(listener_sets.iter().copied())
        .collect();
    let grants = needed_grants(&listener_owners, &routes, sources.reference_grants);
    let policies = policy_attachment::attached(&parents.gateway, &routes, sources.policies);
    let mut config_maps = policy_attachment::config_maps(&policies);
    config_maps.extend(frontend_ca_config_maps(sources.gateway));

    let mut manifests = vec![Manifest(gateway)];
    manifests.extend(listener_sets.into_iter().map(|set| Manifest(clean(set))));
    manifests.extend(routes.into_iter().map(|route| {
        let mut route = clean(route);
        narrow_parent_refs(&mut route, &parents);
        Manifest(route)
    }));
    manifests.extend(grants.into_iter().map(|g| Manifest(clean(g))));
    manifests.extend(policies.into_iter().map(|p| Manifest(clean(p))));
    manifests.extend(config_maps.iter().filter_map(|key| {
        let found = sources
            .config_maps
            .iter()
            .find(|c| ObjectKey::of(c) == *key)?;
        Some(Manifest(clean(found)))
    }));
    manifests
}

/// Routes with a parentRef to the Gateway or one of its ListenerSets.
pub fn attached_routes<'a>(
    parents: &'a Parents,
    routes: &'a [Value],
) -> impl Iterator<Item = &'a Value> + 'a {
    routes
        .iter()
        .filter(move |route| parent_refs_to(route, parents).next().is_some())
}

/// The route's parentRefs to the Gateway or one of its ListenerSets, as
/// written (one per section or port it names).
pub fn parent_refs_to<'a>(
    route: &'a Value,
    parents: &'a Parents,
) -> impl Iterator<Item = &'a Value> + 'a {
    let route_namespace = str_at(route, &["metadata", "namespace"]);
    route["spec"]["parentRefs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(move |p| parents.include(p, route_namespace))
}

/// Keeps only the parentRefs to this Gateway and its ListenerSets: the
/// member has these, not necessarily the others the route attaches to in
/// the hub.
fn narrow_parent_refs(route: &mut Map<String, Value>, parents: &Parents) {
    let namespace = route
        .get("metadata")
        .map(|m| str_at(m, &["namespace"]).to_owned())
        .unwrap_or_default();
    if let Some(refs) = route
        .get_mut("spec")
        .and_then(|s| s.get_mut("parentRefs"))
        .and_then(Value::as_array_mut)
    {
        refs.retain(|p| parents.include(p, &namespace));
    }
}

/// The Gateway's frontend TLS validation CA references (the default's and
/// each port's `validation.caCertificateRefs`), as written.
fn frontend_ca_refs(gateway: &Value) -> impl Iterator<Item = &Value> {
    let frontend = &gateway["spec"]["tls"]["frontend"];
    std::iter::once(&frontend["default"])
        .chain(
            frontend["perPort"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|port| &port["tls"]),
        )
        .flat_map(|tls| {
            tls["validation"]["caCertificateRefs"]
                .as_array()
                .into_iter()
                .flatten()
        })
}

/// The ConfigMaps the Gateway's frontend TLS validation names as client CA
/// certificates: they travel in the Work (public data) beside the Gateway;
/// one in another namespace goes with the ReferenceGrant that allows it
/// ([`needed_grants`]), and without one the member's implementation says
/// the reference is not permitted, as it would in one cluster.
pub fn frontend_ca_config_maps(gateway: &Value) -> BTreeSet<ObjectKey> {
    let namespace = str_at(gateway, &["metadata", "namespace"]);
    frontend_ca_refs(gateway)
        .filter(|r| {
            matches!(r["group"].as_str().unwrap_or_default(), "" | "core")
                && r["kind"].as_str().unwrap_or("ConfigMap") == "ConfigMap"
        })
        .filter_map(|r| {
            Some(ObjectKey {
                namespace: r["namespace"].as_str().unwrap_or(namespace).to_owned(),
                name: r["name"].as_str()?.to_owned(),
            })
        })
        .collect()
}

/// ReferenceGrants that allow a cross-namespace reference made by the
/// Gateway or a ListenerSet (certificateRefs, the Gateway's frontend CA
/// references) or one of the routes (backendRefs).
fn needed_grants<'a>(
    listener_owners: &[&Value],
    routes: &[&Value],
    grants: &'a [Value],
) -> Vec<&'a Value> {
    // (referring kind, its namespace, target namespace)
    let mut references: BTreeSet<(String, String, String)> = BTreeSet::new();
    for owner in listener_owners {
        let kind = str_at(owner, &["kind"]);
        let owner_namespace = str_at(owner, &["metadata", "namespace"]);
        for listener in owner["spec"]["listeners"].as_array().into_iter().flatten() {
            for cert in listener["tls"]["certificateRefs"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if let Some(ns) = cert["namespace"]
                    .as_str()
                    .filter(|ns| *ns != owner_namespace)
                {
                    references.insert((kind.into(), owner_namespace.into(), ns.into()));
                }
            }
        }
        for ca in frontend_ca_refs(owner) {
            if let Some(ns) = ca["namespace"].as_str().filter(|ns| *ns != owner_namespace) {
                references.insert((kind.into(), owner_namespace.into(), ns.into()));
            }
        }
    }
    for route in routes {
        let kind = str_at(route, &["kind"]);
        let namespace = str_at(route, &["metadata", "namespace"]);
        for rule in route["spec"]["rules"].as_array().into_iter().flatten() {
            for backend in rule["backendRefs"].as_array().into_iter().flatten() {
                if let Some(ns) = backend["namespace"].as_str().filter(|ns| *ns != namespace) {
                    references.insert((kind.into(), namespace.into(), ns.into()));
                }
            }
        }
    }
    let mut needed: Vec<&Value> = grants
        .iter()
        .filter(|grant| {
            let grant_namespace = str_at(grant, &["metadata", "namespace"]);
            grant["spec"]["from"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|from| {
                    from["group"] == GATEWAY_API_GROUP
                        && references.iter().any(|(kind, namespace, target)| {
                            from["kind"] == kind.as_str()
                                && from["namespace"] == namespace.as_str()
                                && target == grant_namespace
                        })
                })
        })
        .collect();
    needed.sort_by_key(|g| ObjectKey::of(g));
    needed
}

/// The object as the user wrote it: apiVersion, kind, everything but status,
/// and metadata reduced to what a user sets (no uid, resourceVersion,
/// managedFields, timestamps, owner references or finalizers of the hub).
fn clean(object: &Value) -> Map<String, Value> {
    let mut out: Map<String, Value> = object
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(key, _)| key.as_str() != "status" && key.as_str() != "metadata")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let metadata = &object["metadata"];
    let mut kept = Map::new();
    for key in ["name", "namespace", "labels"] {
        if let Some(value) = metadata.get(key) {
            kept.insert(key.into(), value.clone());
        }
    }
    if let Some(annotations) = metadata["annotations"].as_object() {
        let annotations: Map<String, Value> = annotations
            .iter()
            .filter(|(k, _)| k.as_str() != "kubectl.kubernetes.io/last-applied-configuration")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !annotations.is_empty() {
            kept.insert("annotations".into(), annotations.into());
        }
    }
    out.insert("metadata".into(), kept.into());
    out
}

pub(crate) fn str_at<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .fold(value, |v, key| &v[*key])
        .as_str()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn gateway() -> Value {
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {
                "name": "shop", "namespace": "web", "uid": "u1", "resourceVersion": "42", "generation": 3,
                "creationTimestamp": "2026-01-01T00:00:00Z", "finalizers": ["fedway.dev/cleanup"],
                "managedFields": [{"manager": "kubectl"}], "labels": {"team": "web"},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "note": "kept"},
            },
            "spec": {
                "gatewayClassName": "fedway",
                "listeners": [{"name": "https", "port": 443, "protocol": "HTTPS",
                               "tls": {"certificateRefs": [{"name": "cert", "namespace": "certs"}]}}],
                "futureField": {"x": 1},
            },
            "status": {"conditions": []},
        })
    }

    fn route(kind: &str, namespace: &str, name: &str, parents: Value, backends: Value) -> Value {
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": kind,
            "metadata": {"name": name, "namespace": namespace, "uid": "r"},
            "spec": {"parentRefs": parents, "rules": [{"backendRefs": backends}]},
            "status": {"parents": []},
        })
    }

    fn grant(namespace: &str, name: &str, from_kind: &str, from_namespace: &str) -> Value {
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": from_kind, "namespace": from_namespace}],
                     "to": [{"group": "", "kind": "Service"}]},
        })
    }

    fn names(manifests: &[Manifest]) -> Vec<String> {
        manifests
            .iter()
            .map(|m| {
                format!(
                    "{}/{}/{}",
                    m.0["kind"].as_str().unwrap_or(""),
                    m.0["metadata"]["namespace"].as_str().unwrap_or(""),
                    m.0["metadata"]["name"].as_str().unwrap_or("")
                )
            })
            .collect()
    }

    #[test]
    fn gateway_is_copied_losslessly_with_its_class_mapped() {
        let gw = gateway();
        let manifests = manifests(
            &Sources {
                gateway: &gw,
                listener_sets: &[],
                routes: &[],
                reference_grants: &[],
                policies: &[],
                config_maps: &[],
            },
            "istio",
            |_| true,
        );
        let copy = &manifests[0].0;
        assert_eq!(copy["spec"]["gatewayClassName"], "istio");
        assert_eq!(
            copy["spec"]["futureField"],
            json!({"x": 1}),
            "unknown fields survive"
        );
        assert_eq!(copy["spec"]["listeners"], gw["spec"]["listeners"]);
        assert_eq!(
            copy["metadata"],
            json!({"name": "shop", "namespace": "web", "labels": {"team": "web"}, "annotations": {"note": "kept"}})
        );
        assert!(copy.get("status").is_none());
    }

    #[test]
    fn routes_attached_to_the_gateway_are_carried_with_narrowed_parent_refs() {
        let gw = gateway();
        let routes = vec![
            // Attached by default group/kind/namespace, and also to another Gateway.
            route(
                "HTTPRoute",
                "web",
                "b-route",
                json!([{"name": "shop"}, {"name": "other"}]),
                json!([]),
            ),
            // Attached from another namespace, explicitly.
            route(
                "HTTPRoute",
                "api",
                "a-route",
                json!([{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "web", "name": "shop", "sectionName": "https"}]),
                json!([]),
            ),
            route(
                "GRPCRoute",
                "web",
                "grpc",
                json!([{"name": "shop"}]),
                json!([]),
            ),
            // Not attached: same name in another namespace, another kind, another Gateway.
            route(
                "HTTPRoute",
                "api",
                "wrong-ns",
                json!([{"name": "shop"}]),
                json!([]),
            ),
            route(
                "HTTPRoute",
                "web",
                "to-service",
                json!([{"kind": "Service", "group": "", "name": "shop"}]),
                json!([]),
            ),
            route(
                "HTTPRoute",
                "web",
                "other",
                json!([{"name": "other"}]),
                json!([]),
            ),
        ];
        let manifests = manifests(
            &Sources {
                gateway: &gw,
                listener_sets: &[],
                routes: &routes,
                reference_grants: &[],
                policies: &[],
                config_maps: &[],
            },
            "eg",
            |_| true,
        );
        assert_eq!(
            names(&manifests),
            [
                "Gateway/web/shop",
                "GRPCRoute/web/grpc",
                "HTTPRoute/api/a-route",
                "HTTPRoute/web/b-route"
            ]
        );
        let without_b = super::manifests(
            &Sources {
                gateway: &gw,
                listener_sets: &[],
                routes: &routes,
                reference_grants: &[],
                policies: &[],
                config_maps: &[],
            },
            "eg",
            |route| route["metadata"]["name"] != "b-route",
        );
        assert_eq!(
            names(&without_b),
            [
                "Gateway/web/shop",
                "GRPCRoute/web/grpc",
                "HTTPRoute/api/a-route"
            ],
            "a route `keep` refuses is left out"
        );
        let b = &manifests[3].0;
        assert_eq!(
            b["spec"]["parentRefs"],
            json!([{"name": "shop"}]),
            "parentRefs to other Gateways are dropped"
        );
        assert!(b.get("status").is_none());
        assert_eq!(
            b["metadata"],
            json!({"name": "b-route", "namespace": "web"})
        );
    }

    #[test]
    fn only_the_reference_grants_the_references_need_are_carried() {
        let gw = gateway();
        let routes = vec![route(
            "HTTPRoute",
            "web",
            "r",
            json!([{"name": "shop"}]),
            json!([{"name": "svc", "namespace": "backends", "port": 80}, {"name": "local", "port": 80}]),
        )];
        let grants = vec![
            grant("backends", "web-routes", "HTTPRoute", "web"),
            grant("backends", "grpc-only", "GRPCRoute", "web"),
            grant("backends", "other-ns", "HTTPRoute", "elsewhere"),
            grant("unrelated", "web-routes", "HTTPRoute", "web"),
            grant("certs", "gateway-certs", "Gateway", "web"),
        ];
        let manifests = manifests(
            &Sources {
                gateway: &gw,
                listener_sets: &[],
                routes: &routes,
                reference_grants: &grants,
                policies: &[],
                config_maps: &[],
            },
            "eg",
            |_| true,
        );
        assert_eq!(
            names(&manifests),
            [
                "Gateway/web/shop",
                "HTTPRoute/web/r",
                "ReferenceGrant/backends/web-routes",
                "ReferenceGrant/certs/gateway-certs"
            ]
        );
    }

    /// Policies go along with what they target, as far as the member runs
    /// it, and bring the CA ConfigMaps they name; other ConfigMaps stay.
    #[test]
    fn policies_and_their_config_maps_follow_their_targets() {
        let gw = gateway();
        let routes = vec![
            route(
                "HTTPRoute",
                "web",
                "cart",
                json!([{"name": "shop"}]),
                json!([{"name": "cart", "port": 443}]),
            ),
            route(
                "HTTPRoute",
                "web",
                "admin",
                json!([{"name": "shop"}]),
                json!([{"name": "admin", "port": 443}]),
            ),
        ];
        let tls = |name: &str, service: &str, ca: &str| {
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "BackendTLSPolicy",
                   "metadata": {"name": name, "namespace": "web", "uid": "p", "generation": 2},
                   "spec": {"targetRefs": [{"group": "", "kind": "Service", "name": service}],
                            "validation": {"hostname": format!("{service}.internal"),
                                           "caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": ca}]}},
                   "status": {"ancestors": []}})
        };
        let policies = vec![
            tls("cart-tls", "cart", "cart-ca"),
            tls("admin-tls", "admin", "admin-ca"),
            tls("unrelated-tls", "elsewhere", "other-ca"),
        ];
        let config_map = |name: &str| {
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": name, "namespace": "web", "resourceVersion": "7"},
                   "data": {"ca.crt": "-----BEGIN CERTIFICATE-----"}})
        };
        let config_maps = vec![
            config_map("cart-ca"),
            config_map("admin-ca"),
            config_map("other-ca"),
        ];
        let sources = Sources {
            gateway: &gw,
            listener_sets: &[],
            routes: &routes,
            reference_grants: &[],
            policies: &policies,
            config_maps: &config_maps,
        };
        assert_eq!(
            names(&manifests(&sources, "eg", |_| true)),
            [
                "Gateway/web/shop",
                "HTTPRoute/web/admin",
                "HTTPRoute/web/cart",
                "BackendTLSPolicy/web/admin-tls",
                "BackendTLSPolicy/web/cart-tls",
                "ConfigMap/web/admin-ca",
                "ConfigMap/web/cart-ca"
            ]
        );
        let without_admin = manifests(&sources, "eg", |r| r["metadata"]["name"] != "admin");
        assert_eq!(
            names(&without_admin),
            [
                "Gateway/web/shop",
                "HTTPRoute/web/cart",
                "BackendTLSPolicy/web/cart-tls",
                "ConfigMap/web/cart-ca"
            ],
            "a route withheld from the member takes its backends' policies along"
        );
        let policy = &without_admin[2].0;
        assert!(policy.get("status").is_none());
        assert_eq!(
            policy["metadata"],
            json!({"name": "cart-tls", "namespace": "web"})
        );
        assert_eq!(
            without_admin[3].0["data"],
            json!({"ca.crt": "-----BEGIN CERTIFICATE-----"})
        );
    }

    /// A ListenerSet of the Gateway goes along, with the routes attached
    /// to it (their parentRefs to it kept) and the grant its certificate
    /// needs; a set of another Gateway, and its routes, do not.
    #[test]
    fn listener_sets_of_the_gateway_go_along_with_their_routes() {
        let gw = gateway();
        let set = |name: &str, gateway: &str, cert_namespace: &str| {
            json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "ListenerSet",
                   "metadata": {"name": name, "namespace": "team", "uid": "s"},
                   "spec": {"parentRef": {"name": gateway, "namespace": "web"},
                            "listeners": [{"name": "https", "port": 443, "protocol": "HTTPS",
                                           "hostname": format!("{name}.example.com"),
                                           "tls": {"certificateRefs": [{"name": "cert", "namespace": cert_namespace}]}}]},
                   "status": {"conditions": []}})
        };
        let sets = vec![
            set("team-a", "shop", "certs"),
            set("team-b", "other", "vault"),
        ];
        let routes = vec![
            route(
                "HTTPRoute",
                "team",
                "a",
                json!([{"kind": "ListenerSet", "group": "gateway.networking.k8s.io", "name": "team-a"},
                                                  {"kind": "ListenerSet", "group": "gateway.networking.k8s.io", "name": "team-b"}]),
                json!([]),
            ),
            route(
                "HTTPRoute",
                "team",
                "b",
                json!([{"kind": "ListenerSet", "group": "gateway.networking.k8s.io", "name": "team-b"}]),
                json!([]),
            ),
            route(
                "HTTPRoute",
                "web",
                "both",
                json!([{"name": "shop"}, {"kind": "ListenerSet", "namespace": "team", "name": "team-a"}]),
                json!([]),
            ),
        ];
        let grants = vec![
            grant("certs", "team-certs", "ListenerSet", "team"),
            grant("vault", "team-certs", "ListenerSet", "team"),
        ];
        let manifests = manifests(
            &Sources {
                gateway: &gw,
                listener_sets: &sets,
                routes: &routes,
                reference_grants: &grants,
                policies: &[],
                config_maps: &[],
            },
            "eg",
            |_| true,
        );
        assert_eq!(
            names(&manifests),
            [
                "Gateway/web/shop",
                "ListenerSet/team/team-a",
                "HTTPRoute/team/a",
                "HTTPRoute/web/both",
                "ReferenceGrant/certs/team-certs"
            ]
        );
        assert_eq!(
            manifests[2].0["spec"]["parentRefs"],
            json!([{"kind": "ListenerSet", "group": "gateway.networking.k8s.io", "name": "team-a"}]),
            "the parentRef to the other Gateway's set is dropped"
        );
        assert_eq!(
            manifests[3].0["spec"]["parentRefs"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        assert!(manifests[1].0.get("status").is_none());
    }

    /// The CA certificates of the Gateway's frontend TLS validation go
    /// along (the default's and each port's), with the grant a reference to
    /// another namespace needs.
    #[test]
    fn frontend_validation_cas_go_with_the_gateway() {
        let mut gw = gateway();
        gw["spec"]["tls"] = json!({"frontend": {
            "default": {"validation": {"caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "clients"}]}},
            "perPort": [{"port": 8443, "tls": {"validation": {"caCertificateRefs": [
                {"group": "", "kind": "ConfigMap", "name": "partners", "namespace": "pki"},
                {"group": "example.com", "kind": "TrustBundle", "name": "vendor"}]}}}]}});
        let config_map = |namespace: &str, name: &str| {
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": name, "namespace": namespace}, "data": {"ca.crt": "CA"}})
        };
        let config_maps = vec![
            config_map("web", "clients"),
            config_map("pki", "partners"),
            config_map("web", "unrelated"),
        ];
        let mut pki_grant = grant("pki", "gateway-cas", "Gateway", "web");
        pki_grant["spec"]["to"] = json!([{"group": "", "kind": "ConfigMap"}]);
        let grants = vec![pki_grant];
        let manifests = manifests(
            &Sources {
                gateway: &gw,
                listener_sets: &[],
                routes: &[],
                reference_grants: &grants,
                policies: &[],
                config_maps: &config_maps,
            },
            "eg",
            |_| true,
        );
        assert_eq!(
            names(&manifests),
            [
                "Gateway/web/shop",
                "ReferenceGrant/pki/gateway-cas",
                "ConfigMap/pki/partners",
                "ConfigMap/web/clients"
            ]
        );
    }
}
