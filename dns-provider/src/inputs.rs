//! What a DNS server answers from: the DNSZones and DNSRecords it was given,
//! whether they came from an API server or a file, and the SOA serial it
//! has handed out per zone.
//!
//! The same type is the on-disk cache, so a restart while the API server is
//! down answers from the last good state.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use fedway_crds::{DNSRecordSpec, DNSZoneSpec};
use serde::{Deserialize, Serialize};

/// Zones and records, keyed by object name so the order they arrive in does
/// not change what is served (or the serial).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inputs {
    #[serde(default)]
    pub zones: BTreeMap<String, DNSZoneSpec>,
    #[serde(default)]
    pub records: BTreeMap<String, DNSRecordSpec>,
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: document {index}: {message}")]
    Document {
        path: PathBuf,
        index: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Yaml { path: PathBuf, message: String },
    #[error("writing cache {path}: {source}")]
    WriteCache {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cache {path} is unreadable ({message}); ignoring it")]
    Cache { path: PathBuf, message: String },
}

/// A DNSZone or DNSRecord object as found in a YAML file: the same shape
/// `kubectl get -o yaml` prints, so one file works for both uses.
#[derive(Deserialize)]
struct FileObject {
    kind: String,
    #[serde(default)]
    metadata: FileMetadata,
    spec: serde_json::Value,
}

#[derive(Default, Deserialize)]
struct FileMetadata {
    #[serde(default)]
    name: Option<String>,
}

impl Inputs {
    /// Parses a multi-document YAML file of DNSZone and DNSRecord objects.
    pub fn from_yaml(path: &Path, yaml: &str) -> Result<Self, InputError> {
        let documents: Vec<serde_json::Value> =
            serde_saphyr::from_multiple(yaml).map_err(|e| InputError::Yaml {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
        let mut inputs = Inputs::default();
        for (index, document) in documents.into_iter().enumerate() {
            if document.is_null() {
                continue;
            }
            let bad = |message: String| InputError::Document {
                path: path.to_owned(),
                index,
                message,
            };
            let object: FileObject =
                serde_json::from_value(document).map_err(|e| bad(e.to_string()))?;
            match object.kind.as_str() {
                "DNSZone" => {
                    let spec: DNSZoneSpec = serde_json::from_value(object.spec)
                        .map_err(|e| bad(format!("DNSZone spec: {e}")))?;
                    let name = object.metadata.name.unwrap_or_else(|| spec.zone.clone());
                    inputs.zones.insert(name, spec);
                }
                "DNSRecord" => {
                    let spec: DNSRecordSpec = serde_json::from_value(object.spec)
                        .map_err(|e| bad(format!("DNSRecord spec: {e}")))?;
                    let name = object
                        .metadata
                        .name
                        .unwrap_or_else(|| fedway_crds::record_name(&spec.hostname));
                    inputs.records.insert(name, spec);
                }
                other => {
                    return Err(bad(format!(
                        "kind {other:?} is not served; expected DNSZone or DNSRecord"
                    )));
                }
            }
        }
        Ok(inputs)
    }

    pub fn read_file(path: &Path) -> Result<Self, InputError> {
        let yaml = std::fs::read_to_string(path).map_err(|source| InputError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_yaml(path, &yaml)
    }
}

/// The last good state on disk: inputs and the serials handed out, so
/// serials keep increasing across restarts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cached {
    pub inputs: Inputs,
    #[serde(default)]
    pub serials: BTreeMap<String, u32>,
}

impl Cached {
    /// Reads the cache; a missing file is an empty cache.
    pub fn load(path: &Path) -> Result<Option<Self>, InputError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(InputError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| InputError::Cache {
                path: path.to_owned(),
                message: e.to_string(),
            })
    }

    /// Writes the cache atomically (temporary file, then rename), so a crash
    /// mid-write leaves the previous state.
    pub fn store(&self, path: &Path) -> Result<(), InputError> {
        let failed = |source| InputError::WriteCache {
            path: path.to_owned(),
            source,
        };
        let json = serde_json::to_vec_pretty(self).map_err(|e| failed(e.into()))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(failed)?;
        }
        let temporary = path.with_extension("tmp");
        std::fs::write(&temporary, json).map_err(failed)?;
        std::fs::rename(&temporary, path).map_err(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
apiVersion: fedway.dev/v1alpha1
kind: DNSZone
metadata: {name: global}
spec:
  zone: global.example.com
  nameServers: [{name: ns1.global.example.com, addresses: [127.0.0.53]}]
---
apiVersion: fedway.dev/v1alpha1
kind: DNSRecord
spec:
  hostname: "*.shop.global.example.com"
  ttlSeconds: 5
  endpoints:
  - {clusterName: east, addresses: [192.0.2.1], hubHealthy: true}
"#;

    #[test]
    fn reads_zones_and_records_from_yaml() {
        let inputs = Inputs::from_yaml(Path::new("zones.yaml"), FILE).expect("valid file");
        assert_eq!(inputs.zones["global"].zone, "global.example.com");
        assert_eq!(inputs.zones["global"].soa.minimum, 30, "defaults applied");
        let record = &inputs.records["wildcard.shop.global.example.com"];
        assert_eq!(record.endpoints[0].weight, 1, "default weight");
    }

    #[test]
    fn rejects_other_kinds_and_bad_specs_by_document() {
        for (yaml, expected) in [
            ("kind: Gateway\nspec: {}\n", "document 0: kind \"Gateway\""),
            (
                "kind: DNSZone\nspec: {zone: 5}\n",
                "document 0: DNSZone spec",
            ),
            (
                "kind: DNSZone\nspec: {zone: a.b, nameServers: [{name: ns.a.b}]}\n---\nkind: DNSRecord\nspec: {}\n",
                "document 1: DNSRecord spec",
            ),
            ("zones: [", "f.yaml"),
        ] {
            let error = Inputs::from_yaml(Path::new("f.yaml"), yaml)
                .expect_err(yaml)
                .to_string();
            assert!(error.contains(expected), "{yaml}: {error}");
        }
    }

    #[test]
    fn cache_round_trips_and_missing_cache_is_empty() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sub/state.json");
        assert_eq!(Cached::load(&path).expect("missing is fine"), None);
        let cached = Cached {
            inputs: Inputs::from_yaml(Path::new("f"), FILE).expect("valid"),
            serials: [("global".to_owned(), 7)].into(),
        };
        cached.store(&path).expect("stored");
        assert_eq!(Cached::load(&path).expect("read"), Some(cached));
        std::fs::write(&path, "{not json").expect("write");
        assert!(Cached::load(&path).is_err());
    }
}
