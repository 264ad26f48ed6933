//! `fedway-hub`: Fedway's hub controller.

use std::{io::Write, path::PathBuf, sync::Arc};

use anyhow::Context;
use clap::{Parser, Subcommand};
use fedway_hub::metrics::HubMetrics;

#[derive(Debug, Parser)]
#[command(
    name = "fedway-hub",
    version,
    about = "Fedway's hub controller: define a Gateway once, run it in every member cluster"
)]
struct Cli {
    #[command(flatten)]
    log: fedway_runtime::LogArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the hub controller (one active replica at a time, by a Lease).
    Run {
        #[command(flatten)]
        hub: HubArgs,
        #[command(flatten)]
        metrics: fedway_runtime::metrics::MetricsArgs,
        /// Namespace of the leader-election Lease.
        #[arg(long, default_value = "fedway-system")]
        lease_namespace: String,
        /// This replica's identity in the Lease (default: hostname and pid).
        #[arg(long)]
        identity: Option<String>,
        /// How long a leader's lease lasts without renewal.
        #[arg(long, default_value = "15s", value_parser = parse_duration)]
        lease_duration: std::time::Duration,
        /// A policy kind (GEP-713) to federate besides BackendTLSPolicy,
        /// as `Kind.group` (e.g. BackendTrafficPolicy.gateway.envoyproxy.io):
        /// its policies that target a federated Gateway, route or backend
        /// Service go to the members that run the target. Repeatable.
        #[arg(long = "policy-kind")]
        policy_kinds: Vec<fedway_crds::group_kind::GroupKind>,
    },
    /// Join a member cluster: create its MemberCluster, hub namespace,
    /// ServiceAccount and RBAC, and write a kubeconfig for its agent.
    /// Joining again refreshes everything and mints a new token.
    Join {
        /// The member's name (a DNS label).
        name: String,
        /// A label for the MemberCluster (placement selects on these), e.g.
        /// topology.kubernetes.io/region=eu-west. Repeatable.
        #[arg(long = "label", value_parser = fedway_runtime::parse_label)]
        labels: Vec<(String, String)>,
        /// Where to write the agent's kubeconfig.
        #[arg(long, short)]
        output: PathBuf,
        /// Hub API server URL as the member reaches it (default: the one in
        /// the hub kubeconfig).
        #[arg(long)]
        hub_server: Option<String>,
        /// Lifetime of the agent's token, e.g. 8760h. Rotate before it ends
        /// by joining again.
        #[arg(long, default_value = "8760h", value_parser = parse_duration)]
        token_ttl: std::time::Duration,
        /// Recreate the agent's ServiceAccount first: every token minted
        /// before stops working.
        #[arg(long)]
        rotate: bool,
        /// Whether the member runs fedway-dns for the global zones: only
        /// then is it sent the DNS data (every DNSZone and DNSRecord). In a
        /// large fleet, let a few members serve DNS (`--serves-dns false`
        /// on the others). Sets MemberCluster `spec.servesDNS`.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        serves_dns: bool,
        #[command(flatten)]
        hub: HubArgs,
    },
    /// Revoke a member: its credentials, RBAC, hub namespace and
    /// MemberCluster. What the member runs stays there.
    Unjoin {
        name: String,
        #[command(flatten)]
        hub: HubArgs,
    },
    /// Print Fedway's CRDs as YAML (for `kubectl apply --server-side -f -`),
    /// or write one file per CRD into a directory.
    Crds {
        /// Write `<crd name>.yaml` files here instead of printing.
        #[arg(long)]
        output_dir: Option<PathBuf>,
    },
}

#[derive(Debug, clap::Args)]
struct HubArgs {
    /// Kubeconfig of the hub cluster; in-cluster (or $KUBECONFIG) when absent.
    #[arg(long, env = "FEDWAY_HUB_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    fedway_runtime::init(&cli.log)?;
    match cli.command {
        Command::Run {
            hub,
            metrics,
            lease_namespace,
            identity,
            lease_duration,
            policy_kinds,
        } => {
            let client = fedway_runtime::kube_client(hub.kubeconfig.as_deref()).await?;
            let identity = identity.unwrap_or_else(|| {
                let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "hub".into());
                format!("{host}-{}", std::process::id())
            });
            let leader = fedway_hub::leader::LeaderConfig {
                namespace: lease_namespace,
                name: "fedway-hub".into(),
                identity,
                lease_duration,
            };
            let mut registry = fedway_runtime::metrics::Registry::default();
            let hub_metrics = Arc::new(HubMetrics::register(&mut registry));
            let _endpoint = fedway_runtime::metrics::serve_registry(&metrics, registry)
                .await
                .context("metrics endpoint")?;
            fedway_hub::run::run(
                client,
                leader,
                &policy_kinds,
                hub_metrics,
                fedway_runtime::shutdown_signal(),
            )
            .await?;
            Ok(())
        }
        Command::Crds { output_dir } => write_crds(output_dir),
        Command::Join {
            name,
            labels,
            output,
            hub_server,
            token_ttl,
            rotate,
            serves_dns,
            hub,
        } => {
            let config = fedway_runtime::kube_config(hub.kubeconfig.as_deref()).await?;
            let server = hub_server.unwrap_or_else(|| config.cluster_url.to_string());
            let ca = config.root_cert.clone().unwrap_or_default();
            let client = fedway_runtime::client_for(config)?;
            let labels = labels.into_iter().collect();
            let request = fedway_hub::join::JoinRequest {
                name: &name,
                labels: &labels,
                token_ttl,
                rotate,
                serves_dns,
            };
            let token = fedway_hub::join::join(&client, &request).await?;
            let kubeconfig = fedway_hub::agent_kubeconfig::render(
                &name,
                server.trim_end_matches('/'),
                &ca,
                &token,
            )?;
            write_private(&output, &kubeconfig)?;
            println!(
                "joined {name}; agent kubeconfig in {} (token valid for {}).\nOn the member: fedway-agent --hub-kubeconfig {} --cluster {name}",
                output.display(),
                humanize(token_ttl),
                output.display()
            );
            Ok(())
        }
        Command::Unjoin { name, hub } => {
            let client = fedway_runtime::kube_client(hub.kubeconfig.as_deref()).await?;
            fedway_hub::join::unjoin(&client, &name).await?;
            println!(
                "unjoined {name}: its credentials are revoked; what it runs stays on the member"
            );
            Ok(())
        }
    }
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    fedway_crds::duration::Duration::parse(text)
        .and_then(|d| d.to_std())
        .map_err(|e| e.to_string())
}

fn humanize(duration: std::time::Duration) -> String {
    let hours = duration.as_secs() / 3600;
    if hours >= 48 {
        format!("{} days", hours / 24)
    } else {
        format!("{}s", duration.as_secs())
    }
}

/// Writes a credential file readable by its owner only.
fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

fn write_crds(output_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let files = fedway_crds::render::crd_files()?;
    match output_dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for (name, yaml) in files {
                let path = dir.join(name);
                std::fs::write(&path, yaml)
                    .with_context(|| format!("writing {}", path.display()))?;
                tracing::info!(path = %path.display(), "wrote CRD");
            }
        }
        None => {
            let mut out = std::io::stdout().lock();
            for (_, yaml) in files {
                writeln!(out, "---\n{yaml}").context("writing to stdout")?;
            }
        }
    }
    Ok(())
}
