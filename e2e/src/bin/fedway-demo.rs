//! `fedway-demo`: the whole Fedway journey on this machine, narrated — a
//! hub and three members on real control planes, the app applied once in
//! the hub, global DNS with failover, spillover, cluster and hub loss,
//! Weighted and Geo steering. The same steps the e2e test
//! (`e2e/tests/federation/journey.rs`) asserts on (`fedway_e2e::journey`).
//! With `--kind`, the same steps on kind clusters that `e2e/kind/run.sh`
//! created and installed.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;
use clap::Parser;
use fedway_e2e::journey::{self, Environment, Journey, KindConfig};

#[derive(Debug, Parser)]
#[command(
    name = "fedway-demo",
    version,
    about = "Fedway end to end on local control planes (or kind clusters): placement, global DNS, failover, spillover"
)]
struct Cli {
    /// Keep everything running at the end until Ctrl-C, to look around
    /// with kubectl and dig.
    #[arg(long)]
    keep: bool,
    /// Logs of every component, to stderr (the narration is on stdout).
    /// `--log info` shows what each one does along the way.
    #[arg(long, default_value = "off", env = "FEDWAY_LOG")]
    log: String,
    /// Run on kind clusters instead: the directory holding
    /// `hub.kubeconfig`, `member-eu.kubeconfig`, ... (`e2e/kind/run.sh up`
    /// writes them). Needs Docker and the clusters run.sh set up.
    #[arg(long, value_name = "DIR", requires = "echo_image")]
    kind: Option<PathBuf>,
    /// Prefix of the kind cluster names (node containers are
    /// `<prefix><cluster>-control-plane`).
    #[arg(long, default_value = "fedway-", requires = "kind")]
    kind_prefix: String,
    /// The echo backends' image on kind (loaded into every node; run.sh
    /// builds it from the pinned Gateway API module).
    #[arg(long, value_name = "IMAGE", requires = "kind")]
    echo_image: Option<String>,
    /// Fail (exit 1) when the journey misses an expectation the e2e test
    /// asserts (`fedway_e2e::journey::check`), as well as narrating it.
    #[arg(long)]
    check: bool,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = fedway_runtime::init(&fedway_runtime::LogArgs {
        log_format: fedway_runtime::LogFormat::Plain,
        log: format!("{},kube_client=off", cli.log),
    });
    let result = match &cli.kind {
        Some(dir) => {
            let config = KindConfig {
                dir: dir.clone(),
                prefix: cli.kind_prefix.clone(),
                echo_image: cli.echo_image.clone().unwrap_or_default(),
            };
            match Journey::start_kind(config, Box::new(journey::Print)).await {
                Ok(j) => run(j, &cli).await,
                Err(error) => Err(error),
            }
        }
        None => {
            async {
                // The control plane is built once (Go modules) before anything
                // starts.
                fedway_e2e::Toolchain::get().context("locating or building the control plane")?;
                run(Journey::start(Box::new(journey::Print)).await?, &cli).await
            }
            .await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("\nfedway-demo failed: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run<E: Environment>(mut j: Journey<E>, cli: &Cli) -> anyhow::Result<()> {
    if cli.check {
        let outcome = journey::check::run(&mut j).await;
        print_measured(&j);
        if let Err(error) = outcome {
            j.stop().await;
            return Err(error.context("the journey's checks"));
        }
        println!("\nEvery check of the journey passed.");
    } else {
        j.apply_app().await?;
        j.converge().await?;
        j.spillover().await?;
        j.failover().await?;
        j.cluster_loss().await?;
        j.member_loss().await?;
        j.hub_loss().await?;
        j.steering_variants().await?;
        print_measured(&j);
    }
    if cli.keep {
        println!("\nStill running; Ctrl-C to stop. Kubeconfigs:");
        for (cluster, kubeconfig) in j.env.kubeconfigs() {
            println!("   {cluster:<10} {}", kubeconfig.display());
        }
        for dns in &j.dns {
            println!(
                "   dig @{} -p {} {}",
                dns.address.ip(),
                dns.address.port(),
                journey::HOSTNAME
            );
        }
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
    }
    j.stop().await;
    Ok(())
}

fn print_measured<E: Environment>(j: &Journey<E>) {
    println!("\n== Measured");
    for (what, took) in &j.measured {
        println!("   {what:<22} {took:.1?}");
    }
}
