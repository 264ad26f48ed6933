//! Where the journey runs: exactly the things that differ between the
//! local harness ([`LocalEnv`](super::LocalEnv): control planes and every
//! Fedway component on this machine) and kind clusters
//! ([`KindEnv`](super::KindEnv): the deploy/ manifests in Docker). Every
//! step of [`Journey`](super::Journey) goes through this trait only, so
//! both run the same step code.

use std::{
    future::Future,
    net::{Ipv4Addr, SocketAddr},
    path::PathBuf,
};

use anyhow::Result;
use kube::Client;

/// One fedway-dns as a client on this machine reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsServer {
    /// `hub` or the member's name.
    pub cluster: String,
    pub address: SocketAddr,
}

/// What a journey step may do to the clusters beyond their APIs. Futures
/// are `Send` so the steps can run on any runtime thread.
pub trait Environment: Send + Sync {
    /// The hub's API as its administrator.
    fn hub(&self) -> Client;

    /// Member `name`'s API as its administrator.
    fn member(&self, name: &str) -> Result<Client>;

    /// Every fedway-dns, the hub's first, then the members' in
    /// [`SITES`](super::SITES) order.
    fn dns_servers(&self) -> Vec<DnsServer>;

    /// The image of the journey's echo backends (the Gateway API
    /// conformance echo server, `echo-basic`).
    fn echo_image(&self) -> &str;

    /// `(cluster, admin kubeconfig)`, hub first, for looking around.
    fn kubeconfigs(&self) -> Vec<(String, PathBuf)>;

    /// The address member `name`'s gateway serves the journey's Gateway on
    /// (and publishes in its status). May wait for the Gateway to be
    /// programmed.
    fn gateway_address(&self, member: &str) -> impl Future<Output = Result<Ipv4Addr>> + Send;

    /// Kills member `name`'s gateway: its sockets close, nothing serves
    /// the address until [`restore_gateway`](Self::restore_gateway).
    fn kill_gateway(&mut self, member: &str) -> impl Future<Output = Result<()>> + Send;

    fn restore_gateway(&mut self, member: &str) -> impl Future<Output = Result<()>> + Send;

    /// Stops member `name`'s API server only: what runs in the member
    /// (agent, DNS, gateway, backends) keeps running without it.
    fn stop_member_api_server(&mut self, member: &str) -> impl Future<Output = Result<()>> + Send;

    /// Starts it again and waits until it serves.
    fn start_member_api_server(&mut self, member: &str) -> impl Future<Output = Result<()>> + Send;

    /// Takes member `name` away whole, as when its machines go: its API
    /// server, agent, DNS server and gateway all stop, nothing of it is
    /// deleted. Returns what was done, for the narration.
    fn stop_member(&mut self, member: &str) -> impl Future<Output = Result<String>> + Send;

    /// Brings it back as it was, at the same addresses, and waits until its
    /// API server serves.
    fn start_member(&mut self, member: &str) -> impl Future<Output = Result<()>> + Send;

    /// Stops the hub controller and the hub's API server (the hub's DNS
    /// server keeps running, as the members' do). Returns what was done,
    /// for the narration.
    fn stop_hub(&mut self) -> impl Future<Output = Result<String>> + Send;

    /// Starts the hub's API server, waits until it serves, then starts the
    /// hub controller.
    fn start_hub(&mut self) -> impl Future<Output = Result<()>> + Send;

    /// Every write (`(verb, request URI)`) the hub controller made, in the
    /// order the hub's audit log recorded them: a later call returns an
    /// earlier call's list plus what came since.
    fn hub_controller_writes(&self) -> impl Future<Output = Result<Vec<(String, String)>>> + Send;

    /// Stops what this environment started (kind: nothing; the clusters
    /// stay for the user).
    fn stop(self) -> impl Future<Output = ()> + Send;
}
