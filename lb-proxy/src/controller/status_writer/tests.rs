use std::sync::Arc;

use super::*;
use crate::controller::{
    Publish,
    compute::tests::snapshot,
    compute::{self, Snapshot},
};

fn now() -> Timestamp {
    Timestamp::from_second(1_000_000).expect("valid")
}

/// Puts `status` on the object as the API server would store it.
fn stored<K: Clone>(object: &Arc<K>, set: impl FnOnce(&mut K)) -> Arc<K> {
    let mut o = (**object).clone();
    set(&mut o);
    Arc::new(o)
}

#[test]
fn a_second_pass_over_written_statuses_writes_nothing() {
    let s: Snapshot = snapshot();
    let pool: crate::controller::AddressPool = "10.0.0.1-10.0.0.9".parse().expect("pool");
    let o = compute::compute("fedway.dev/lb-proxy", &Publish::Local(pool.clone()), &s);

    let class = &s.classes[0];
    let status = desired_class(&o.classes[0], class, &now()).expect("first write");
    assert_eq!(
        status.supported_features.as_ref().map(Vec::len),
        Some(SUPPORTED_FEATURES.len())
    );
    let class = stored(class, |c| c.status = Some(status));
    let later = Timestamp::from_second(2_000_000).expect("valid");
    assert_eq!(desired_class(&o.classes[0], &class, &later), None);

    let gateway = &s.gateways[0];
    let status = desired_gateway(&o.gateways[0], gateway, &now()).expect("first write");
    let gateway = stored(gateway, |g| g.status = Some(status));
    assert_eq!(desired_gateway(&o.gateways[0], &gateway, &later), None);

    for outcome in &o.routes {
        let route = s
            .routes
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(&outcome.key.name))
            .expect("route");
        let status =
            desired_route(outcome, route, "fedway.dev/lb-proxy", &now()).expect("first write");
        let route = stored(route, |r| r.status = Some(status));
        assert_eq!(
            desired_route(outcome, &route, "fedway.dev/lb-proxy", &later),
            None
        );
    }
}

#[test]
fn other_controllers_route_parents_are_kept() {
    let s = snapshot();
    let pool: crate::controller::AddressPool = "10.0.0.1-10.0.0.9".parse().expect("pool");
    let o = compute::compute("fedway.dev/lb-proxy", &Publish::Local(pool.clone()), &s);
    let theirs = HttpRouteStatusParents {
        conditions: vec![],
        controller_name: "example.com/other".into(),
        parent_ref: HttpRouteStatusParentsParentRef {
            name: "their-gw".into(),
            ..Default::default()
        },
    };
    let route = stored(&s.routes[0], |r| {
        r.status = Some(HttpRouteStatus {
            parents: vec![theirs.clone()],
        })
    });
    let outcome = o
        .routes
        .iter()
        .find(|r| r.key.name == "valid")
        .expect("outcome");
    let status = desired_route(outcome, &route, "fedway.dev/lb-proxy", &now()).expect("write");
    assert_eq!(status.parents[0], theirs);
    assert_eq!(status.parents.len(), 2);
}
