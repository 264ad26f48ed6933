//! Copies of the hub Secrets a Gateway's listeners serve (and the client
//! certificate it presents to backends), in the hub
//! namespace of every member that runs the Gateway, where that member's
//! agent (and only it) may read them. The Work names them
//! ([`SecretCopy`]); their keys never sit in the Work. Written only when
//! they differ, so a restart writes nothing; removed with the Gateway or
//! when a member or a reference goes.

use std::collections::{BTreeMap, BTreeSet};

use fedway_crds::work::SecretCopy;
use k8s_openapi::api::core::v1::Secret;
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, Patch, PatchParams},
};
use serde_json::Value;

use crate::{
    Error, FIELD_MANAGER, api_error,
    gateways::GATEWAY_UID_LABEL,
    listener_certificates::{self, SecretKey, Unresolved},
};

/// A Gateway's certificates as the hub has them.
#[derive(Debug, Default)]
pub struct Certificates {
    /// Secrets every listener reference resolved to and that can serve.
    pub usable: BTreeMap<SecretKey, Secret>,
    /// Listeners with a reference that cannot be followed or a Secret that
    /// is missing or unusable, with why.
    pub unresolved: Vec<(String, Unresolved)>,
    /// Why the Gateway's backend client certificate cannot be used, if it
    /// names one that cannot (the Gateway's own `ResolvedRefs`).
    pub backend_client: Option<Unresolved>,
    /// Secrets that exist but cannot serve (a botched renewal, say): the
    /// copies members already have are kept as they are, never replaced by
    /// what cannot serve nor removed, until the Secret is fixed or no
    /// listener names it.
    pub held: BTreeSet<SecretKey>,
}

