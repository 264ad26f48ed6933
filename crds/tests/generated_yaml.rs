//! The CRD YAML committed under `crds/yaml/` is what the Rust types
//! generate. Regenerate with:
//!
//!     cargo run -p fedway-hub -- crds --output-dir crds/yaml

use std::{collections::BTreeMap, path::Path};

#[test]
fn committed_crd_yaml_matches_the_rust_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("yaml");
    let generated: BTreeMap<String, String> = fedway_crds::render::crd_files()
        .expect("rendering CRDs")
        .into_iter()
        .collect();
    let committed: BTreeMap<String, String> = std::fs::read_dir(&dir)
        .expect("crds/yaml exists")
        .map(|entry| {
            let path = entry.expect("directory entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("file name")
                .to_owned();
            (name, std::fs::read_to_string(&path).expect("readable file"))
        })
        .collect();
    let fix = "regenerate with: cargo run -p fedway-hub -- crds --output-dir crds/yaml";
    assert_eq!(
        generated.keys().collect::<Vec<_>>(),
        committed.keys().collect::<Vec<_>>(),
        "the set of CRD files differs; {fix}"
    );
    for (name, yaml) in &generated {
        assert!(committed[name] == *yaml, "crds/yaml/{name} is stale; {fix}");
    }
}

#[test]
fn every_kind_has_status_printer_columns_and_its_group() {
    for crd in fedway_crds::render::crds() {
        let name = crd.metadata.name.clone().unwrap_or_default();
        assert!(name.ends_with(".fedway.dev"), "{name}");
        assert_eq!(crd.spec.versions.len(), 1, "{name}");
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, fedway_crds::VERSION);
        let columns = version
            .additional_printer_columns
            .as_deref()
            .unwrap_or_default();
        assert!(
            columns.iter().any(|c| c.name == "Age"),
            "{name} has an Age column"
        );
        assert!(
            columns.len() >= 3,
            "{name} shows more than its name and age"
        );
        assert!(
            crd.spec
                .names
                .categories
                .as_deref()
                .unwrap_or_default()
                .contains(&"fedway".to_owned())
        );
    }
}
