//! Joining a member cluster: the hub mints the member's identity, and the
//! agent of that member can then touch nothing but its own namespace and its
//! own MemberCluster's status.
//!
//! The credential is a ServiceAccount token from TokenRequest, bound to the
//! ServiceAccount's UID and expiring after `token_ttl`. Rotating means
//! joining again: with `rotate`, the ServiceAccount is recreated first, so
//! every token minted before stops working at once. `unjoin` deletes the
//! ServiceAccount (revoking all its tokens), the RBAC, the member's hub
//! namespace and its MemberCluster. Neither touches the member cluster:
//! what it runs stays there.

use std::{collections::BTreeMap, time::Duration};

use k8s_openapi::{
    api::{
        authentication::v1::{TokenRequest, TokenRequestSpec},
        core::v1::{Namespace, ServiceAccount},
        rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding},
    },
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
};
use kube::{
    Api, Client, Resource,
    api::{DeleteParams, Patch, PatchParams, PostParams},
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use fedway_crds::{MemberCluster, member_cluster::condition};

use crate::FIELD_MANAGER;

/// Field manager of the `Joined` condition.
const JOIN_FIELD_MANAGER: &str = "fedway-hub-join";
/// The agent's ServiceAccount in its hub namespace.
pub const AGENT_ACCOUNT: &str = "fedway-agent";
/// Label naming the member a hub namespace belongs to.
pub const MEMBER_LABEL: &str = "fedway.dev/member";

/// What every member's hub namespace starts with.
pub const MEMBER_NAMESPACE_PREFIX: &str = "fedway-member-";

/// The hub namespace of member `name`, where its Works and Lease live.
pub fn member_namespace(name: &str) -> String {
    format!("{MEMBER_NAMESPACE_PREFIX}{name}")
}

fn cluster_role_name(name: &str) -> String {
    format!("fedway-member-{name}")
}

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error(
        "member name {0:?} is not a DNS label (lowercase letters, digits and '-', at most 48 characters)"
    )]
    InvalidName(String),
    #[error("{action} {what}: {source}")]
    Api {
        action: &'static str,
        what: String,
        source: Box<kube::Error>,
    },
    #[error("TokenRequest for {0} returned no token")]
    NoToken(String),
}

/// What `join` needs.
pub struct JoinRequest<'a> {
    pub name: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    pub token_ttl: Duration,
    /// Recreate the ServiceAccount first, revoking every earlier token.
    pub rotate: bool,
    /// The member runs a DNS server: `MemberCluster.spec.servesDNS`.
    pub serves_dns: bool,
}

/// Creates (or updates) everything member `name` needs in the hub and
/// returns a fresh token for its agent.
pub async fn join(client: &Client, request: &JoinRequest<'_>) -> Result<String, JoinError> {
    let name = request.name;
    validate_name(name)?;
    let namespace = member_namespace(name);

    apply(
        Api::<MemberCluster>::all(client.clone()),
        name,
        json!({
            "apiVersion": "fedway.dev/v1alpha1", "kind": "MemberCluster",
            "metadata": {"name": name, "labels": request.labels},
            "spec": {"servesDNS": request.serves_dns},
        }),
    )
    .await?;
    apply(
        Api::<Namespace>::all(client.clone()),
        &namespace,
        json!({"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": namespace, "labels": {MEMBER_LABEL: name}}}),
    )
    .await?;
    if request.rotate {
        delete(
            Api::<ServiceAccount>::namespaced(client.clone(), &namespace),
            AGENT_ACCOUNT,
        )
        .await?;
    }
    apply(Api::<ServiceAccount>::namespaced(client.clone(), &namespace),
        AGENT_ACCOUNT,
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": AGENT_ACCOUNT, "namespace": namespace, "labels": {MEMBER_LABEL: name}}}),
    )
    .await?;
    let subject =
        json!([{"kind": "ServiceAccount", "name": AGENT_ACCOUNT, "namespace": namespace}]);
    apply(Api::<Role>::namespaced(client.clone(), &namespace),
        AGENT_ACCOUNT,
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": AGENT_ACCOUNT, "namespace": namespace, "labels": {MEMBER_LABEL: name}},
            "rules": [
                // Exactly what the agent does (the deploy e2e test compares
                // these grants with the audit log): watch its Works, apply
                // their status, apply its heartbeat Lease, publish Events
                // on its Works; read the hub's copies of its Gateways'
                // certificates (this namespace's Secrets, and no others).
                {"apiGroups": ["fedway.dev"], "resources": ["works"], "verbs": ["list", "watch"]},
                {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]},
                {"apiGroups": ["fedway.dev"], "resources": ["works/status"], "verbs": ["patch"]},
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create", "patch"]},
                {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
            ],
        }),
    )
    .await?;
    apply(Api::<RoleBinding>::namespaced(client.clone(), &namespace),
        AGENT_ACCOUNT,
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": AGENT_ACCOUNT, "namespace": namespace, "labels": {MEMBER_LABEL: name}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": AGENT_ACCOUNT},
            "subjects": subject,
        }),
    )
    .await?;
    let cluster_role = cluster_role_name(name);
    apply(Api::<ClusterRole>::all(client.clone()),
        &cluster_role,
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": cluster_role, "labels": {MEMBER_LABEL: name}},
            "rules": [
                {"apiGroups": ["fedway.dev"], "resources": ["memberclusters"], "resourceNames": [name], "verbs": ["get"]},
                {"apiGroups": ["fedway.dev"], "resources": ["memberclusters/status"], "resourceNames": [name], "verbs": ["patch"]},
            ],
        }),
    )
    .await?;
    apply(Api::<ClusterRoleBinding>::all(client.clone()),
        &cluster_role,
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": cluster_role, "labels": {MEMBER_LABEL: name}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_role},
            "subjects": subject,
        }),
    )
    .await?;
    set_joined(client, name).await?;
    mint_token(client, &namespace, request.token_ttl).await
}

