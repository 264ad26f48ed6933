//! The Secrets a Gateway's listeners serve (`tls.certificateRefs`) and the
//! copies members get of them: which references may be followed (same
//! namespace, or a ReferenceGrant as the spec says), and what each copy is
//! named and holds. Pure: the Gateway controller reads the Secrets and
//! writes the copies (`certificate_copies`).

use std::hash::Hasher;

use fedway_crds::reference_grant::{self, GATEWAY, Grant, GroupKind, SECRET};
use fedway_runtime::certificates::{self, CertificateError};
use k8s_openapi::api::core::v1::Secret;
use serde_json::{Value, json};

use crate::gateways::{GATEWAY_ANNOTATION, GATEWAY_UID_LABEL};

/// Annotation on a copy: the hub Secret it copies, `namespace/name`.
pub const SOURCE_ANNOTATION: &str = "fedway.dev/copy-of";

/// A Secret by namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretKey {
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Why a listener's certificates cannot be used: the spec's reason for its
/// `ResolvedRefs=False` condition, and a message naming the reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unresolved {
    pub reason: &'static str,
    pub message: String,
}

/// One listener's certificate references.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerCertificates {
    pub listener: String,
    /// The Secrets it names, in order, or why one cannot be followed.
    pub secrets: Result<Vec<SecretKey>, Unresolved>,
}

/// The certificate references of every listener that has some. Only core
/// Secrets are followed; one in another namespace needs a ReferenceGrant
/// there that lets Gateways of this namespace refer to it.
///
/// `owner` is a Gateway or a ListenerSet: a grant names which kind it lets
/// refer.
pub fn referenced(owner: &Value, grants: &[Value]) -> Vec<ListenerCertificates> {
    let namespace = namespace_of(owner);
    let from = GroupKind {
        kind: owner["kind"].as_str().unwrap_or("Gateway"),
        ..GATEWAY
    };
    certificate_refs(owner)
        .map(|(listener, refs)| ListenerCertificates {
            listener: listener.to_owned(),
            secrets: refs
                .iter()
                .map(|r| follow(r, from, namespace, grants, INVALID_CERTIFICATE))
                .collect(),
        })
        .collect()
}

/// The Secret a Gateway presents to backends that ask for a client
/// certificate (`spec.tls.backend.clientCertificateRef`), followed as the
/// spec says (a grant for another namespace), if it names one.
pub fn client_certificate(
    gateway: &Value,
    grants: &[Value],
) -> Option<Result<SecretKey, Unresolved>> {
    let reference = client_certificate_ref(gateway)?;
    Some(follow(
        reference,
        GATEWAY,
        namespace_of(gateway),
        grants,
        INVALID_CLIENT_CERTIFICATE,
    ))
}

/// The spec's reason for a listener certificate that cannot serve.
pub const INVALID_CERTIFICATE: &str = "InvalidCertificateRef";
/// The spec's reason (on the Gateway's own `ResolvedRefs`) for a backend
/// client certificate that cannot serve.
pub const INVALID_CLIENT_CERTIFICATE: &str = "InvalidClientCertificateRef";

/// The Gateway's `spec.tls.backend.clientCertificateRef`, if it has one.
pub fn client_certificate_ref(gateway: &Value) -> Option<&Value> {
    let reference = &gateway["spec"]["tls"]["backend"]["clientCertificateRef"];
    reference.is_object().then_some(reference)
}

/// Every object a listener's certificateRefs or the backend client
/// certificate name, of whatever kind and whether a grant allows it or not
/// (what a change may concern), for the Gateway in `namespace` whose spec
/// is `object["spec"]` (the Gateway, or the data of a DynamicObject: no
/// copy of it is needed).
pub fn named(namespace: &str, object: &Value) -> Vec<SecretKey> {
    certificate_refs(object)
        .flat_map(|(_, refs)| refs)
        .chain(client_certificate_ref(object))
        .map(|r| key_of(r, namespace))
        .collect()
}

