//! The whole journey (issue 6) asserted: the same steps `fedway-demo`
//! narrates (`fedway_e2e::journey`), with the bounds a user relies on.

use std::time::Duration;

use fedway_e2e::journey::{self, FAILURE_THRESHOLD, Journey, SITES, SUCCESS_THRESHOLD, served_by};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn define_once_fail_over_globally_survive_cluster_and_hub_loss() {
    let mut j = Journey::start(Box::new(journey::Log))
        .await
        .expect("hub, three members, gateways and DNS start");
    j.apply_app().await.expect("the app applies in the hub");
    // Programmed everywhere, every DNS server answers the primary, each
    // route's backend answers through Fedway's DNS.
    j.converge().await.expect("the app converges");

    // A client still sent to the primary gets an answer from a peer.
    let spilled = j.spillover().await.expect("spillover");
    assert_eq!(spilled.status, 200);
    let (backend, member) = served_by(&spilled);
    assert_eq!(backend, "shop");
    assert_ne!(member, SITES[0].0, "served by a peer member");

    // Probes every 1 s: out after FAILURE_THRESHOLD failures, plus one
    // interval of phase and the answer's own round trip.
    j.failover().await.expect("failover and fail-back");
    let bound = Duration::from_secs(u64::from(FAILURE_THRESHOLD) + 2);
    let failover = j.measured["failover"];
    assert!(
        failover <= bound,
        "failover took {failover:?} (bound {bound:?})"
    );
    let failback = j.measured["failback"];
    let bound = Duration::from_secs(u64::from(SUCCESS_THRESHOLD) + 2);
    assert!(
        failback <= bound,
        "fail-back took {failback:?} (bound {bound:?})"
    );

    // NotReady, out of DNS, every member's objects kept (uids compared).
    j.cluster_loss().await.expect("cluster loss");
    // Heartbeats every 1 s, NotReady after 3 missed: the last renewal was
    // at most 1 s before the stop, the hub checks every 1 s.
    let not_ready = j.measured["not ready"];
    assert!(
        not_ready <= Duration::from_secs(3 + 2),
        "NotReady took {not_ready:?} after the API server stopped"
    );

    // Without the hub: members answer and fail over; back: no writes.
    let writes = j.hub_loss().await.expect("hub loss");
    assert_eq!(
        writes, 0,
        "the restarted hub rewrote what was already right"
    );

    let (to_eu, to_us) = j.steering_variants().await.expect("Weighted and Geo");
    // 3:1 over 400 answers, ap-south weight 0: within a wide margin of 300.
    assert!((240..=360).contains(&to_eu), "eu-west got {to_eu} of 400");
    assert_eq!(to_eu + to_us, 400, "weight 0 got answers");
    j.stop().await;
}
