//! Finds the control-plane binaries and the Gateway API module, building them
//! on first use with `e2e/scripts/control-plane.sh`.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use crate::{Error, Result};

/// Where the real control plane and upstream Gateway API files are.
#[derive(Clone, Debug)]
pub struct Toolchain {
    /// Kubernetes version of the binaries (`v1.35.4`).
    pub kubernetes_version: String,
    /// Directory with etcd, kube-apiserver, kube-controller-manager,
    /// kube-scheduler, kwok, echo-basic.
    pub bin_dir: PathBuf,
    /// The `sigs.k8s.io/gateway-api` module in the Go module cache.
    pub gateway_api_dir: PathBuf,
    /// The `sigs.k8s.io/kwok` module in the Go module cache.
    pub kwok_dir: PathBuf,
}

impl Toolchain {
    /// The toolchain for this process, located (or built) once.
    ///
    /// `FEDWAY_K8S_BIN`, `FEDWAY_GATEWAY_API_DIR` and `FEDWAY_KWOK_DIR`
    /// skip the script; this is how CI passes what it built in an earlier
    /// step.
    pub fn get() -> Result<&'static Toolchain> {
        static TOOLCHAIN: OnceLock<Result<Toolchain, String>> = OnceLock::new();
        TOOLCHAIN
            .get_or_init(|| Self::locate().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|message| Error::Toolchain(message.clone()))
    }

    fn locate() -> Result<Toolchain> {
        let from_env = (
            std::env::var_os("FEDWAY_K8S_BIN"),
            std::env::var_os("FEDWAY_GATEWAY_API_DIR"),
            std::env::var_os("FEDWAY_KWOK_DIR"),
        );
        let toolchain = if let (Some(bin), Some(gwapi), Some(kwok)) = from_env {
            Toolchain {
                kubernetes_version: std::env::var("FEDWAY_K8S_VERSION")
                    .unwrap_or_else(|_| "unknown".into()),
                bin_dir: bin.into(),
                gateway_api_dir: gwapi.into(),
                kwok_dir: kwok.into(),
            }
        } else {
            Self::from_script()?
        };
        for binary in [
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kwok",
        ] {
            let path = toolchain.binary(binary);
            if !path.is_file() {
                return Err(Error::Toolchain(format!("{} is missing", path.display())));
            }
        }
        Ok(toolchain)
    }

    fn from_script() -> Result<Toolchain> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/control-plane.sh");
        // stderr is inherited: a first build takes minutes and says so there.
        let output = Command::new(&script)
            .arg("--env")
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|e| Error::Toolchain(format!("running {}: {e}", script.display())))?;
        if !output.status.success() {
            return Err(Error::Toolchain(format!(
                "{} --env failed ({}); its errors are printed above",
                script.display(),
                output.status,
            )));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let value = |key: &str| {
            stdout
                .lines()
                .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
                .map(str::to_owned)
                .ok_or_else(|| {
                    Error::Toolchain(format!("{} --env printed no {key}", script.display()))
                })
        };
        Ok(Toolchain {
            kubernetes_version: value("FEDWAY_K8S_VERSION")?,
            bin_dir: value("FEDWAY_K8S_BIN")?.into(),
            gateway_api_dir: value("FEDWAY_GATEWAY_API_DIR")?.into(),
            kwok_dir: value("FEDWAY_KWOK_DIR")?.into(),
        })
    }

    /// Path of one of the binaries.
    pub fn binary(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    /// Gateway API's standard-channel CRD files, from the upstream module.
    pub fn gateway_api_standard_crds(&self) -> Result<Vec<PathBuf>> {
        yaml_files(&self.gateway_api_dir.join("config/crd/standard"))
    }

    /// kwok's upstream stages (the same set `kwokctl` uses by default):
    /// nodes become Ready and heartbeat with a Lease, pods become Running.
    pub fn kwok_stages(&self) -> Result<Vec<PathBuf>> {
        let stages = self.kwok_dir.join("kustomize/stage");
        let mut files = Vec::new();
        for dir in ["node/fast", "node/heartbeat-with-lease", "pod/fast"] {
            files.extend(yaml_files(&stages.join(dir))?);
        }
        Ok(files)
    }
}