fn namespace_of(gateway: &Value) -> &str {
    gateway["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
}

/// Each listener with certificateRefs: its name and them.
fn certificate_refs(gateway: &Value) -> impl Iterator<Item = (&str, &Vec<Value>)> {
    gateway["spec"]["listeners"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|listener| {
            let refs = listener["tls"]["certificateRefs"].as_array()?;
            (!refs.is_empty()).then(|| (listener["name"].as_str().unwrap_or_default(), refs))
        })
}

fn key_of(reference: &Value, namespace: &str) -> SecretKey {
    SecretKey {
        namespace: reference["namespace"]
            .as_str()
            .unwrap_or(namespace)
            .to_owned(),
        name: reference["name"].as_str().unwrap_or_default().to_owned(),
    }
}

fn follow(
    reference: &Value,
    from: GroupKind<'_>,
    namespace: &str,
    grants: &[Value],
    invalid: &'static str,
) -> Result<SecretKey, Unresolved> {
    let group = reference["group"].as_str().unwrap_or_default();
    let kind = reference["kind"].as_str().unwrap_or("Secret");
    let key = key_of(reference, namespace);
    if !group.is_empty() || kind != "Secret" {
        return Err(Unresolved {
            reason: invalid,
            message: format!(
                "certificate reference {group}/{kind} {key}: only core Secrets are supported"
            ),
        });
    }
    let grants = grants.iter().map(Grant::from_json);
    if !reference_grant::permitted(grants, from, namespace, SECRET, &key.namespace, &key.name) {
        return Err(Unresolved {
            reason: "RefNotPermitted",
            message: format!(
                "Secret {key}: no ReferenceGrant in {} allows {}s from {namespace}",
                key.namespace, from.kind
            ),
        });
    }
    Ok(key)
}

/// Whether the hub's Secret can serve as a certificate (the check
/// fedway-proxy makes): a missing or unusable one is not copied. `invalid`
/// is the spec's reason for the reference that names it.
pub fn usable(
    key: &SecretKey,
    secret: Option<&Secret>,
    invalid: &'static str,
) -> Result<(), Unresolved> {
    let secret = secret.ok_or_else(|| Unresolved {
        reason: invalid,
        message: format!("Secret {key} does not exist in the hub"),
    })?;
    certificates::certified_key(secret)
        .map(drop)
        .map_err(|e: CertificateError| Unresolved {
            reason: invalid,
            message: e.to_string(),
        })
}

/// The copy's name in a member's hub namespace: one per Gateway and
/// Secret, so Gateways sharing a Secret never write or delete each other's
/// copy, and short whatever the names (a hash of the source).
pub fn copy_name(gateway_uid: &str, source: &SecretKey) -> String {
    let mut hash = fnv::FnvHasher::default();
    hash.write(source.namespace.as_bytes());
    hash.write(b"/");
    hash.write(source.name.as_bytes());
    format!("tls-{gateway_uid}-{:016x}", hash.finish())
}

/// The copy of `secret` (from `source`) for Gateway `gateway` (its
/// `namespace/name`) in a member's hub namespace: type and data only,
/// labelled with the Gateway's UID so its copies can be listed.
pub fn copy(
    secret: &Secret,
    source: &SecretKey,
    gateway_uid: &str,
    gateway: &str,
    namespace: &str,
) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {
            "name": copy_name(gateway_uid, source), "namespace": namespace,
            "labels": {GATEWAY_UID_LABEL: gateway_uid},
            "annotations": {GATEWAY_ANNOTATION: gateway, SOURCE_ANNOTATION: source.to_string()},
        },
        "type": secret.type_,
        "data": secret.data,
    })
}

/// Whether the copy in place already holds what [`copy`] would write.
pub fn copy_up_to_date(current: &Secret, wanted: &Value) -> bool {
    let current = serde_json::to_value(current).unwrap_or_default();
    current["type"] == wanted["type"]
        && current["data"] == wanted["data"]
        && current["metadata"]["labels"][GATEWAY_UID_LABEL]
            == wanted["metadata"]["labels"][GATEWAY_UID_LABEL]
        && current["metadata"]["annotations"][SOURCE_ANNOTATION]
            == wanted["metadata"]["annotations"][SOURCE_ANNOTATION]
        && current["metadata"]["annotations"][GATEWAY_ANNOTATION]
            == wanted["metadata"]["annotations"][GATEWAY_ANNOTATION]
}

#[cfg(test)]
mod tests {
    use fedway_runtime::certificates::testing::tls_secret;

    use super::*;

