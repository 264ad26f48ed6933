//! Kubeconfig files for the harness's clusters.

use std::path::Path;

use serde_json::json;

use crate::{Error, Result};

/// How a kubeconfig authenticates.
pub enum Credential<'a> {
    /// A client certificate and key, as files.
    ClientCertificate { cert: &'a Path, key: &'a Path },
    /// A bearer token (for instance from TokenRequest).
    Token(&'a str),
}

/// Writes a kubeconfig for `server` (verified against the CA in `ca`) that
/// authenticates as `credential`, with one context named `name`.
pub fn write(
    path: &Path,
    name: &str,
    server: &str,
    ca: &Path,
    credential: Credential<'_>,
) -> Result<()> {
    let user = match credential {
        Credential::ClientCertificate { cert, key } => json!({
            "client-certificate": cert,
            "client-key": key,
        }),
        Credential::Token(token) => json!({ "token": token }),
    };
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": name, "cluster": { "server": server, "certificate-authority": ca } }],
        "users": [{ "name": name, "user": user }],
        "contexts": [{ "name": name, "context": { "cluster": name, "user": name } }],
        "current-context": name,
    });
    let yaml = serde_saphyr::to_string(&config).map_err(|e| Error::Manifest {
        origin: path.display().to_string(),
        message: e.to_string(),
    })?;
    std::fs::write(path, yaml).map_err(crate::io_error(format!("writing {}", path.display())))
}
