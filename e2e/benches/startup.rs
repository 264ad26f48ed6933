//! Prints (never asserts) how long it takes to start 1 and 3 clusters, and
//! their resident memory, on this machine. Run with
//! `cargo bench -p fedway-e2e --bench startup`.

use std::time::Instant;

use fedway_e2e::{ClusterOptions, Clusters, Toolchain};

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let toolchain = Toolchain::get()?;
    println!(
        "cluster start-up, Kubernetes {}, {} cores",
        toolchain.kubernetes_version,
        cores()
    );
    println!("{:<46} {:>10} {:>12}", "what", "wall", "RSS");
    let setups = [
        ("etcd + kube-apiserver", ClusterOptions::bare()),
        ("  + Gateway API and Fedway CRDs", ClusterOptions::default()),
        (
            "  + kcm, scheduler, kwok node",
            ClusterOptions::default().with_workloads(),
        ),
    ];
    for (label, options) in setups {
        for count in [1usize, 3] {
            let names: Vec<String> = (0..count).map(|i| format!("bench-{i}")).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let started = Instant::now();
            let clusters = runtime.block_on(Clusters::start(&names, &options))?;
            let wall = started.elapsed();
            // Let start-up allocations settle before reading memory.
            std::thread::sleep(std::time::Duration::from_secs(2));
            let rss: u64 = clusters.iter().map(|c| c.rss_bytes()).sum();
            println!(
                "{:<46} {:>9.2}s {:>9} MiB",
                format!("{label} x{count}"),
                wall.as_secs_f64(),
                rss / (1024 * 1024)
            );
            drop(clusters);
        }
    }
    Ok(())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}
