//! Fedway's multi-cluster test harness: real Kubernetes control planes on
//! this machine, one per simulated cluster, each on its own loopback address.
//!
//! ```text
//!  toolchain ── builds/locates etcd, kube-apiserver, kcm, scheduler, kwok
//!      │          (e2e/scripts/control-plane.sh, cached outside the repo)
//!  address ──── leases 127.20.<slot>.0/24 (+ pod net 198.18.<slot>.0/24)
//!      │          to one cluster at a time, across test processes
//!  pki ──────── CA, serving and client certificates, service-account keys
//!  process ──── child processes that die with the cluster (and the test)
//!  cluster ──── one cluster: etcd + kube-apiserver (+ kcm, scheduler, kwok)
//!  manifests ── server-side apply of YAML (Gateway API and Fedway CRDs)
//!  pod_runner ─ runs echo-basic for the conformance suite's pods, each in
//!                its own network namespace on the pod's IP
//!  traefik ──── Traefik (built by e2e/scripts/traefik.sh) as a member's
//!                own Gateway API implementation, with its own RBAC
//! ```
//!
//! A test starts what it needs with [`Clusters::start`] and drops the value
//! to tear everything down; teardown also runs when the test panics, and
//! every child carries a parent-death signal for when the runner is killed.

pub mod address;
pub mod bench;
pub mod cluster;
pub mod federation;
pub mod fleet;
pub mod journey;
pub mod kubeconfig;
pub mod manifests;
pub mod packages;
pub mod pki;
pub mod pod_runner;
pub mod pod_spec;
pub mod process;
pub mod toolchain;
pub mod traefik;
pub mod traffic;
pub mod wait;

pub use cluster::{Cluster, ClusterOptions, Clusters};
pub use pod_runner::PodRunner;
pub use toolchain::Toolchain;

/// Everything the harness can fail at, naming the cluster or file involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("control-plane toolchain: {0}")]
    Toolchain(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("certificates for cluster {cluster}: {source}")]
    Pki {
        cluster: String,
        source: rcgen::Error,
    },
    #[error("no free loopback slot: all {0} slots are leased by other test processes")]
    NoFreeSlot(u16),
    #[error("cluster {cluster}: {message}")]
    Cluster { cluster: String, message: String },
    #[error("cluster {cluster}: Kubernetes API: {source}")]
    Kube {
        cluster: String,
        source: Box<kube::Error>,
    },
    #[error("manifest {origin}: {message}")]
    Manifest { origin: String, message: String },
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        what: String,
        after: std::time::Duration,
    },
}

/// Logging for tests and the dev environment. kube's client logs every
/// non-2xx response, which start-up polling produces by design, so its
/// logs are off unless `RUST_LOG` asks for them; errors reach the caller
/// as values anyway.
pub fn init_test_logging() {
    let _ = fedway_runtime::init(&fedway_runtime::LogArgs {
        log_format: fedway_runtime::LogFormat::Plain,
        log: "info,kube_client=off".into(),
    });
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}