    fn key(namespace: &str, name: &str) -> SecretKey {
        SecretKey {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    fn gateway(listeners: Value) -> Value {
        json!({"kind": "Gateway", "metadata": {"name": "shop", "namespace": "web"},
               "spec": {"listeners": listeners}})
    }

    #[test]
    fn references_are_followed_where_the_spec_allows() {
        let gateway = gateway(json!([
            {"name": "http", "port": 80, "protocol": "HTTP"},
            {"name": "https", "port": 443, "protocol": "HTTPS",
             "tls": {"certificateRefs": [{"name": "shop-tls"}, {"kind": "Secret", "group": "", "name": "shared", "namespace": "certs"}]}},
            {"name": "other-ns", "port": 8443, "protocol": "HTTPS",
             "tls": {"certificateRefs": [{"name": "x", "namespace": "secret-store"}]}},
            {"name": "configmap", "port": 9443, "protocol": "HTTPS",
             "tls": {"certificateRefs": [{"kind": "ConfigMap", "name": "x"}]}},
            {"name": "passthrough", "port": 10443, "protocol": "TLS", "tls": {"mode": "Passthrough"}},
        ]));
        let grants = [json!({
            "kind": "ReferenceGrant", "metadata": {"name": "g", "namespace": "certs"},
            "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "web"}],
                     "to": [{"group": "", "kind": "Secret"}]},
        })];
        let got = referenced(&gateway, &grants);
        let outcome = |listener: &str| {
            got.iter()
                .find(|l| l.listener == listener)
                .map(|l| l.secrets.clone().map_err(|u| u.reason))
        };
        assert_eq!(
            outcome("https"),
            Some(Ok(vec![key("web", "shop-tls"), key("certs", "shared")]))
        );
        assert_eq!(outcome("other-ns"), Some(Err("RefNotPermitted")));
        assert_eq!(outcome("configmap"), Some(Err("InvalidCertificateRef")));
        assert_eq!(outcome("http"), None, "no TLS, nothing to follow");
        assert_eq!(outcome("passthrough"), None, "no certificates");
        assert_eq!(
            named("web", &gateway),
            [
                key("web", "shop-tls"),
                key("certs", "shared"),
                key("secret-store", "x"),
                key("web", "x")
            ],
            "what a change may concern, grants aside"
        );
    }

    #[test]
    fn the_backend_client_certificate_is_followed_like_a_listeners() {
        let with = |reference: Value| {
            let mut gateway = gateway(json!([]));
            gateway["spec"]["tls"] = json!({"backend": {"clientCertificateRef": reference}});
            gateway
        };
        let grants = [json!({
            "kind": "ReferenceGrant", "metadata": {"name": "g", "namespace": "certs"},
            "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "web"}],
                     "to": [{"group": "", "kind": "Secret", "name": "client"}]},
        })];
        let outcome = |reference: Value| {
            client_certificate(&with(reference), &grants).map(|r| r.map_err(|u| u.reason))
        };
        for (reference, want) in [
            (json!({"name": "upstream"}), Ok(key("web", "upstream"))),
            (
                json!({"name": "client", "namespace": "certs"}),
                Ok(key("certs", "client")),
            ),
            (
                json!({"name": "other", "namespace": "certs"}),
                Err("RefNotPermitted"),
            ),
            (
                json!({"group": "example.com", "kind": "Vault", "name": "x"}),
                Err("InvalidClientCertificateRef"),
            ),
        ] {
            assert_eq!(outcome(reference.clone()), Some(want), "{reference}");
        }
        assert_eq!(client_certificate(&gateway(json!([])), &grants), None);
        assert_eq!(
            named(
                "web",
                &with(json!({"name": "client", "namespace": "certs"}))
            ),
            [key("certs", "client")],
            "a change to it concerns the Gateway"
        );
    }

    #[test]
    fn only_a_usable_tls_secret_is_copied() {
        let source = key("web", "shop-tls");
        assert!(
            usable(
                &source,
                Some(&tls_secret("shop-tls", "shop.example.com")),
                INVALID_CERTIFICATE
            )
            .is_ok()
        );
        let missing = usable(&source, None, INVALID_CERTIFICATE).expect_err("missing");
        assert_eq!(missing.reason, "InvalidCertificateRef");
        assert!(
            missing.message.contains("web/shop-tls does not exist"),
            "{}",
            missing.message
        );
        let mut opaque = tls_secret("shop-tls", "shop.example.com");
        opaque.type_ = Some("Opaque".into());
        let invalid =
            usable(&source, Some(&opaque), INVALID_CLIENT_CERTIFICATE).expect_err("opaque");
        assert_eq!(invalid.reason, "InvalidClientCertificateRef");
        assert!(
            invalid.message.contains("kubernetes.io/tls"),
            "{}",
            invalid.message
        );
    }

    #[test]
    fn copies_are_per_gateway_and_source_and_hold_only_type_and_data() {
        let a = copy_name("uid-1", &key("web", "shop-tls"));
        assert_eq!(a, copy_name("uid-1", &key("web", "shop-tls")), "stable");
        assert_ne!(
            a,
            copy_name("uid-2", &key("web", "shop-tls")),
            "per Gateway"
        );
        assert_ne!(a, copy_name("uid-1", &key("web", "other")), "per Secret");
        assert_ne!(
            copy_name("uid-1", &key("we", "bshop")),
            copy_name("uid-1", &key("web", "shop")),
            "namespace and name are not run together"
        );
        let long = copy_name(
            "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
            &key(&"n".repeat(63), &"s".repeat(253)),
        );
        assert!(long.len() <= 63, "{long} fits a label value and a name");

        let mut secret = tls_secret("shop-tls", "shop.example.com");
        secret.metadata.namespace = Some("web".into());
        secret.metadata.labels = Some([("team".to_owned(), "web".to_owned())].into());
        let wanted = copy(
            &secret,
            &key("web", "shop-tls"),
            "uid-1",
            "web/shop",
            "fedway-member-eu",
        );
        assert_eq!(wanted["metadata"]["namespace"], "fedway-member-eu");
        assert_eq!(
            wanted["metadata"]["labels"],
            json!({GATEWAY_UID_LABEL: "uid-1"})
        );
        assert_eq!(wanted["type"], "kubernetes.io/tls");
        assert_eq!(
            wanted["data"],
            serde_json::to_value(&secret.data).expect("data")
        );

        let mut current: Secret = serde_json::from_value(wanted.clone()).expect("a Secret");
        current.metadata.resource_version = Some("7".into());
        assert!(
            copy_up_to_date(&current, &wanted),
            "server fields do not count"
        );
        let renewed = tls_secret("shop-tls", "shop.example.com");
        current.data = renewed.data;
        assert!(!copy_up_to_date(&current, &wanted), "a renewal is written");
    }
}
