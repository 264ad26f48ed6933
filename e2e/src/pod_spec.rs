//! Checks of a workload's pod template that a dry run cannot make: the API
//! server accepts a pod whose non-root container cannot read its own
//! Secret, and the pod then fails at run time. Pure functions over the
//! manifest's JSON.

use serde_json::Value;

/// Every Secret volume a container mounts that its user cannot read, as
/// `container: volume (why)`. kubelet writes a Secret's files owned by root
/// with `defaultMode`, and, when the pod sets `fsGroup`, owned by that
/// group: a non-root user reads them only through the "other" bits, or the
/// group bits with `fsGroup` set (its supplementary group).
pub fn unreadable_secret_mounts(pod_spec: &Value) -> Vec<String> {
    let pod_security = &pod_spec["securityContext"];
    let fs_group = pod_security["fsGroup"].as_i64();
    let secrets: Vec<(&str, i64)> = pod_spec["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|volume| {
            let secret = volume.get("secret")?;
            // kubelet's default, 0644.
            let mode = secret["defaultMode"].as_i64().unwrap_or(0o644);
            Some((volume["name"].as_str()?, mode))
        })
        .collect();
    let mut unreadable = Vec::new();
    for container in pod_spec["containers"].as_array().into_iter().flatten() {
        let name = container["name"].as_str().unwrap_or("?");
        let user = container["securityContext"]["runAsUser"]
            .as_i64()
            .or_else(|| pod_security["runAsUser"].as_i64());
        // An unset user is the image's (Fedway's run as 65532): not root.
        if user == Some(0) {
            continue;
        }
        for mount in container["volumeMounts"].as_array().into_iter().flatten() {
            let Some(&(volume, mode)) = secrets
                .iter()
                .find(|(volume, _)| Some(*volume) == mount["name"].as_str())
            else {
                continue;
            };
            let readable = mode & 0o004 != 0 || (fs_group.is_some() && mode & 0o040 != 0);
            if !readable {
                let why = match fs_group {
                    None => format!("mode {mode:04o} and no fsGroup"),
                    Some(group) => format!("mode {mode:04o}, group {group} cannot read"),
                };
                unreadable.push(format!("{name}: {volume} ({why})"));
            }
        }
    }
    unreadable
}

/// The file capabilities each image's binary carries (`setcap` in
/// `dockerfile`, e.g. `setcap cap_net_bind_service=+ep`), as Kubernetes
/// names them (`NET_BIND_SERVICE`).
pub fn file_capabilities(dockerfile: &str) -> Vec<String> {
    dockerfile
        .split_whitespace()
        .skip_while(|word| *word != "setcap")
        .nth(1)
        .into_iter()
        .flat_map(|caps| {
            caps.split(['=', '+', '-'])
                .next()
                .unwrap_or_default()
                .split(',')
        })
        .filter_map(|cap| Some(cap.strip_prefix("cap_")?.to_ascii_uppercase()))
        .collect()
}