/// The Traefik binary (a third-party Gateway API implementation), built
/// once by `e2e/scripts/traefik.sh` into its own cache directory; only the
/// delegation tests need it, so it is located apart from the control plane.
/// `FEDWAY_TRAEFIK` skips the script (how CI passes what an earlier step
/// built).
pub fn traefik() -> Result<&'static Path> {
    static TRAEFIK: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    cached(&TRAEFIK, || {
        built_by_script("FEDWAY_TRAEFIK", "scripts/traefik.sh", |out| out)
    })
}

/// helm, built once from its pinned Go module by `e2e/kind/tools.sh` (with
/// kind) into its own cache directory: the chart
/// tests render and install `charts/fedway` with it. `FEDWAY_KIND_TOOLS`
/// (that script's `--env` output) skips the script.
pub fn helm() -> Result<&'static Path> {
    static HELM: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    cached(&HELM, || {
        built_by_script("FEDWAY_KIND_TOOLS", "kind/tools.sh", |dir| dir.join("helm"))
    })
}

/// Envoy Gateway's module, pinned: tests take its CRDs (GEP-713 policy
/// kinds such as BackendTrafficPolicy) as a user installing Envoy Gateway
/// would, nothing built.
pub const ENVOY_GATEWAY_MODULE: &str = "github.com/envoyproxy/gateway@v1.9.1";

/// The CRD file of `plural` (`backendtrafficpolicies`) in Envoy Gateway's
/// module, downloaded from the Go module proxy on first use.
pub fn envoy_gateway_crd(plural: &str) -> Result<PathBuf> {
    static MODULE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = cached(&MODULE, || go_module(ENVOY_GATEWAY_MODULE))?;
    let file = dir.join(format!(
        "charts/gateway-helm/charts/crds/crds/generated/gateway.envoyproxy.io_{plural}.yaml"
    ));
    if !file.is_file() {
        return Err(Error::Toolchain(format!("{} is missing", file.display())));
    }
    Ok(file)
}

/// The directory of Go module `module@version` in the module cache,
/// downloaded through the module proxy when missing.
fn go_module(module: &str) -> Result<PathBuf> {
    let output = Command::new("go")
        .args(["mod", "download", "-json", module])
        .env("GOFLAGS", "-mod=mod")
        .current_dir(std::env::temp_dir())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| Error::Toolchain(format!("running go mod download {module}: {e}")))?;
    let info: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
    match info["Dir"].as_str() {
        Some(dir) if output.status.success() => Ok(PathBuf::from(dir)),
        _ => Err(Error::Toolchain(format!(
            "go mod download {module} failed ({}): {}",
            output.status,
            info["Error"].as_str().unwrap_or("see the errors above")
        ))),
    }
}

fn cached(
    cell: &'static OnceLock<Result<PathBuf, String>>,
    locate: impl FnOnce() -> Result<PathBuf>,
) -> Result<&'static Path> {
    cell.get_or_init(|| locate().map_err(|e| e.to_string()))
        .as_ref()
        .map(PathBuf::as_path)
        .map_err(|message| Error::Toolchain(message.clone()))
}

/// The file `file(<what the script prints>)`, where the script (under
/// e2e/) builds it on first use, or `file($env_var)` when that is set.
fn built_by_script(
    env_var: &str,
    script: &str,
    file: impl FnOnce(PathBuf) -> PathBuf,
) -> Result<PathBuf> {
    let printed = match std::env::var_os(env_var) {
        Some(path) => PathBuf::from(path),
        None => {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
            // stderr is inherited: the first build takes minutes and says so.
            let output = Command::new(&script)
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(|e| Error::Toolchain(format!("running {}: {e}", script.display())))?;
            if !output.status.success() {
                return Err(Error::Toolchain(format!(
                    "{} failed ({}); its errors are printed above",
                    script.display(),
                    output.status,
                )));
            }
            PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
        }
    };
    let path = file(printed);
    if !path.is_file() {
        return Err(Error::Toolchain(format!("{} is missing", path.display())));
    }
    Ok(path)
}

/// The `*.yaml` files in `dir` (not kustomize's own), sorted.
fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(crate::io_error(format!("listing {}", dir.display())))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .filter(|path| {
            path.file_name()
                .is_some_and(|name| name != "kustomization.yaml")
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::Toolchain(format!(
            "no YAML files in {}",
            dir.display()
        )));
    }
    Ok(files)
}
