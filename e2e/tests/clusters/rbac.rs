//! Authentication and authorization are real: a ServiceAccount token from
//! TokenRequest authenticates, and RBAC decides what it may do.

use fedway_e2e::{Cluster, ClusterOptions};
use k8s_openapi::api::{
    authentication::v1::{SelfSubjectReview, TokenRequest, TokenRequestSpec},
    core::v1::{ConfigMap, ServiceAccount},
};
use kube::{
    Api,
    api::{ListParams, PostParams},
};
use serde_json::json;

use crate::{apply, init_logging};

#[tokio::test]
async fn service_account_without_rights_gets_403_until_a_role_allows_it() {
    init_logging();
    let cluster = Cluster::start("rbac", &ClusterOptions::bare())
        .await
        .expect("starting a cluster");
    let admin = cluster.client();
    apply(
        &admin,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}),
    )
    .await
    .expect("namespace");
    apply(
        &admin,
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "nobody", "namespace": "team"}}),
    )
    .await
    .expect("service account");

    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), "team");
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![cluster.server_url()],
            expiration_seconds: Some(600),
            ..Default::default()
        },
        ..Default::default()
    };
    let token = accounts
        .create_token_request("nobody", &PostParams::default(), &request)
        .await
        .expect("TokenRequest works")
        .status
        .expect("token in status")
        .token;
    let nobody = cluster.token_client(&token).await.expect("token client");

    // Authenticated as the service account...
    let review = Api::<SelfSubjectReview>::all(nobody.clone())
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .expect("self subject review");
    let user = review
        .status
        .and_then(|s| s.user_info)
        .and_then(|u| u.username);
    assert_eq!(user.as_deref(), Some("system:serviceaccount:team:nobody"));

    // ...with no rights.
    let config_maps: Api<ConfigMap> = Api::namespaced(nobody.clone(), "team");
    match config_maps.list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 403, "{status:?}");
            assert!(
                status.message.contains("system:serviceaccount:team:nobody"),
                "{}",
                status.message
            );
        }
        other => panic!("expected 403 Forbidden, got {other:?}"),
    }

    // RBAC is evaluated, not a blanket deny: a Role + RoleBinding allow it.
    apply(
        &admin,
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "read-config", "namespace": "team"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
        }),
    )
    .await
    .expect("role");
    apply(
        &admin,
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": "nobody-reads-config", "namespace": "team"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-config"},
            "subjects": [{"kind": "ServiceAccount", "name": "nobody", "namespace": "team"}],
        }),
    )
    .await
    .expect("role binding");
    crate::eventually("the RoleBinding to take effect", 10, || async {
        Ok(config_maps
            .list(&ListParams::default())
            .await
            .ok()
            .map(drop))
    })
    .await;
    // Still nothing outside what the Role grants.
    let other_namespace: Api<ConfigMap> = Api::namespaced(nobody, "default");
    assert!(matches!(
        other_namespace.list(&ListParams::default()).await,
        Err(kube::Error::Api(status)) if status.code == 403
    ));
}
