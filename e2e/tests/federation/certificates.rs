//! Listener certificates: the hub's Secrets reach every member that runs
//! the Gateway, by reference (their keys never sit in a Work), follow a
//! renewal, honour ReferenceGrants, and stay out of members that keep
//! their own.

use fedway_runtime::certificates::testing::tls_secret;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, api::DeleteParams};
use serde_json::{Value, json};

use crate::{Federation, apply, eventually, namespace};

/// Secret `namespace/name` for `host`, as the hub's user (or cert-manager)
/// writes it.
fn secret(namespace: &str, name: &str, host: &str) -> Value {
    let mut secret = tls_secret(name, host);
    secret.metadata.namespace = Some(namespace.into());
    let mut value = serde_json::to_value(secret).expect("a Secret");
    value["apiVersion"] = "v1".into();
    value["kind"] = "Secret".into();
    value
}

fn https_gateway() -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "shop", "namespace": "web"},
        "spec": {
            "gatewayClassName": "fedway",
            "listeners": [
                {"name": "https", "port": 443, "protocol": "HTTPS", "hostname": "shop.example.com",
                 "tls": {"certificateRefs": [{"name": "shop-tls"}]}},
                // Cross-namespace, allowed by the ReferenceGrant below.
                {"name": "shared", "port": 8443, "protocol": "HTTPS", "hostname": "*.example.com",
                 "tls": {"certificateRefs": [{"name": "wildcard", "namespace": "certs"}]}},
                // Cross-namespace, no grant: never copied.
                {"name": "denied", "port": 9443, "protocol": "HTTPS", "hostname": "denied.example.com",
                 "tls": {"certificateRefs": [{"name": "private", "namespace": "vault"}]}},
            ],
        },
    })
}

async fn data(api: &Api<Secret>, name: &str) -> Option<Value> {
    let secret = api.get_opt(name).await.ok()??;
    Some(serde_json::to_value(secret.data).unwrap_or_default())
}

