//! Server-side apply of YAML manifests of any kind, and waiting for CRDs to
//! be served. Used to install the upstream Gateway API CRDs, Fedway's CRDs
//! and test objects.

use std::{path::Path, time::Duration};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Api, Client,
    api::{DynamicObject, Patch, PatchParams},
    core::GroupVersionKind,
    discovery::Scope,
};
use serde_json::Value;

use crate::{Error, Result, wait};

/// The field manager the harness applies with.
pub const FIELD_MANAGER: &str = "fedway-e2e";

/// The API server's own message for an API error, without the Debug dump
/// of the whole Status.
pub fn kube_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => format!("{} ({})", status.message, status.code),
        other => other.to_string(),
    }
}

/// Parses a multi-document YAML string into objects, skipping empty
/// documents. Numbers with a leading 0 are octal (`defaultMode: 0440`), as
/// kubectl's YAML 1.1 reads them; YAML 1.2 would make 0440 the decimal 440.
pub fn parse_yaml(yaml: &str, origin: &str) -> Result<Vec<Value>> {
    let options = serde_saphyr::options! { legacy_octal_numbers: true };
    let docs: Vec<Value> =
        serde_saphyr::from_multiple_with_options(yaml, options).map_err(|e| Error::Manifest {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// Applies every object in the YAML files, in order.
pub async fn apply_files(
    client: &Client,
    files: &[impl AsRef<Path>],
) -> Result<Vec<DynamicObject>> {
    let mut applied = Vec::new();
    for file in files {
        let file = file.as_ref();
        let text = std::fs::read_to_string(file)
            .map_err(crate::io_error(format!("reading {}", file.display())))?;
        for object in parse_yaml(&text, &file.display().to_string())? {
            applied.push(apply(client, object, &file.display().to_string()).await?);
        }
    }
    Ok(applied)
}

/// Applies one object with server-side apply (forcing ownership, as an
/// installer does). Namespaced objects without a namespace go to `default`.
pub async fn apply(client: &Client, object: Value, origin: &str) -> Result<DynamicObject> {
    let manifest_error = |message: String| Error::Manifest {
        origin: origin.to_owned(),
        message,
    };
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if api_version.is_empty() || kind.is_empty() || name.is_empty() {
        return Err(manifest_error(
            "object lacks apiVersion, kind or metadata.name".into(),
        ));
    }
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (resource, capabilities) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .map_err(|e| manifest_error(format!("{api_version} {kind} is not served: {e}")))?;
    let api: Api<DynamicObject> = match capabilities.scope {
        Scope::Namespaced => {
            let namespace = object["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default");
            Api::namespaced_with(client.clone(), namespace, &resource)
        }
        Scope::Cluster => Api::all_with(client.clone(), &resource),
    };
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&object),
    )
    .await
    .map_err(|e| manifest_error(format!("applying {kind} {name}: {}", kube_message(&e))))
}

/// Applies CRDs and waits until the API server serves every one of them.
pub async fn install_crds(client: &Client, crds: &[CustomResourceDefinition]) -> Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crds {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(crd),
        )
        .await
        .map_err(|e| Error::Manifest {
            origin: format!("CRD {name}"),
            message: kube_message(&e),
        })?;
    }
    let names: Vec<String> = crds
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    wait_established(client, &names).await
}

/// Waits until every named CRD has condition Established=True.
pub async fn wait_established(client: &Client, names: &[String]) -> Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for name in names {
        wait::until(
            &format!("CRD {name} to be established"),
            Duration::from_secs(30),
            Duration::from_millis(100),
            || async {
                let crd = api.get(name).await.map_err(|e| Error::Manifest {
                    origin: format!("CRD {name}"),
                    message: e.to_string(),
                })?;
                let established = crd
                    .status
                    .and_then(|s| s.conditions)
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True");
                Ok(established.then_some(()))
            },
        )
        .await?;
    }
    Ok(())
}

/// Reads CRD objects from YAML files, ignoring other kinds (the upstream
/// standard channel also ships a ValidatingAdmissionPolicy).
pub fn read_crds(files: &[impl AsRef<Path>]) -> Result<Vec<CustomResourceDefinition>> {
    let mut crds = Vec::new();
    for file in files {
        let file = file.as_ref();
        let origin = file.display().to_string();
        let text =
            std::fs::read_to_string(file).map_err(crate::io_error(format!("reading {origin}")))?;
        for doc in parse_yaml(&text, &origin)? {
            if doc["kind"] == "CustomResourceDefinition" {
                crds.push(serde_json::from_value(doc).map_err(|e| Error::Manifest {
                    origin: origin.clone(),
                    message: e.to_string(),
                })?);
            }
        }
    }
    Ok(crds)
}

#[cfg(test)]
mod tests {
    #[test]
    fn leading_zero_numbers_are_octal_as_kubectl_reads_them() {
        let docs = super::parse_yaml("mode: 0440\nplain: 440\n", "test").expect("parses");
        assert_eq!(docs[0]["mode"], 0o440);
        assert_eq!(docs[0]["plain"], 440);
    }
}