impl Certificates {
    /// The certificates of several listener owners (a Gateway and its
    /// ListenerSets), copied as one set.
    pub fn union(all: &[Certificates]) -> Certificates {
        let mut union = Certificates::default();
        for certificates in all {
            union.usable.extend(
                certificates
                    .usable
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
            union
                .unresolved
                .extend(certificates.unresolved.iter().cloned());
            union.held.extend(certificates.held.iter().cloned());
            if union.backend_client.is_none() {
                union.backend_client = certificates.backend_client.clone();
            }
        }
        union
    }

    /// Records why a listener's (`Some`) or the backend client's (`None`)
    /// certificate cannot be used.
    fn unresolved_by(&mut self, listener: Option<String>, unresolved: Unresolved) {
        match listener {
            Some(listener) => self.unresolved.push((listener, unresolved)),
            None => self.backend_client = Some(unresolved),
        }
    }
}

/// Reads the Secrets a Gateway's (or a ListenerSet's) listeners reference,
/// and a Gateway's backend client certificate (only those, each once:
/// references sharing one see the same version of it). With `from_hub`
/// false (the members keep their own certificates) no Secret is read: only
/// references that cannot be followed are reported.
pub async fn read(
    client: &Client,
    owner: &Value,
    grants: &[Value],
    from_hub: bool,
) -> Result<Certificates, Error> {
    let mut certificates = Certificates::default();
    let mut seen: BTreeMap<SecretKey, Option<Secret>> = BTreeMap::new();
    let listeners = listener_certificates::referenced(owner, grants)
        .into_iter()
        .map(|l| (Some(l.listener), l.secrets));
    let backend = listener_certificates::client_certificate(owner, grants)
        .map(|secret| (None, secret.map(|key| vec![key])));
    for (listener, secrets) in listeners.chain(backend) {
        let invalid = if listener.is_some() {
            listener_certificates::INVALID_CERTIFICATE
        } else {
            listener_certificates::INVALID_CLIENT_CERTIFICATE
        };
        let keys = match secrets {
            Ok(keys) => keys,
            Err(unresolved) => {
                certificates.unresolved_by(listener.clone(), unresolved);
                continue;
            }
        };
        if !from_hub {
            continue;
        }
        for key in keys {
            let secret = match seen.get(&key) {
                Some(secret) => secret.clone(),
                None => {
                    let secret = Api::<Secret>::namespaced(client.clone(), &key.namespace)
                        .get_opt(&key.name)
                        .await
                        .map_err(api_error("reading", format!("Secret {key}")))?;
                    seen.insert(key.clone(), secret.clone());
                    secret
                }
            };
            match (
                listener_certificates::usable(&key, secret.as_ref(), invalid),
                secret,
            ) {
                (Ok(()), Some(secret)) => {
                    certificates.usable.insert(key, secret);
                }
                (Ok(()), None) => {}
                (Err(mut unresolved), secret) => {
                    if secret.is_some() {
                        unresolved
                            .message
                            .push_str("; members keep any copy they have");
                        certificates.held.insert(key);
                    }
                    certificates.unresolved_by(listener.clone(), unresolved);
                }
            }
        }
    }
    Ok(certificates)
}

/// Makes the Gateway's copies `certificates.usable` (and the `held` ones
/// already there) in each of `namespaces` (members' hub namespaces), and
/// none elsewhere. Returns what each of those members' Work names, by
/// namespace.
pub async fn sync(
    client: &Client,
    gateway_uid: &str,
    gateway: &str,
    certificates: &Certificates,
    namespaces: &[String],
) -> Result<BTreeMap<String, Vec<SecretCopy>>, Error> {
    let existing = copies_of(client, gateway_uid).await?;
    let mut wanted = BTreeSet::new();
    let mut named: BTreeMap<String, Vec<SecretCopy>> = BTreeMap::new();
    let reference = |source: &SecretKey| SecretCopy {
        from: listener_certificates::copy_name(gateway_uid, source),
        namespace: source.namespace.clone(),
        name: source.name.clone(),
    };
    for namespace in namespaces {
        let names = named.entry(namespace.clone()).or_default();
        for source in &certificates.held {
            let name = listener_certificates::copy_name(gateway_uid, source);
            if existing
                .iter()
                .any(|s| s.namespace().as_deref() == Some(namespace) && s.name_any() == name)
            {
                names.push(reference(source));
                wanted.insert((namespace.clone(), name));
            }
        }
        for (source, secret) in &certificates.usable {
            let copy = listener_certificates::copy(secret, source, gateway_uid, gateway, namespace);
            let name = listener_certificates::copy_name(gateway_uid, source);
            let current = existing
                .iter()
                .find(|s| s.namespace().as_deref() == Some(namespace) && s.name_any() == name);
            if !current.is_some_and(|c| listener_certificates::copy_up_to_date(c, &copy)) {
                Api::<Secret>::namespaced(client.clone(), namespace)
                    .patch(
                        &name,
                        &PatchParams::apply(FIELD_MANAGER).force(),
                        &Patch::Apply(&copy),
                    )
                    .await
                    .map_err(api_error("writing", format!("Secret {namespace}/{name}")))?;
            }
            names.push(reference(source));
            wanted.insert((namespace.clone(), name));
        }
        names.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    }
    for stale in existing
        .iter()
        .filter(|s| !wanted.contains(&(s.namespace().unwrap_or_default(), s.name_any())))
    {
        delete(client, stale).await?;
    }
    Ok(named)
}

/// Removes every copy of the Gateway's certificates (it is being deleted).
pub async fn remove_all(client: &Client, gateway_uid: &str) -> Result<(), Error> {
    for copy in copies_of(client, gateway_uid).await? {
        delete(client, &copy).await?;
    }
    Ok(())
}

async fn copies_of(client: &Client, gateway_uid: &str) -> Result<Vec<Secret>, Error> {
    Ok(Api::<Secret>::all(client.clone())
        .list(&ListParams::default().labels(&format!("{GATEWAY_UID_LABEL}={gateway_uid}")))
        .await
        .map_err(api_error("listing", "certificate copies"))?
        .items)
}

async fn delete(client: &Client, copy: &Secret) -> Result<(), Error> {
    let namespace = copy.namespace().unwrap_or_default();
    let name = copy.name_any();
    match Api::<Secret>::namespaced(client.clone(), &namespace)
        .delete(&name, &DeleteParams::default())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(api_error("deleting", format!("Secret {namespace}/{name}"))(
            e,
        )),
    }
}
