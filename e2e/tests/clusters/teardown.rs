//! Teardown leaves no process and no listening port behind, also when the
//! test that owned the cluster panics.

use std::{net::TcpListener, path::Path, sync::mpsc};

use fedway_e2e::{Cluster, ClusterOptions};

use crate::init_logging;

fn assert_gone(pids: &[u32], addresses: &[std::net::SocketAddr]) {
    assert!(!pids.is_empty() && !addresses.is_empty());
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} is still there"
        );
    }
    for address in addresses {
        TcpListener::bind(address).unwrap_or_else(|e| panic!("port {address} is still taken: {e}"));
    }
}

#[tokio::test]
async fn dropping_a_cluster_stops_its_processes_and_frees_its_ports() {
    init_logging();
    let cluster = Cluster::start("teardown", &ClusterOptions::bare().with_workloads())
        .await
        .expect("starting a cluster");
    let pids = cluster.pids();
    let addresses = cluster.listen_addresses();
    assert_eq!(
        pids.len(),
        5,
        "etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok"
    );
    for address in &addresses {
        assert!(
            TcpListener::bind(address).is_err(),
            "{address} is served while the cluster runs"
        );
    }
    cluster.stop();
    assert_gone(&pids, &addresses);
}

#[test]
fn a_panicking_test_still_tears_its_cluster_down() {
    init_logging();
    let (report, reported) = mpsc::channel();
    let outcome = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let cluster = Cluster::start("panics", &ClusterOptions::bare())
                .await
                .expect("starting a cluster");
            report
                .send((cluster.pids(), cluster.listen_addresses()))
                .expect("report");
            panic!("the test fails while its cluster runs");
        })
    })
    .join();
    assert!(outcome.is_err(), "the thread panicked");
    let (pids, addresses) = reported.recv().expect("the cluster had started");
    assert_gone(&pids, &addresses);
}
