//! RBAC as data: what the roles in `deploy/` grant a ServiceAccount, what
//! the audit log says it used, and the difference. Pure; the test feeds it.

use std::collections::{BTreeMap, BTreeSet};

use fedway_e2e::cluster::AuditedRequest;
use serde_json::Value;

/// `(verb, "group/resource[/subresource]")`, the core group spelled `core`.
pub type Permission = (String, String);

/// One rule of a role, and which role it came from.
#[derive(Clone, Debug)]
pub struct Grant {
    pub role: String,
    pub groups: Vec<String>,
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
    pub names: Vec<String>,
}

impl Grant {
    fn permissions(&self) -> impl Iterator<Item = Permission> + '_ {
        self.verbs.iter().flat_map(move |verb| {
            self.groups.iter().flat_map(move |group| {
                self.resources
                    .iter()
                    .map(move |resource| (verb.clone(), key(group, resource)))
            })
        })
    }
}

/// The resource key of a permission: `apps/deployments`, `core/namespaces`,
/// `gateway.networking.k8s.io/gateways/status`.
pub fn key(group: &str, resource: &str) -> String {
    let group = if group.is_empty() { "core" } else { group };
    format!("{group}/{resource}")
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// Rules of a Role or ClusterRole object, labelled with the role.
pub fn grants_of(role: &Value) -> Vec<Grant> {
    let label = match role["metadata"]["namespace"].as_str() {
        Some(namespace) => format!("Role {namespace}/{}", role["metadata"]["name"]),
        None => format!("ClusterRole {}", role["metadata"]["name"]),
    }
    .replace('"', "");
    role["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|rule| Grant {
            role: label.clone(),
            groups: strings(&rule["apiGroups"]),
            resources: strings(&rule["resources"]),
            verbs: strings(&rule["verbs"]),
            names: strings(&rule["resourceNames"]),
        })
        .collect()
}

/// Every rule the (Cluster)RoleBindings among `objects` give
/// ServiceAccount `namespace/name`, from the roles among `objects`.
///
/// # Panics
/// When a binding names a role that is not among them: the manifests would
/// bind nothing.
pub fn granted_to(objects: &[Value], namespace: &str, name: &str) -> Vec<Grant> {
    let binds_it = |binding: &Value| {
        binding["subjects"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| {
                s["kind"] == "ServiceAccount" && s["name"] == name && s["namespace"] == namespace
            })
    };
    let mut grants = Vec::new();
    for binding in objects {
        let kind = binding["kind"].as_str().unwrap_or_default();
        if !matches!(kind, "RoleBinding" | "ClusterRoleBinding") || !binds_it(binding) {
            continue;
        }
        let role_kind = binding["roleRef"]["kind"].as_str().unwrap_or_default();
        let role_name = &binding["roleRef"]["name"];
        // A RoleBinding's Role is in the binding's namespace.
        let role_namespace =
            (role_kind == "Role").then(|| binding["metadata"]["namespace"].clone());
        let role = objects
            .iter()
            .find(|o| {
                o["kind"] == role_kind
                    && o["metadata"]["name"] == *role_name
                    && role_namespace
                        .as_ref()
                        .is_none_or(|ns| o["metadata"]["namespace"] == *ns)
            })
            .unwrap_or_else(|| {
                panic!(
                    "{kind} {} binds {role_kind} {role_name}, which deploy/ does not define",
                    binding["metadata"]["name"]
                )
            });
        grants.extend(grants_of(role));
    }
    grants
}

/// Rules anywhere in `objects` granting `*` (any verb, resource or group),
/// as `role: rule` lines.
pub fn wildcards(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .filter(|o| matches!(o["kind"].as_str(), Some("Role" | "ClusterRole")))
        .flat_map(|role| {
            role["rules"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|rule| {
                    ["apiGroups", "resources", "verbs", "nonResourceURLs"]
                        .iter()
                        .any(|field| strings(&rule[*field]).iter().any(|s| s.contains('*')))
                })
                .map(move |rule| format!("{}: {rule}", role["metadata"]["name"]))
        })
        .collect()
}