#[tokio::test]
async fn listener_certificates_reach_members_by_reference_and_follow_renewals() {
    let fed = Federation::start(&[("member-a", &[]), ("member-b", &[])]).await;
    let hub = fed.hub.client();
    for ns in ["web", "certs", "vault"] {
        namespace(&hub, ns).await;
    }
    apply(&hub, secret("web", "shop-tls", "shop.example.com")).await;
    apply(&hub, secret("certs", "wildcard", "*.example.com")).await;
    apply(&hub, secret("vault", "private", "denied.example.com")).await;
    apply(&hub, json!({
        "apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
        "metadata": {"name": "web-gateways", "namespace": "certs"},
        "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "web"}],
                 "to": [{"group": "", "kind": "Secret"}]},
    }))
    .await;
    apply(&hub, https_gateway()).await;

    let hub_secrets = |ns: &str| Api::<Secret>::namespaced(hub.clone(), ns);
    let shop = data(&hub_secrets("web"), "shop-tls")
        .await
        .expect("hub shop-tls");
    let wildcard = data(&hub_secrets("certs"), "wildcard")
        .await
        .expect("hub wildcard");
    for member in ["member-a", "member-b"] {
        let client = fed.member(member).cluster.client();
        let web = Api::<Secret>::namespaced(client.clone(), "web");
        let certs = Api::<Secret>::namespaced(client.clone(), "certs");
        eventually(
            &format!("{member} to hold both certificates"),
            30,
            || async {
                Ok((data(&web, "shop-tls").await.as_ref() == Some(&shop)
                    && data(&certs, "wildcard").await.as_ref() == Some(&wildcard))
                .then_some(()))
            },
        )
        .await;
        let vault = Api::<Secret>::namespaced(client.clone(), "vault");
        assert!(
            vault.get_opt("private").await.expect("reading").is_none(),
            "{member}: a Secret no ReferenceGrant allows is not copied"
        );
        let copy = web.get("shop-tls").await.expect("member copy");
        assert_eq!(copy.type_.as_deref(), Some("kubernetes.io/tls"));

        // The Work names the copies; no key material is in it.
        let work = fed.work(member, "web.shop").await.expect("the Work");
        let sources: Vec<(&str, &str)> = work
            .spec
            .secrets
            .iter()
            .map(|c| (c.namespace.as_str(), c.name.as_str()))
            .collect();
        assert_eq!(sources, [("certs", "wildcard"), ("web", "shop-tls")]);
        let text = serde_json::to_string(&work).expect("Work JSON");
        for value in [&shop, &wildcard] {
            let key = value["tls.key"].as_str().expect("tls.key");
            assert!(!text.contains(key), "{member}'s Work holds a private key");
        }
        // The copy sits in the member's hub namespace, where only its agent
        // (and the hub) can read it.
        let hub_namespace = fedway_hub::join::member_namespace(member);
        for copy in &work.spec.secrets {
            hub_secrets(&hub_namespace)
                .get(&copy.from)
                .await
                .unwrap_or_else(|e| panic!("{member}'s copy {} in the hub: {e}", copy.from));
        }
    }

    // A renewal in the hub (what cert-manager does) reaches every member.
    apply(&hub, secret("web", "shop-tls", "shop.example.com")).await;
    let renewed = data(&hub_secrets("web"), "shop-tls")
        .await
        .expect("renewed");
    assert_ne!(renewed, shop, "a new key pair");
    let started = std::time::Instant::now();
    for member in ["member-a", "member-b"] {
        let web = Api::<Secret>::namespaced(fed.member(member).cluster.client(), "web");
        eventually(
            &format!("{member} to hold the renewed certificate"),
            30,
            || async {
                Ok((data(&web, "shop-tls").await.as_ref() == Some(&renewed)).then_some(()))
            },
        )
        .await;
    }
    println!("renewal reached both members in {:?}", started.elapsed());

    // The Gateway deleted: its copies go from the hub, and (deletion policy
    // Delete) the certificates from the members.
    crate::gateways(&hub, "web")
        .delete("shop", &DeleteParams::default())
        .await
        .expect("deleting the Gateway");
    for member in ["member-a", "member-b"] {
        let hub_copies = hub_secrets(&fedway_hub::join::member_namespace(member));
        let cluster = &fed.member(member).cluster;
        let web = Api::<Secret>::namespaced(cluster.client(), "web");
        eventually(&format!("{member}'s certificates removed"), 30, || async {
            let copies = hub_copies
                .list(&Default::default())
                .await
                .map_err(|e| fed.hub.kube_error(e))?;
            let copy = web
                .get_opt("shop-tls")
                .await
                .map_err(|e| cluster.kube_error(e))?;
            Ok((copies.items.is_empty() && copy.is_none()).then_some(()))
        })
        .await;
    }
}

#[tokio::test]
async fn a_member_that_keeps_its_own_certificates_gets_none_from_the_hub() {
    let fed = Federation::start(&[("member-a", &[])]).await;
    let hub = fed.hub.client();
    for ns in ["web", "certs", "vault"] {
        namespace(&hub, ns).await;
    }
    apply(&hub, secret("web", "shop-tls", "shop.example.com")).await;
    apply(&hub, json!({
        "apiVersion": "fedway.dev/v1alpha1", "kind": "PlacementPolicy",
        "metadata": {"name": "shop", "namespace": "web"},
        "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shop"}],
                 "certificates": "Member"},
    }))
    .await;
    apply(&hub, https_gateway()).await;
    let work = eventually("the Work", 30, || async {
        Ok(fed.work("member-a", "web.shop").await)
    })
    .await;
    assert!(
        work.spec.secrets.is_empty(),
        "no copies named: {:?}",
        work.spec.secrets
    );
    let copies =
        Api::<Secret>::namespaced(hub.clone(), &fedway_hub::join::member_namespace("member-a"))
            .list(&Default::default())
            .await
            .expect("listing copies");
    assert!(copies.items.is_empty(), "no copies in the hub");
    let cluster = &fed.member("member-a").cluster;
    let member = cluster.client();
    let member_gateways = crate::gateways(&member, "web");
    eventually("the Gateway in member-a", 30, || async {
        member_gateways
            .get_opt("shop")
            .await
            .map_err(|e| cluster.kube_error(e))
    })
    .await;
    let web = Api::<Secret>::namespaced(member, "web");
    assert!(
        web.get_opt("shop-tls").await.expect("reading").is_none(),
        "none in the member"
    );
}
