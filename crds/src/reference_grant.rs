//! Whether a cross-namespace reference is allowed, as the Gateway API spec
//! says ReferenceGrants decide it: once, for the hub (which reads Gateways
//! as JSON) and fedway-proxy (which reads typed objects). Each reads its
//! grants into [`Grant`]s, the fields the rule looks at.

use serde_json::Value;

pub const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

/// The kind of one side of a reference: API group (`""` for core) and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupKind<'a> {
    pub group: &'a str,
    pub kind: &'a str,
}

pub const GATEWAY: GroupKind<'static> = GroupKind {
    group: GATEWAY_GROUP,
    kind: "Gateway",
};
pub const HTTP_ROUTE: GroupKind<'static> = GroupKind {
    group: GATEWAY_GROUP,
    kind: "HTTPRoute",
};
pub const SERVICE: GroupKind<'static> = GroupKind {
    group: "",
    kind: "Service",
};
pub const SECRET: GroupKind<'static> = GroupKind {
    group: "",
    kind: "Secret",
};

/// One ReferenceGrant: its namespace (where the targets live), who may
/// refer (kind and namespace) and to what (kind, and a name or every one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grant<'a> {
    pub namespace: &'a str,
    pub from: Vec<(GroupKind<'a>, &'a str)>,
    pub to: Vec<(GroupKind<'a>, Option<&'a str>)>,
}

impl<'a> Grant<'a> {
    /// A ReferenceGrant as JSON (v1beta1 and v1 have the same fields).
    /// Missing fields read as empty: such a grant allows nothing.
    pub fn from_json(grant: &'a Value) -> Grant<'a> {
        let str_of = |v: &'a Value| v.as_str().unwrap_or_default();
        let group_kind = |v: &'a Value| GroupKind {
            group: str_of(&v["group"]),
            kind: str_of(&v["kind"]),
        };
        let list = |key: &str| grant["spec"][key].as_array().into_iter().flatten();
        Grant {
            namespace: str_of(&grant["metadata"]["namespace"]),
            from: list("from")
                .map(|f| (group_kind(f), str_of(&f["namespace"])))
                .collect(),
            to: list("to")
                .map(|t| (group_kind(t), t["name"].as_str()))
                .collect(),
        }
    }
}

/// Whether an object of kind `from` in `from_namespace` may refer to
/// `to_namespace/to_name` of kind `to`. Same-namespace references need no
/// grant; others need a ReferenceGrant in the target's namespace naming
/// both sides (with no or an empty `to.name`, every object of that kind).
pub fn permitted<'a>(
    grants: impl IntoIterator<Item = Grant<'a>>,
    from: GroupKind<'_>,
    from_namespace: &str,
    to: GroupKind<'_>,
    to_namespace: &str,
    to_name: &str,
) -> bool {
    if from_namespace == to_namespace {
        return true;
    }
    grants
        .into_iter()
        .filter(|g| g.namespace == to_namespace)
        .any(|g| {
            g.from
                .iter()
                .any(|(kind, namespace)| *kind == from && *namespace == from_namespace)
                && g.to.iter().any(|(kind, name)| {
                    *kind == to && name.is_none_or(|n| n.is_empty() || n == to_name)
                })
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn grant(namespace: &str, from: Value, to: Value) -> Value {
        json!({
            "apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
            "metadata": {"name": "g", "namespace": namespace},
            "spec": {"from": from, "to": to},
        })
    }

    #[test]
    fn a_grant_must_name_both_sides_in_the_targets_namespace() {
        let certs_for_web = grant(
            "certs",
            json!([{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "web"}]),
            json!([{"group": "", "kind": "Secret"}]),
        );
        let one_secret = grant(
            "certs",
            json!([{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "api"}]),
            json!([{"group": "", "kind": "Secret", "name": "api-tls"}]),
        );
        let empty_name = grant(
            "other",
            json!([{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "web"}]),
            json!([{"group": "", "kind": "Secret", "name": ""}]),
        );
        let grants = [certs_for_web, one_secret, empty_name];
        let check =
            |from: GroupKind<'_>, from_ns: &str, to: GroupKind<'_>, to_ns: &str, name: &str| {
                permitted(
                    grants.iter().map(Grant::from_json),
                    from,
                    from_ns,
                    to,
                    to_ns,
                    name,
                )
            };
        for (from, from_ns, to, to_ns, name, want, why) in [
            (
                GATEWAY,
                "web",
                SECRET,
                "web",
                "x",
                true,
                "same namespace needs no grant",
            ),
            (
                GATEWAY,
                "web",
                SECRET,
                "certs",
                "shop-tls",
                true,
                "every Secret of certs",
            ),
            (
                GATEWAY,
                "api",
                SECRET,
                "certs",
                "api-tls",
                true,
                "the named Secret",
            ),
            (
                GATEWAY,
                "api",
                SECRET,
                "certs",
                "shop-tls",
                false,
                "not the named Secret",
            ),
            (
                GATEWAY,
                "shop",
                SECRET,
                "certs",
                "shop-tls",
                false,
                "another referring namespace",
            ),
            (
                HTTP_ROUTE,
                "web",
                SECRET,
                "certs",
                "shop-tls",
                false,
                "another referring kind",
            ),
            (
                GATEWAY,
                "web",
                SERVICE,
                "certs",
                "shop-tls",
                false,
                "another target kind",
            ),
            (
                GATEWAY,
                "web",
                SECRET,
                "other",
                "any",
                true,
                "an empty name is every one",
            ),
            (
                GATEWAY,
                "web",
                SECRET,
                "nowhere",
                "any",
                false,
                "no grant in that namespace",
            ),
        ] {
            assert_eq!(check(from, from_ns, to, to_ns, name), want, "{why}");
        }
    }

    #[test]
    fn a_grant_missing_its_lists_allows_nothing() {
        let broken = json!({"kind": "ReferenceGrant", "metadata": {"namespace": "certs"}});
        assert_eq!(
            Grant::from_json(&broken),
            Grant {
                namespace: "certs",
                ..Grant::default()
            }
        );
        assert!(!permitted(
            [Grant::from_json(&broken)],
            GATEWAY,
            "web",
            SECRET,
            "certs",
            "x"
        ));
    }
}
