//! Gateway validation: each listener's protocol, conflicts with the other
//! listeners on its port, certificates and route kinds, and from those and
//! the address the Gateway's own `Accepted`/`Programmed`. Pure.

use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
    sync::Arc,
};

use gateway_api::gateways::{Gateway, GatewayListeners};
use gateway_api::referencegrants::ReferenceGrant;
use k8s_openapi::api::core::v1::Secret;
use rustls::sign::CertifiedKey;

use fedway_runtime::certificates::{self, CertificateError};

use super::{
    ObjectKey,
    addresses::Assignment,
    conditions::Cond,
    refs::{self, GATEWAY, GATEWAY_GROUP, SECRET},
};

/// Route kinds a listener of this implementation can hold (HTTP and HTTPS
/// listeners both serve gRPC: h2c or HTTP/2 over TLS).
pub const SUPPORTED_KINDS: &[(&str, &str)] =
    &[(GATEWAY_GROUP, "HTTPRoute"), (GATEWAY_GROUP, "GRPCRoute")];

/// Secrets by namespace and name.
pub type Secrets = HashMap<(String, String), Arc<Secret>>;

/// One listener as validated.
#[derive(Debug, Clone)]
pub struct ListenerVerdict {
    pub name: String,
    pub port: u16,
    pub protocol: String,
    pub hostname: Option<String>,
    /// (group, kind) of the route kinds it accepts and supports.
    pub supported_kinds: Vec<(String, String)>,
    /// `Accepted=False` with this reason and message.
    pub rejected: Option<(&'static str, String)>,
    /// `Conflicted=True` with this reason.
    pub conflicted: Option<&'static str>,
    /// `ResolvedRefs=False` with this reason and message.
    pub unresolved: Option<(&'static str, String)>,
    /// The certificate of an HTTPS listener whose references resolved.
    pub certificate: Option<Arc<CertifiedKey>>,
    /// The spec, for attachment (allowedRoutes).
    pub spec: GatewayListeners,
}

impl ListenerVerdict {
    /// Whether routes may attach: accepted, not conflicted.
    pub fn accepted(&self) -> bool {
        self.rejected.is_none() && self.conflicted.is_none()
    }

    /// Whether the data plane serves it. Unresolved route kinds alone do
    /// not stop a listener that still supports some kind.
    pub fn serves(&self) -> bool {
        self.accepted()
            && !self.supported_kinds.is_empty()
            && (self.protocol != "HTTPS" || self.certificate.is_some())
    }

    pub fn conditions(&self, address: Option<IpAddr>) -> Vec<Cond> {
        let accepted = match &self.rejected {
            Some((reason, message)) => Cond::new("Accepted", false, reason, message.clone()),
            None => match self.conflicted {
                Some(reason) => Cond::new(
                    "Accepted",
                    false,
                    reason,
                    "conflicts with another listener on its port",
                ),
                None => Cond::new("Accepted", true, "Accepted", "listener accepted"),
            },
        };
        let conflicted = match self.conflicted {
            Some(reason) => Cond::new(
                "Conflicted",
                true,
                reason,
                match reason {
                    "ProtocolConflict" => "listeners on this port use different protocols",
                    _ => "another listener on this port has the same hostname",
                },
            ),
            None => Cond::new("Conflicted", false, "NoConflicts", "no conflicts"),
        };
        let resolved = match &self.unresolved {
            Some((reason, message)) => Cond::new("ResolvedRefs", false, reason, message.clone()),
            None => Cond::new("ResolvedRefs", true, "ResolvedRefs", "references resolved"),
        };
        let programmed = match (self.serves(), address) {
            (true, Some(ip)) => Cond::new(
                "Programmed",
                true,
                "Programmed",
                format!("serving on {}", std::net::SocketAddr::new(ip, self.port)),
            ),
            (true, None) => Cond::new("Programmed", false, "Pending", "the Gateway has no address"),
            (false, _) => Cond::new("Programmed", false, "Invalid", "listener is not valid"),
        };
        vec![accepted, conflicted, resolved, programmed]
    }
}

/// A validated Gateway.
#[derive(Debug, Clone)]
pub struct GatewayVerdict {
    pub key: ObjectKey,
    pub generation: Option<i64>,
    pub address: Assignment,
    pub listeners: Vec<ListenerVerdict>,
}

impl GatewayVerdict {
    pub fn ip(&self) -> Option<IpAddr> {
        match self.address {
            Assignment::Assigned(ip) => Some(ip),
            _ => None,
        }
    }

    pub fn accepted(&self) -> bool {
        !matches!(self.address, Assignment::Unsupported(_))
            && (self.listeners.is_empty() || self.listeners.iter().any(ListenerVerdict::accepted))
    }

    pub fn conditions(&self) -> Vec<Cond> {
        let invalid: Vec<&str> = self
            .listeners
            .iter()
            .filter(|l| !l.accepted())
            .map(|l| l.name.as_str())
            .collect();
        let accepted = if let Assignment::Unsupported(message) = &self.address {
            Cond::new("Accepted", false, "UnsupportedAddress", message.clone())
        } else if !self.accepted() {
            Cond::new(
                "Accepted",
                false,
                "ListenersNotValid",
                "no listener is valid",
            )
        } else if !invalid.is_empty() {
            Cond::new(
                "Accepted",
                true,
                "ListenersNotValid",
                format!("listeners not valid: {}", invalid.join(", ")),
            )
        } else {
            Cond::new("Accepted", true, "Accepted", "Gateway accepted")
        };
        let programmed = match (&self.address, self.accepted()) {
            (_, false) => Cond::new(
                "Programmed",
                false,
                "Invalid",
                "the Gateway is not accepted",
            ),
            (Assignment::NotUsable(m), _) => {
                Cond::new("Programmed", false, "AddressNotUsable", m.clone())
            }
            (Assignment::NotAssigned(m), _) => {
                Cond::new("Programmed", false, "AddressNotAssigned", m.clone())
            }
            (Assignment::Assigned(ip), true) => {
                Cond::new("Programmed", true, "Programmed", format!("serving on {ip}"))
            }
            (Assignment::Unsupported(m), true) => {
                Cond::new("Programmed", false, "Invalid", m.clone())
            }
        };
        vec![accepted, programmed]
    }
}

/// Validates `gateway`'s listeners.
pub fn validate(
    gateway: &Gateway,
    address: Assignment,
    secrets: &Secrets,
    grants: &[ReferenceGrant],
) -> GatewayVerdict {
    let namespace = gateway.metadata.namespace.clone().unwrap_or_default();
    let conflicts = conflicts(&gateway.spec.listeners);
    let listeners = gateway
        .spec
        .listeners
        .iter()
        .map(|l| {
            let (supported_kinds, bad_kinds) = kinds(l);
            let mut verdict = ListenerVerdict {
                name: l.name.clone(),
                port: u16::try_from(l.port).unwrap_or(0),
                protocol: l.protocol.clone(),
                hostname: l.hostname.clone().filter(|h| !h.is_empty()),
                supported_kinds,
                rejected: None,
                conflicted: conflicts.get(l.name.as_str()).copied(),
                unresolved: None,
                certificate: None,
                spec: l.clone(),
            };
            if !matches!(l.protocol.as_str(), "HTTP" | "HTTPS") {
                // No route kind can attach to a protocol this proxy does not
                // speak; the spec expects the list empty then.
                verdict.supported_kinds.clear();
                verdict.rejected = Some((
                    "UnsupportedProtocol",
                    format!(
                        "protocol {} is not supported (HTTP and HTTPS are)",
                        l.protocol
                    ),
                ));
            } else if verdict.port == 0 {
                verdict.rejected =
                    Some(("PortUnavailable", format!("port {} is not valid", l.port)));
            }
            if !bad_kinds.is_empty() {
                verdict.unresolved = Some((
                    "InvalidRouteKinds",
                    format!("route kinds not supported: {}", bad_kinds.join(", ")),
                ));
            }
            if l.protocol == "HTTPS" {
                match certificate(l, &namespace, secrets, grants) {
                    Ok(cert) => verdict.certificate = Some(cert),
                    // A bad certificate outranks a bad kind: it stops the listener.
                    Err(unresolved) => verdict.unresolved = Some(unresolved),
                }
            }
            verdict
        })
        .collect();
    GatewayVerdict {
        key: ObjectKey::of(&gateway.metadata),
        generation: gateway.metadata.generation,
        address,
        listeners,
    }
}

/// Listeners in conflict, by name. Listeners on one port must share a
/// protocol, and (per protocol) have distinct hostnames.
fn conflicts(listeners: &[GatewayListeners]) -> BTreeMap<&str, &'static str> {
    let mut by_port: BTreeMap<i32, Vec<&GatewayListeners>> = BTreeMap::new();
    for l in listeners {
        by_port.entry(l.port).or_default().push(l);
    }
    let mut out = BTreeMap::new();
    for group in by_port.values() {
        if group.iter().any(|l| l.protocol != group[0].protocol) {
            out.extend(group.iter().map(|l| (l.name.as_str(), "ProtocolConflict")));
            continue;
        }
        let host =
            |l: &GatewayListeners| l.hostname.clone().unwrap_or_default().to_ascii_lowercase();
        for l in group {
            if group.iter().filter(|o| host(o) == host(l)).count() > 1 {
                out.insert(l.name.as_str(), "HostnameConflict");
            }
        }
    }
    out
}

/// The supported route kinds a listener allows, and the names of the
/// unsupported ones it asks for.
fn kinds(l: &GatewayListeners) -> (Vec<(String, String)>, Vec<String>) {
    let asked = l.allowed_routes.as_ref().and_then(|a| a.kinds.as_ref());
    let Some(asked) = asked.filter(|k| !k.is_empty()) else {
        return (
            SUPPORTED_KINDS
                .iter()
                .map(|(g, k)| ((*g).to_owned(), (*k).to_owned()))
                .collect(),
            Vec::new(),
        );
    };
    let mut supported = Vec::new();
    let mut bad = Vec::new();
    for k in asked {
        let group = k.group.as_deref().unwrap_or(GATEWAY_GROUP);
        if SUPPORTED_KINDS.contains(&(group, k.kind.as_str())) {
            supported.push((group.to_owned(), k.kind.clone()));
        } else {
            bad.push(format!("{group}/{}", k.kind));
        }
    }
    (supported, bad)
}

/// The certificate of an HTTPS listener: every reference must resolve, the
/// first one is served.
fn certificate(
    l: &GatewayListeners,
    namespace: &str,
    secrets: &Secrets,
    grants: &[ReferenceGrant],
) -> Result<Arc<CertifiedKey>, (&'static str, String)> {
    let refs_ = l
        .tls
        .as_ref()
        .and_then(|t| t.certificate_refs.as_deref())
        .unwrap_or_default();
    let mut first = None;
    for r in refs_ {
        let group = r.group.as_deref().unwrap_or("");
        let kind = r.kind.as_deref().unwrap_or("Secret");
        let target = r.namespace.as_deref().unwrap_or(namespace);
        let name = format!("{target}/{}", r.name);
        if !group.is_empty() || kind != "Secret" {
            return Err((
                "InvalidCertificateRef",
                format!("certificateRef {group}/{kind} {name}: only core Secrets are supported"),
            ));
        }
        if !refs::permitted(
            refs::grant_views(grants),
            GATEWAY,
            namespace,
            SECRET,
            target,
            &r.name,
        ) {
            return Err((
                "RefNotPermitted",
                format!(
                    "Secret {name}: no ReferenceGrant in {target} allows Gateways from {namespace}"
                ),
            ));
        }
        let secret = secrets
            .get(&(target.to_owned(), r.name.clone()))
            .ok_or_else(|| {
                (
                    "InvalidCertificateRef",
                    format!("Secret {name} does not exist or is not of type kubernetes.io/tls"),
                )
            })?;
        let cert = certificates::certified_key(secret)
            .map_err(|e: CertificateError| ("InvalidCertificateRef", e.to_string()))?;
        first.get_or_insert(cert);
    }
    first.ok_or_else(|| {
        (
            "InvalidCertificateRef",
            "an HTTPS listener needs tls.certificateRefs".to_owned(),
        )
    })
}

#[cfg(test)]
mod tests;