/// Resource permissions a component's requests used (non-resource URLs
/// such as discovery's `/apis` are every authenticated user's, not the
/// role's, and are left out; so are refused requests). A server-side
/// apply that created its object (a patch answered 201) was authorized as
/// `create` too, which the audit log does not show as a request of its own.
pub fn used(requests: &[AuditedRequest]) -> BTreeSet<Permission> {
    requests
        .iter()
        .filter(|r| !r.resource.is_empty() && r.code != Some(403))
        .flat_map(|r| {
            let resource = if r.subresource.is_empty() {
                r.resource.clone()
            } else {
                format!("{}/{}", r.resource, r.subresource)
            };
            let resource = key(&r.group, &resource);
            let created = (r.verb == "patch" && r.code == Some(201))
                .then(|| ("create".to_owned(), resource.clone()));
            std::iter::once((r.verb.clone(), resource)).chain(created)
        })
        .collect()
}

/// The comparison for one ServiceAccount.
pub struct Comparison {
    pub account: String,
    /// Granted and never used, with the role that grants it.
    pub unused: Vec<(Permission, String)>,
    /// Used but granted by none of the roles (allowed by a default role,
    /// e.g. `selfsubjectreviews`, or a gap in the model).
    pub ungranted: Vec<Permission>,
    pub used: BTreeSet<Permission>,
}

pub fn compare(account: &str, grants: &[Grant], used: &BTreeSet<Permission>) -> Comparison {
    let mut granted: BTreeMap<Permission, String> = BTreeMap::new();
    for grant in grants {
        for permission in grant.permissions() {
            let role = if grant.names.is_empty() {
                grant.role.clone()
            } else {
                format!("{} (resourceNames {})", grant.role, grant.names.join(","))
            };
            granted.entry(permission).or_insert(role);
        }
    }
    Comparison {
        account: account.to_owned(),
        unused: granted
            .iter()
            .filter(|(permission, _)| !used.contains(*permission))
            .map(|(p, role)| (p.clone(), role.clone()))
            .collect(),
        ungranted: used
            .iter()
            .filter(|p| !granted.contains_key(*p))
            .cloned()
            .collect(),
        used: used.clone(),
    }
}

impl std::fmt::Display for Comparison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}", self.account)?;
        let used: Vec<String> = self.used.iter().map(|(v, r)| format!("{v} {r}")).collect();
        writeln!(f, "  used ({}): {}", used.len(), used.join(", "))?;
        if self.unused.is_empty() {
            writeln!(f, "  granted but never used: none")?;
        } else {
            writeln!(f, "  granted but never used:")?;
            for ((verb, resource), role) in &self.unused {
                writeln!(f, "    {verb} {resource}  ({role})")?;
            }
        }
        if !self.ungranted.is_empty() {
            let list: Vec<String> = self
                .ungranted
                .iter()
                .map(|(v, r)| format!("{v} {r}"))
                .collect();
            writeln!(f, "  used, granted elsewhere: {}", list.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn unused_is_granted_minus_used() {
        let objects = vec![
            json!({"kind": "ClusterRole", "metadata": {"name": "r"},
                   "rules": [{"apiGroups": [""], "resources": ["namespaces", "pods/status"], "verbs": ["get", "patch"]}]}),
            json!({"kind": "ClusterRoleBinding", "metadata": {"name": "r"},
                   "roleRef": {"kind": "ClusterRole", "name": "r"},
                   "subjects": [{"kind": "ServiceAccount", "name": "a", "namespace": "n"}]}),
        ];
        let grants = granted_to(&objects, "n", "a");
        let used = BTreeSet::from([
            ("get".to_owned(), "core/namespaces".to_owned()),
            (
                "create".to_owned(),
                "authentication.k8s.io/selfsubjectreviews".to_owned(),
            ),
        ]);
        let comparison = compare("a", &grants, &used);
        let unused: Vec<String> = comparison
            .unused
            .iter()
            .map(|((v, r), _)| format!("{v} {r}"))
            .collect();
        assert_eq!(
            unused,
            [
                "get core/pods/status",
                "patch core/namespaces",
                "patch core/pods/status"
            ]
        );
        assert_eq!(comparison.ungranted.len(), 1);
        assert!(granted_to(&objects, "n", "other").is_empty());
        assert!(wildcards(&objects).is_empty());
    }
}
