use super::*;

fn key(name: &str) -> ObjectKey {
    ObjectKey::new("default", name)
}

fn pool() -> AddressPool {
    "10.0.0.1-10.0.0.3".parse().expect("valid pool")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("valid ip")
}

fn plain(name: &str) -> AddressRequest {
    AddressRequest {
        gateway: key(name),
        ..Default::default()
    }
}

#[test]
fn pool_parses_ranges_and_single_addresses() {
    let p: AddressPool = "10.0.0.1-10.0.0.2, 10.0.1.9".parse().expect("valid");
    assert!(p.contains(ip("10.0.0.2")) && p.contains(ip("10.0.1.9")));
    assert!(!p.contains(ip("10.0.0.3")) && !p.contains(ip("::1")));
    assert!(matches!(
        "10.0.0.5-10.0.0.1".parse::<AddressPool>(),
        Err(PoolError::BadRange(..))
    ));
    assert!(matches!(
        "10.0.0.1-::1".parse::<AddressPool>(),
        Err(PoolError::BadRange(..))
    ));
    assert!(matches!(
        "nope".parse::<AddressPool>(),
        Err(PoolError::NotAnIp(..))
    ));
    assert_eq!("".parse::<AddressPool>(), Err(PoolError::Empty));
}

#[test]
fn first_free_in_order() {
    let out = assign(&pool(), &[plain("a"), plain("b")]);
    assert_eq!(out[&key("a")], Assignment::Assigned(ip("10.0.0.1")));
    assert_eq!(out[&key("b")], Assignment::Assigned(ip("10.0.0.2")));
}

#[test]
fn status_address_is_kept_across_restarts() {
    let mut b = plain("b");
    b.current = vec!["10.0.0.1".into()];
    let out = assign(&pool(), &[plain("a"), b]);
    assert_eq!(out[&key("b")], Assignment::Assigned(ip("10.0.0.1")));
    assert_eq!(out[&key("a")], Assignment::Assigned(ip("10.0.0.2")));
}

#[test]
fn status_address_outside_the_pool_is_replaced() {
    let mut a = plain("a");
    a.current = vec!["192.168.0.1".into()];
    let out = assign(&pool(), &[a]);
    assert_eq!(out[&key("a")], Assignment::Assigned(ip("10.0.0.1")));
}

#[test]
fn requested_addresses() {
    let req = |name: &str, kind: Option<&str>, value: &str| AddressRequest {
        gateway: key(name),
        requested: vec![(kind.map(str::to_owned), Some(value.to_owned()))],
        current: vec![],
    };
    let mut holder = plain("holder");
    holder.current = vec!["10.0.0.3".into()];
    let out = assign(
        &pool(),
        &[
            holder,
            req("in-pool", None, "10.0.0.3"),
            req("again", Some("IPAddress"), "10.0.0.3"),
            req("outside", None, "10.9.9.9"),
            req("hostname", Some("Hostname"), "example.com"),
        ],
    );
    // An explicit request beats an address only remembered in status.
    assert_eq!(out[&key("in-pool")], Assignment::Assigned(ip("10.0.0.3")));
    assert!(matches!(out[&key("again")], Assignment::NotUsable(_)));
    assert!(matches!(out[&key("outside")], Assignment::Unsupported(_)));
    assert!(matches!(out[&key("hostname")], Assignment::Unsupported(_)));
    assert_eq!(out[&key("holder")], Assignment::Assigned(ip("10.0.0.1")));
}

#[test]
fn exhausted_pool() {
    let p: AddressPool = "10.0.0.1".parse().expect("valid");
    let out = assign(&p, &[plain("a"), plain("b")]);
    assert_eq!(out[&key("a")], Assignment::Assigned(ip("10.0.0.1")));
    assert!(matches!(out[&key("b")], Assignment::NotAssigned(_)));
}
