//! Certificates for one cluster: a CA, the API server's serving certificate,
//! client certificates (real authentication, no anonymous or insecure
//! port), and the service-account signing key so TokenRequest works.

use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};

/// The user of the admin credential every harness cluster issues (group
/// `system:masters`): the tests' and the in-process hub's.
pub const ADMIN_USER: &str = "fedway-e2e-admin";

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

        let (admin_cert, admin_key) = client_certificate(&issuer, ADMIN_USER, &["system:masters"])?;

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

/// A client certificate signed by the CA in `ca_cert`/`ca_key` (PEM), for
/// `user` in `groups`, as `(cert PEM, key PEM)`.
pub fn client_certificate_from(
    cluster: &str,
    ca_key: &str,
    user: &str,
    groups: &[&str],
) -> Result<(String, String), rcgen::Error> {
    // The issuer is the CA's name and key: rebuilding its parameters with
    // the same key signs certificates the CA's clients already trust.
    let issuer = Issuer::new(ca_params(cluster)?, KeyPair::from_pem(ca_key)?);
    client_certificate(&issuer, user, groups)
}

fn ca_params(cluster: &str) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, format!("fedway-e2e {cluster} CA"));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
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

#[cfg(test)]
mod tests {
    use std::{net::Ipv4Addr, sync::Arc};

    use rustls::{
        RootCertStore,
        client::{WebPkiServerVerifier, danger::ServerCertVerifier},
        pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject},
        server::WebPkiClientVerifier,
    };

    use super::*;

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).expect("a PEM certificate")
    }

    #[test]
    fn serving_and_client_certificates_chain_to_the_cluster_ca() {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let ip = Ipv4Addr::new(127, 20, 9, 1);
        let pki = ClusterPki::generate("test", ip.into()).expect("certificates");
        let mut roots = RootCertStore::empty();
        roots.add(der(&pki.ca_cert)).expect("CA certificate");
        let roots = Arc::new(roots);

        let server = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .expect("server verifier");
        let serving = der(&pki.serving_cert);
        let at_ip = ServerName::IpAddress(std::net::IpAddr::from(ip).into());
        server
            .verify_server_cert(&serving, &[], &at_ip, &[], UnixTime::now())
            .expect("the serving certificate is valid for the cluster address");
        let elsewhere =
            ServerName::IpAddress(std::net::IpAddr::from(Ipv4Addr::new(127, 20, 10, 1)).into());
        assert!(
            server
                .verify_server_cert(&serving, &[], &elsewhere, &[], UnixTime::now())
                .is_err(),
            "and for no other address"
        );

        let clients = WebPkiClientVerifier::builder_with_provider(roots, provider)
            .build()
            .expect("client verifier");
        clients
            .verify_client_cert(&der(&pki.admin_cert), &[], UnixTime::now())
            .expect("the admin certificate is a valid client certificate");
    }

    #[test]
    fn service_account_keys_are_a_pem_pair() {
        let pki = ClusterPki::generate("test", Ipv4Addr::LOCALHOST.into()).expect("certificates");
        assert!(
            pki.service_account_key
                .starts_with("-----BEGIN PRIVATE KEY-----")
        );
        assert!(
            pki.service_account_public_key
                .starts_with("-----BEGIN PUBLIC KEY-----")
        );
        let key = KeyPair::from_pem(&pki.service_account_key).expect("parsable key");
        assert_eq!(key.public_key_pem(), pki.service_account_public_key);
    }
}