/// Containers of `image_prefix` whose capability bounding set lacks one of
/// `file_caps`: the kernel refuses to exec a binary whose file capabilities
/// the bounding set cannot grant ("exec ...: operation not permitted"), a
/// pod that a dry run accepts and that never starts.
pub fn unexecutable_containers(
    pod_spec: &Value,
    image_prefix: &str,
    file_caps: &[String],
) -> Vec<String> {
    let mut out = Vec::new();
    for container in pod_spec["containers"].as_array().into_iter().flatten() {
        let image = container["image"].as_str().unwrap_or_default();
        if !image.starts_with(image_prefix) {
            continue;
        }
        let caps = &container["securityContext"]["capabilities"];
        let listed = |set: &str, cap: &str| {
            caps[set].as_array().into_iter().flatten().any(|c| {
                c.as_str()
                    .is_some_and(|c| c == cap || c == "ALL" || c.strip_prefix("CAP_") == Some(cap))
            })
        };
        for cap in file_caps {
            if listed("drop", cap) && !listed("add", cap) {
                out.push(format!(
                    "{}: drops {cap}, which {image}'s binary carries as a file capability",
                    container["name"].as_str().unwrap_or("?")
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{file_capabilities, unexecutable_containers, unreadable_secret_mounts};

    #[test]
    fn file_capabilities_from_setcap() {
        for (dockerfile, want) in [
            (
                "RUN cp a b && setcap cap_net_bind_service=+ep /out/fedway-proxy",
                vec!["NET_BIND_SERVICE"],
            ),
            (
                "RUN setcap cap_net_bind_service,cap_net_raw+ep /x",
                vec!["NET_BIND_SERVICE", "NET_RAW"],
            ),
            ("RUN cargo build", vec![]),
        ] {
            assert_eq!(file_capabilities(dockerfile), want, "{dockerfile}");
        }
    }

    #[test]
    fn a_dropped_file_capability_makes_the_container_unexecutable() {
        let caps = vec!["NET_BIND_SERVICE".to_owned()];
        let pod = |capabilities: serde_json::Value| {
            json!({"containers": [{"name": "proxy", "image": "ghcr.io/fedway/fedway-proxy:1",
                                   "securityContext": {"capabilities": capabilities}}]})
        };
        // (capabilities, refused)
        for (capabilities, refused) in [
            (json!({"drop": ["ALL"]}), true),
            (json!({"drop": ["NET_BIND_SERVICE"]}), true),
            (json!({"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}), false),
            (
                json!({"drop": ["ALL"], "add": ["CAP_NET_BIND_SERVICE"]}),
                false,
            ),
            (json!({"drop": ["NET_RAW"]}), false),
            (json!({}), false),
        ] {
            let found = unexecutable_containers(
                &pod(capabilities.clone()),
                "ghcr.io/fedway/fedway-proxy",
                &caps,
            );
            assert_eq!(!found.is_empty(), refused, "{capabilities}: {found:?}");
        }
        // Other images are not this binary.
        assert!(
            unexecutable_containers(
                &pod(json!({"drop": ["ALL"]})),
                "ghcr.io/fedway/fedway-dns",
                &caps
            )
            .is_empty()
        );
    }

    fn pod(
        security: serde_json::Value,
        mode: Option<i64>,
        container_user: Option<i64>,
    ) -> serde_json::Value {
        let mut secret = json!({"secretName": "s"});
        if let Some(mode) = mode {
            secret["defaultMode"] = json!(mode);
        }
        let mut container =
            json!({"name": "c", "volumeMounts": [{"name": "creds", "mountPath": "/etc/c"}]});
        if let Some(user) = container_user {
            container["securityContext"] = json!({"runAsUser": user});
        }
        json!({"securityContext": security, "containers": [container],
               "volumes": [{"name": "creds", "secret": secret}, {"name": "scratch", "emptyDir": {}}]})
    }

    #[test]
    fn secret_readability_by_mode_user_and_fs_group() {
        let nonroot = json!({"runAsUser": 65532});
        let with_group = json!({"runAsUser": 65532, "fsGroup": 65532});
        let cases = [
            // The agent as first shipped: root-owned 0400, no fsGroup.
            (
                "0400 no fsGroup",
                pod(nonroot.clone(), Some(0o400), None),
                1,
            ),
            (
                "0400 with fsGroup",
                pod(with_group.clone(), Some(0o400), None),
                1,
            ),
            (
                "0440 with fsGroup",
                pod(with_group.clone(), Some(0o440), None),
                0,
            ),
            (
                "0440 no fsGroup",
                pod(nonroot.clone(), Some(0o440), None),
                1,
            ),
            ("default 0644", pod(nonroot.clone(), None, None), 0),
            (
                "0400 as root",
                pod(json!({"runAsUser": 0}), Some(0o400), None),
                0,
            ),
            (
                "container user overrides pod root",
                pod(json!({"runAsUser": 0}), Some(0o400), Some(1000)),
                1,
            ),
            (
                "container root overrides pod user",
                pod(nonroot, Some(0o400), Some(0)),
                0,
            ),
            ("image user (unset)", pod(json!({}), Some(0o400), None), 1),
        ];
        for (case, spec, expected) in cases {
            let found = unreadable_secret_mounts(&spec);
            assert_eq!(found.len(), expected, "{case}: {found:?}");
        }
    }

    #[test]
    fn names_container_volume_and_reason() {
        let found = unreadable_secret_mounts(&pod(json!({"runAsUser": 65532}), Some(0o400), None));
        assert_eq!(found, ["c: creds (mode 0400 and no fsGroup)"]);
    }
}
