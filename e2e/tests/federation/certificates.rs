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
pub fn secret(namespace: &str, name: &str, host: &str) -> Value {
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
            // What the Gateway presents to backends that ask; created late.
            "tls": {"backend": {"clientCertificateRef": {"name": "upstream-client"}}},
            "listeners": [
                {"name": "https", "port": 443, "protocol": "HTTPS", "hostname": "shop.example.com",
                 "tls": {"certificateRefs": [{"name": "shop-tls"}]}},
                // Cross-namespace, allowed by the ReferenceGrant below.
                {"name": "shared", "port": 8443, "protocol": "HTTPS", "hostname": "*.example.com",
                 "tls": {"certificateRefs": [{"name": "wildcard", "namespace": "certs"}]}},
                // Cross-namespace, no grant: never copied.
                {"name": "denied", "port": 9443, "protocol": "HTTPS", "hostname": "denied.example.com",
                 "tls": {"certificateRefs": [{"name": "private", "namespace": "vault"}]}},
                // Its Secret is created later.
                {"name": "late", "port": 10443, "protocol": "HTTPS", "hostname": "late.example.com",
                 "tls": {"certificateRefs": [{"name": "late-tls"}]}},
            ],
        },
    })
}

/// The hub Gateway listener's `ResolvedRefs` as (status, reason, message),
/// once it has one.
async fn resolved_refs(hub: &kube::Client, listener: &str) -> Option<(String, String, String)> {
    let gateway = crate::gateways(hub, "web").get_opt("shop").await.ok()??;
    let listener = gateway.data["status"]["listeners"]
        .as_array()?
        .iter()
        .find(|l| l["name"] == listener)?;
    fields(listener, "ResolvedRefs")
}

/// Condition `type_` among `object["conditions"]` as (status, reason,
/// message).
fn fields(object: &Value, type_: &str) -> Option<(String, String, String)> {
    let condition = object["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)?;
    let text = |field: &str| condition[field].as_str().unwrap_or_default().to_owned();
    Some((text("status"), text("reason"), text("message")))
}

/// The hub Gateway's own `ResolvedRefs` (its backend client certificate)
/// as (status, reason, message), once it has one.
async fn gateway_resolved_refs(hub: &kube::Client) -> Option<(String, String, String)> {
    let gateway = crate::gateways(hub, "web").get_opt("shop").await.ok()??;
    fields(&gateway.data["status"], "ResolvedRefs")
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

    // The hub Gateway's listeners say which references resolve, and why
    // the others do not.
    for (listener, want) in [
        ("https", ("True", "ResolvedRefs", None)),
        ("shared", ("True", "ResolvedRefs", None)),
        (
            "denied",
            (
                "False",
                "RefNotPermitted",
                Some("Secret vault/private: no ReferenceGrant in vault allows Gateways from web"),
            ),
        ),
        (
            "late",
            (
                "False",
                "InvalidCertificateRef",
                Some("Secret web/late-tls does not exist in the hub"),
            ),
        ),
    ] {
        let got = eventually(
            &format!("listener {listener}'s ResolvedRefs"),
            30,
            || async {
                Ok(resolved_refs(&hub, listener)
                    .await
                    .filter(|(status, reason, _)| {
                        (status.as_str(), reason.as_str()) == (want.0, want.1)
                    }))
            },
        )
        .await;
        if let Some(message) = want.2 {
            assert!(got.2.starts_with(message), "listener {listener}: {got:?}");
        }
    }
    // So does the Gateway's own condition, about its client certificate.
    let missing = eventually("the Gateway's ResolvedRefs", 30, || async {
        Ok(gateway_resolved_refs(&hub).await)
    })
    .await;
    assert_eq!(
        (missing.0.as_str(), missing.1.as_str()),
        ("False", "InvalidClientCertificateRef"),
        "{missing:?}"
    );
    assert!(
        missing
            .2
            .starts_with("Secret web/upstream-client does not exist"),
        "{missing:?}"
    );
    // The missing Secrets created: the references resolve, members get them.
    apply(&hub, secret("web", "late-tls", "late.example.com")).await;
    apply(&hub, secret("web", "upstream-client", "shop.example.com")).await;
    eventually("listener late resolved", 30, || async {
        Ok(resolved_refs(&hub, "late")
            .await
            .filter(|(status, _, _)| status == "True"))
    })
    .await;
    eventually("the client certificate resolved", 30, || async {
        Ok(gateway_resolved_refs(&hub)
            .await
            .filter(|(status, _, _)| status == "True"))
    })
    .await;
    let client = data(&hub_secrets("web"), "upstream-client")
        .await
        .expect("hub upstream-client");
    let web = Api::<Secret>::namespaced(fed.member("member-a").cluster.client(), "web");
    eventually("member-a to hold the late certificates", 30, || async {
        Ok((data(&web, "late-tls").await.is_some()
            && data(&web, "upstream-client").await.as_ref() == Some(&client))
        .then_some(()))
    })
    .await;

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

    // A botched renewal (no certificate in it): the hub says so on the
    // listener, and members keep serving the copy they have.
    let mut botched = tls_secret("shop-tls", "shop.example.com");
    botched.metadata.namespace = Some("web".into());
    botched.data.get_or_insert_default().insert(
        "tls.crt".into(),
        k8s_openapi::ByteString(b"not a certificate".to_vec()),
    );
    let mut botched = serde_json::to_value(botched).expect("a Secret");
    botched["apiVersion"] = "v1".into();
    botched["kind"] = "Secret".into();
    apply(&hub, botched).await;
    let refused = eventually("listener https refuses the botched Secret", 30, || async {
        Ok(resolved_refs(&hub, "https")
            .await
            .filter(|(status, _, _)| status == "False"))
    })
    .await;
    assert_eq!(refused.1, "InvalidCertificateRef", "{refused:?}");
    assert!(
        refused.2.ends_with("members keep any copy they have"),
        "{refused:?}"
    );
    // The hub wrote its status after its copies and Works: they are final.
    for member in ["member-a", "member-b"] {
        let work = fed.work(member, "web.shop").await.expect("the Work");
        let copy = work
            .spec
            .secrets
            .iter()
            .find(|c| (c.namespace.as_str(), c.name.as_str()) == ("web", "shop-tls"))
            .unwrap_or_else(|| panic!("{member}'s Work still names shop-tls"));
        let hub_copies = hub_secrets(&fedway_hub::join::member_namespace(member));
        assert_eq!(
            data(&hub_copies, &copy.from).await.as_ref(),
            Some(&renewed),
            "{member}'s copy in the hub is the last that could serve"
        );
        let web = Api::<Secret>::namespaced(fed.member(member).cluster.client(), "web");
        assert_eq!(
            data(&web, "shop-tls").await.as_ref(),
            Some(&renewed),
            "{member} keeps the last certificate that could serve"
        );
    }

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
    // The hub does not judge Secrets it does not serve (the "late" one is
    // missing in the hub, which is none of its business here); a reference
    // no grant allows is still refused.
    for (listener, want) in [("https", "True"), ("late", "True"), ("denied", "False")] {
        eventually(
            &format!("listener {listener}'s ResolvedRefs"),
            30,
            || async {
                Ok(resolved_refs(&hub, listener)
                    .await
                    .filter(|(status, _, _)| status == want))
            },
        )
        .await;
    }
}