async fn set_joined(client: &Client, name: &str) -> Result<(), JoinError> {
    let joined = Condition {
        type_: condition::JOINED.into(),
        status: "True".into(),
        reason: "Joined".into(),
        message: format!(
            "namespace {} and agent credentials created",
            member_namespace(name)
        ),
        last_transition_time: Time(now()),
        observed_generation: None,
    };
    let api: Api<MemberCluster> = Api::all(client.clone());
    let status = json!({
        "apiVersion": "fedway.dev/v1alpha1", "kind": "MemberCluster",
        "status": {"conditions": [joined]},
    });
    api.patch_status(
        name,
        &PatchParams::apply(JOIN_FIELD_MANAGER).force(),
        &Patch::Apply(&status),
    )
    .await
    .map_err(api_error(
        "updating status of",
        format!("MemberCluster {name}"),
    ))?;
    Ok(())
}

fn now() -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::now()
}

async fn mint_token(client: &Client, namespace: &str, ttl: Duration) -> Result<String, JoinError> {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![],
            expiration_seconds: Some(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)),
            ..Default::default()
        },
        ..Default::default()
    };
    let what = format!("ServiceAccount {namespace}/{AGENT_ACCOUNT}");
    let response = accounts
        .create_token_request(AGENT_ACCOUNT, &PostParams::default(), &request)
        .await
        .map_err(api_error("requesting a token for", what.clone()))?;
    response
        .status
        .map(|s| s.token)
        .filter(|t| !t.is_empty())
        .ok_or(JoinError::NoToken(what))
}

/// Revokes member `name`: its ServiceAccount (and so every token), RBAC,
/// hub namespace (with its Works) and MemberCluster.
pub async fn unjoin(client: &Client, name: &str) -> Result<(), JoinError> {
    validate_name(name)?;
    let namespace = member_namespace(name);
    // Credentials first: once they are gone the agent can no longer see
    // its Works disappear, so it keeps everything it applied.
    delete(
        Api::<ServiceAccount>::namespaced(client.clone(), &namespace),
        AGENT_ACCOUNT,
    )
    .await?;
    delete(
        Api::<ClusterRoleBinding>::all(client.clone()),
        &cluster_role_name(name),
    )
    .await?;
    delete(
        Api::<ClusterRole>::all(client.clone()),
        &cluster_role_name(name),
    )
    .await?;
    delete(Api::<Namespace>::all(client.clone()), &namespace).await?;
    delete(Api::<MemberCluster>::all(client.clone()), name).await
}

fn validate_name(name: &str) -> Result<(), JoinError> {
    let ok = !name.is_empty()
        && name.len() <= 48
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(JoinError::InvalidName(name.to_owned()))
    }
}

async fn apply<K>(api: Api<K>, name: &str, object: Value) -> Result<K, JoinError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&object),
    )
    .await
    .map_err(api_error("applying", format!("{} {name}", K::kind(&()))))
}

async fn delete<K>(api: Api<K>, name: &str) -> Result<(), JoinError>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(api_error("deleting", format!("{} {name}", K::kind(&())))(e)),
    }
}

fn api_error(action: &'static str, what: String) -> impl FnOnce(kube::Error) -> JoinError {
    move |source| JoinError::Api {
        action,
        what,
        source: Box::new(source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_must_be_dns_labels() {
        for ok in ["a", "eu-west-1", "m1"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "EU", "a.b", "a_b", &"x".repeat(49)] {
            assert!(
                matches!(validate_name(bad), Err(JoinError::InvalidName(_))),
                "{bad}"
            );
        }
    }
}
