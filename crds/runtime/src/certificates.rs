//! A listener's certificate from a `kubernetes.io/tls` Secret: the PEM chain
//! in `tls.crt`, the key in `tls.key`, checked to belong together so a
//! mismatched pair is reported on the listener instead of failing handshakes.
//! fedway-proxy serves what this returns; the hub checks a Secret with it
//! before copying it to members, so both report the same reasons.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use rustls::{
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    sign::CertifiedKey,
};

pub const TLS_SECRET_TYPE: &str = "kubernetes.io/tls";

/// Why a Secret cannot serve as a listener's certificate (reported with
/// reason `InvalidCertificateRef`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    #[error("Secret {0} is not of type kubernetes.io/tls")]
    NotTls(String),
    #[error("Secret {secret} has no {field}")]
    Missing { secret: String, field: &'static str },
    #[error("Secret {secret}: tls.crt holds no PEM certificate: {reason}")]
    Certificate { secret: String, reason: String },
    #[error("Secret {secret}: tls.key holds no usable PEM private key: {reason}")]
    Key { secret: String, reason: String },
}

/// Parses the certificate chain and key of `secret`.
pub fn certified_key(secret: &Secret) -> Result<Arc<CertifiedKey>, CertificateError> {
    let name = format!(
        "{}/{}",
        secret.metadata.namespace.as_deref().unwrap_or_default(),
        secret.metadata.name.as_deref().unwrap_or_default()
    );
    if secret.type_.as_deref() != Some(TLS_SECRET_TYPE) {
        return Err(CertificateError::NotTls(name));
    }
    let field = |field: &'static str| {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(field))
            .map(|b| b.0.as_slice())
            .filter(|b| !b.is_empty())
            .ok_or_else(|| CertificateError::Missing {
                secret: name.clone(),
                field,
            })
    };
    let (crt, key) = (field("tls.crt")?, field("tls.key")?);
    let chain = CertificateDer::pem_slice_iter(crt)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertificateError::Certificate {
            secret: name.clone(),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(CertificateError::Certificate {
            secret: name,
            reason: "no CERTIFICATE block".to_owned(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| CertificateError::Key {
        secret: name.clone(),
        reason: e.to_string(),
    })?;
    let certified = CertifiedKey::from_der(chain, key, &rustls::crypto::ring::default_provider())
        .map_err(|e| CertificateError::Key {
        secret: name,
        reason: e.to_string(),
    })?;
    Ok(Arc::new(certified))
}

/// Self-signed TLS Secrets, for tests here and in other crates (feature
/// `testing`).
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    use std::collections::BTreeMap;

    use k8s_openapi::{
        ByteString, api::core::v1::Secret, apimachinery::pkg::apis::meta::v1::ObjectMeta,
    };

    use super::TLS_SECRET_TYPE;

    /// Secret `default/<name>` with a fresh key and a certificate for `host`.
    pub fn tls_secret(name: &str, host: &str) -> Secret {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec![host.to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        secret(name, cert.pem().as_bytes(), key.serialize_pem().as_bytes())
    }

    /// Secret `default/<name>` of type `kubernetes.io/tls` holding `crt` and `key`.
    pub fn secret(name: &str, crt: &[u8], key: &[u8]) -> Secret {
        Secret {
            metadata: ObjectMeta {
                namespace: Some("default".into()),
                name: Some(name.into()),
                ..Default::default()
            },
            type_: Some(TLS_SECRET_TYPE.into()),
            data: Some(BTreeMap::from([
                ("tls.crt".to_owned(), ByteString(crt.to_vec())),
                ("tls.key".to_owned(), ByteString(key.to_vec())),
            ])),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{
        testing::{secret, tls_secret},
        *,
    };

    #[test]
    fn valid_pair_parses() {
        assert!(certified_key(&tls_secret("ok", "shop.example.com")).is_ok());
    }

    #[test]
    fn invalid_secrets_say_why() {
        let mut opaque = tls_secret("opaque", "a.example.com");
        opaque.type_ = Some("Opaque".into());
        assert!(matches!(
            certified_key(&opaque),
            Err(CertificateError::NotTls(_))
        ));
        assert!(matches!(
            certified_key(&secret("garbage", b"not pem", b"not pem")),
            Err(CertificateError::Certificate { .. })
        ));
        let mut empty_key = tls_secret("nokey", "a.example.com");
        if let Some(d) = empty_key.data.as_mut() {
            d.remove("tls.key");
        }
        assert!(matches!(
            certified_key(&empty_key),
            Err(CertificateError::Missing {
                field: "tls.key",
                ..
            })
        ));
        // A key that does not belong to the certificate.
        let a = tls_secret("a", "a.example.com");
        let b = tls_secret("b", "b.example.com");
        let crt = a.data.as_ref().and_then(|d| d.get("tls.crt")).expect("crt");
        let key = b.data.as_ref().and_then(|d| d.get("tls.key")).expect("key");
        assert!(matches!(
            certified_key(&secret("mixed", &crt.0, &key.0)),
            Err(CertificateError::Key { .. })
        ));
    }
}
