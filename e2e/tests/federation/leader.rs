//! Leader election when the leader's connection to its API server goes
//! silent (a TCP relay that stops forwarding without closing, as a dead
//! NAT or a partition does): the leader steps down before the other replica
//! takes over, so there is never a moment with two writers.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use fedway_e2e::cluster::{Cluster, ClusterOptions};
use fedway_hub::{leader::LeaderConfig, metrics::HubMetrics};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// Forwards connections on `listener` to `upstream` until `frozen` is
/// set; from then on it forwards nothing more and closes nothing.
async fn relay(listener: TcpListener, upstream: SocketAddr, frozen: Arc<AtomicBool>) {
    while let Ok((client, _)) = listener.accept().await {
        let frozen = frozen.clone();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::join!(
                pipe(client_read, server_write, frozen.clone()),
                pipe(server_read, client_write, frozen),
            );
        });
    }
}

async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let Ok(read) = from.read(&mut buffer).await else {
            return;
        };
        while frozen.load(Ordering::SeqCst) {
            // Holds both sockets open: the peer sees silence, not a close.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if read == 0 || to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

/// One hub replica, run as `fedway-hub run` runs it, with its metrics.
fn replica(
    client: kube::Client,
    identity: &str,
    lease_duration: Duration,
) -> (
    Arc<HubMetrics>,
    tokio::task::JoinHandle<Result<(), fedway_hub::Error>>,
) {
    let metrics = Arc::new(HubMetrics::default());
    let leader = LeaderConfig {
        namespace: "fedway-system".into(),
        name: "fedway-hub".into(),
        identity: identity.into(),
        lease_duration,
    };
    let running = metrics.clone();
    let task = tokio::spawn(async move {
        fedway_hub::run::run(client, leader, &[], running, std::future::pending()).await
    });
    (metrics, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_cut_off_from_its_api_server_steps_down_before_another_takes_over() {
    fedway_e2e::init_test_logging();
    let hub = Cluster::start("hub", &ClusterOptions::default())
        .await
        .expect("starting the hub");
    let server: SocketAddr = hub
        .server_url()
        .trim_start_matches("https://")
        .parse()
        .expect("the API server's address");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("relay");
    let relay_address = listener.local_addr().expect("relay address");
    let frozen = Arc::new(AtomicBool::new(false));
    tokio::spawn(relay(listener, server, frozen.clone()));

    // Replica a reaches the API server through the relay (its certificate
    // still checked against the server's own address).
    let mut config = fedway_runtime::kube_config(Some(hub.admin_kubeconfig()))
        .await
        .expect("hub config");
    config.cluster_url = format!("https://{relay_address}")
        .parse()
        .expect("relay URL");
    config.tls_server_name = Some(server.ip().to_string());
    let through_relay = fedway_runtime::client_for(config).expect("client through the relay");
    let lease = Duration::from_secs(6);
    let (a, a_task) = replica(through_relay, "a", lease);
    fedway_e2e::wait::eventually("replica a to lead", 60, || async {
        Ok((a.leader.get() == 1).then_some(()))
    })
    .await;
    let (b, b_task) = replica(hub.client(), "b", lease);

    // Both replicas' leadership, sampled until b leads.
    let both = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (a, b, both) = (a.clone(), b.clone(), both.clone());
        tokio::spawn(async move {
            while b.leader.get() == 0 {
                if a.leader.get() == 1 && b.leader.get() == 1 {
                    both.store(true, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            a.leader.get()
        })
    };
    // b waits while a renews.
    tokio::time::sleep(lease * 2).await;
    assert_eq!(b.leader.get(), 0, "b took the lease a renews");

    frozen.store(true, Ordering::SeqCst);
    let cut = Instant::now();
    let a_result = tokio::time::timeout(Duration::from_secs(30), a_task)
        .await
        .expect("a steps down")
        .expect("a's task");
    let stepped_down = cut.elapsed();
    let error = a_result
        .expect_err("a stops with lost leadership")
        .to_string();
    assert!(error.contains("could not renew"), "{error}");
    let a_when_b_leads = tokio::time::timeout(Duration::from_secs(60), sampler)
        .await
        .expect("b takes over")
        .expect("sampler");
    let took_over = cut.elapsed();
    assert_eq!(a_when_b_leads, 0, "a still led when b took over");
    assert!(
        !both.load(Ordering::SeqCst),
        "both replicas led at one moment"
    );
    assert!(stepped_down < took_over);
    println!(
        "connection cut: a stepped down after {stepped_down:?}, b took over after {took_over:?} (lease {lease:?})"
    );
    b_task.abort();
}
