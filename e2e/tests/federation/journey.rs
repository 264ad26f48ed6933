//! The whole journey (issue 6) asserted: the same steps `fedway-demo`
//! narrates (`fedway_e2e::journey`), with the bounds a user relies on
//! (`journey::check`, which `e2e/kind/run.sh check` runs on kind too).

use fedway_e2e::journey::{self, Journey};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn define_once_fail_over_globally_survive_cluster_and_hub_loss() {
    let mut j = Journey::start(Box::new(journey::Log))
        .await
        .expect("hub, three members, gateways and DNS start");
    let outcome = journey::check::run(&mut j).await;
    j.stop().await;
    if let Err(error) = outcome {
        panic!("the journey: {error:#}");
    }
}
