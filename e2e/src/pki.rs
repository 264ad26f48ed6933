//! Certificates for one cluster: a CA, the API server's serving certificate,
//! client certificates (real authentication, no anonymous or insecure
//! port), and the service-account signing key so TokenRequest works.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};

/// PEM-encoded material for one cluster.
pub struct ClusterPki {
    pub ca_cert: String,
    pub ca_key: String,
    pub serving_cert: String,
    pub serving_key: String,
    /// `system:masters`, for tests and the components the harness runs.
    pub admin_cert: String,
    pub admin_key: String,
    pub service_account_key: String,
    pub service_account_public_key: String,
}

impl ClusterPki {
    /// Mints everything for an API server reachable at `address`.
    pub fn generate(cluster: &str, address: IpAddr) -> Result<ClusterPki, rcgen::Error> {
        let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("fedway-e2e {cluster} CA"));
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let serving_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut serving = CertificateParams::new(vec![
            "localhost".to_owned(),
            "kubernetes".to_owned(),
            "kubernetes.default".to_owned(),
            "kubernetes.default.svc".to_owned(),
        ])?;
        serving.subject_alt_names.push(SanType::IpAddress(address));
        serving
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let serving_cert = serving.signed_by(&serving_key, &issuer)?;

        let (admin_cert, admin_key) =
            client_certificate(&issuer, "fedway-e2e-admin", &["system:masters"])?;

        let service_account = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        Ok(ClusterPki {
            ca_cert: ca_cert.pem(),
            ca_key: issuer.key().serialize_pem(),
            serving_cert: serving_cert.pem(),
            serving_key: serving_key.serialize_pem(),
            admin_cert,
            admin_key,
            service_account_public_key: service_account.public_key_pem(),
            service_account_key: service_account.serialize_pem(),
        })
    }
}

/// A client certificate for `user` in `groups`, as `(cert PEM, key PEM)`.
fn client_certificate(
    issuer: &Issuer<'_, KeyPair>,
    user: &str,
    groups: &[&str],
) -> Result<(String, String), rcgen::Error> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, user);
    for group in groups {
        params
            .distinguished_name
            .push(DnType::OrganizationName, *group);
    }
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}
