//! The journey's assertions, in one place for every environment: the e2e
//! test runs them on local control planes (`tests/federation/journey`),
//! `fedway-demo --check` on kind clusters (`e2e/kind/run.sh check`). Each
//! failed expectation is an error naming what was expected and what was
//! seen; the steps themselves already fail when a state they wait for
//! never comes.

use std::time::Duration;

use anyhow::{Result, ensure};

use super::{Environment, FAILURE_THRESHOLD, Journey, SITES, SUCCESS_THRESHOLD, served_by};

/// Every step of the journey, with the bounds a user relies on.
pub async fn run<E: Environment>(j: &mut Journey<E>) -> Result<()> {
    j.apply_app().await?;
    // Programmed everywhere, every DNS server answers the primary, each
    // route's backend answers through Fedway's DNS.
    j.converge().await?;

    // A client still sent to the primary gets an answer from a peer.
    let spilled = j.spillover().await?;
    ensure!(
        spilled.status == 200,
        "spillover answered {}",
        spilled.status
    );
    let (backend, member) = served_by(&spilled);
    ensure!(backend == "shop", "spillover reached backend {backend:?}");
    ensure!(
        member != SITES[0].0,
        "spillover was served by {member}, not by a peer member"
    );

    // Probes every 1 s: out after FAILURE_THRESHOLD failures, plus one
    // interval of phase and the answer's own round trip.
    j.failover().await?;
    within(
        j,
        "failover",
        Duration::from_secs(u64::from(FAILURE_THRESHOLD) + 2),
    )?;
    within(
        j,
        "failback",
        Duration::from_secs(u64::from(SUCCESS_THRESHOLD) + 2),
    )?;

    // NotReady, out of DNS, every member's objects kept (uids compared).
    // Heartbeats every 1 s, NotReady after 3 missed: the last renewal was
    // at most 1 s before the stop, the hub checks every 1 s.
    j.cluster_loss().await?;
    within(j, "not ready", Duration::from_secs(3 + 2))?;
    // The whole member gone (kind: its node container): the same, measured
    // from the moment the stop returned, and it comes back as it was.
    j.member_loss().await?;
    within(j, "member lost", Duration::from_secs(3 + 2))?;

    // Without the hub: members answer and fail over; back: no writes.
    let writes = j.hub_loss().await?;
    ensure!(
        writes == 0,
        "the restarted hub made {writes} writes to what was already right"
    );

    let (to_eu, to_us) = j.steering_variants().await?;
    // 3:1 over 400 answers, ap-south weight 0: within a wide margin of 300.
    ensure!(
        (240..=360).contains(&to_eu),
        "Weighted: eu-west got {to_eu} of 400 answers (3:1 expected)"
    );
    ensure!(
        to_eu + to_us == 400,
        "Weighted: a weight-0 endpoint got {} of 400 answers",
        400 - to_eu - to_us
    );
    Ok(())
}

fn within<E: Environment>(j: &Journey<E>, what: &'static str, bound: Duration) -> Result<()> {
    let took = j
        .measured
        .get(what)
        .copied()
        .ok_or_else(|| anyhow::anyhow!("{what} was not measured"))?;
    ensure!(took <= bound, "{what} took {took:.1?} (bound {bound:?})");
    Ok(())
}
