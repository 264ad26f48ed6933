//! The kubeconfig `join` hands to a member's agent: the hub's address and
//! CA, and the agent's token. Nothing else of the hub's credentials.

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::json;

/// Renders the kubeconfig. `ca_der` are the hub's CA certificates (DER);
/// none means the system roots.
pub fn render(
    member: &str,
    server: &str,
    ca_der: &[Vec<u8>],
    token: &str,
) -> Result<String, serde_saphyr::ser::Error> {
    let context = format!("fedway-hub-{member}");
    let mut cluster = json!({ "server": server });
    if !ca_der.is_empty() {
        let pem: String = ca_der.iter().map(|der| pem_certificate(der)).collect();
        cluster["certificate-authority-data"] = STANDARD.encode(pem).into();
    }
    serde_saphyr::to_string(&json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": context, "cluster": cluster }],
        "users": [{ "name": context, "user": { "token": token } }],
        "contexts": [{ "name": context, "context": { "cluster": context, "user": context } }],
        "current-context": context,
    }))
}

fn pem_certificate(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_carries_server_ca_and_token_only() {
        let yaml =
            render("eu-1", "https://127.20.1.1:6443", &[vec![1, 2, 3]], "t0ken").expect("render");
        let parsed: serde_json::Value = serde_saphyr::from_str(&yaml).expect("YAML");
        assert_eq!(parsed["current-context"], "fedway-hub-eu-1");
        assert_eq!(
            parsed["clusters"][0]["cluster"]["server"],
            "https://127.20.1.1:6443"
        );
        assert_eq!(parsed["users"][0]["user"], json!({"token": "t0ken"}));
        let ca = STANDARD
            .decode(
                parsed["clusters"][0]["cluster"]["certificate-authority-data"]
                    .as_str()
                    .expect("CA"),
            )
            .expect("base64");
        assert_eq!(
            String::from_utf8(ca).expect("PEM"),
            "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n"
        );
    }
}
