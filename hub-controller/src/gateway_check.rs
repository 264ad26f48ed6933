//! Whether the hub accepts a Gateway of the `fedway` class: checks that make
//! a Gateway unplaceable are found here, before anything reaches a member.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::work_builder::str_at;

/// Why a Gateway is not accepted: condition reason and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub reason: &'static str,
    pub message: String,
}

/// Checks a hub Gateway. `zones` are the apexes of the DNSZones Fedway
/// serves: a listener hostname in none of them is federated all the same
/// (creating a first zone must not freeze Gateways that ran before it), but
/// Fedway's DNS cannot answer for it; the returned notes say so.
pub fn check(gateway: &Value, zones: &[String]) -> Result<Vec<String>, Rejection> {
    let listeners = gateway["spec"]["listeners"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut problems = Vec::new();
    let mut notes = Vec::new();

    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut bindings: BTreeMap<(i64, &str), &str> = BTreeMap::new();
    for listener in listeners {
        let name = str_at(listener, &["name"]);
        *names.entry(name).or_default() += 1;
        let hostname = str_at(listener, &["hostname"]);
        let port = listener["port"].as_i64().unwrap_or_default();
        if let Some(first) = bindings.insert((port, hostname), name) {
            problems.push(format!(
                "listeners {first:?} and {name:?} both bind port {port} for hostname {:?}",
                if hostname.is_empty() { "*" } else { hostname }
            ));
        }
        if !hostname.is_empty()
            && !zones.is_empty()
            && !zones.iter().any(|zone| in_zone(hostname, zone))
        {
            notes.push(format!(
                "listener {name:?} hostname {hostname:?} is in none of Fedway's DNS zones ({}): not published in DNS",
                zones.join(", ")
            ));
        }
    }
    for (name, count) in names.iter().filter(|(_, count)| **count > 1) {
        problems.insert(0, format!("listener name {name:?} is used {count} times"));
    }
    if problems.is_empty() {
        Ok(notes)
    } else {
        Err(Rejection {
            reason: "ListenersNotValid",
            message: problems.join("; "),
        })
    }
}

/// Whether `hostname` (possibly `*.`-prefixed) lies in `zone`.
pub fn in_zone(hostname: &str, zone: &str) -> bool {
    let hostname = hostname
        .trim_start_matches("*.")
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let zone = zone.trim_end_matches('.').to_ascii_lowercase();
    hostname == zone || hostname.ends_with(&format!(".{zone}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn gateway(listeners: Value) -> Value {
        json!({"metadata": {"name": "g", "namespace": "n"}, "spec": {"gatewayClassName": "fedway", "listeners": listeners}})
    }

    #[test]
    fn gateway_checks() {
        let zones = vec!["global.example.com".to_owned()];
        let cases: Vec<(&str, Value, &[String], Option<&str>)> = vec![
            (
                "valid",
                json!([{"name": "a", "port": 80, "hostname": "shop.global.example.com"},
                       {"name": "b", "port": 80, "hostname": "*.api.global.example.com"}]),
                &zones,
                None,
            ),
            (
                "no hostname is fine",
                json!([{"name": "a", "port": 80}]),
                &zones,
                None,
            ),
            (
                "no zones: any hostname",
                json!([{"name": "a", "port": 80, "hostname": "x.example.org"}]),
                &[],
                None,
            ),
            (
                "duplicate names",
                json!([{"name": "a", "port": 80, "hostname": "a.global.example.com"},
                       {"name": "a", "port": 81, "hostname": "a.global.example.com"}]),
                &zones,
                Some("listener name \"a\" is used 2 times"),
            ),
            (
                "same port and hostname",
                json!([{"name": "a", "port": 80}, {"name": "b", "port": 80}]),
                &zones,
                Some("listeners \"a\" and \"b\" both bind port 80 for hostname \"*\""),
            ),
        ];
        for (name, listeners, zones, want) in cases {
            let got = check(&gateway(listeners), zones);
            match want {
                None => assert_eq!(got, Ok(vec![]), "{name}"),
                Some(part) => {
                    let rejection = got.expect_err(name);
                    assert_eq!(rejection.reason, "ListenersNotValid", "{name}");
                    assert!(
                        rejection.message.contains(part),
                        "{name}: {}",
                        rejection.message
                    );
                }
            }
        }
    }

    #[test]
    fn hostnames_outside_the_zones_are_federated_not_published() {
        let zones = vec!["global.example.com".to_owned()];
        let got = check(
            &gateway(json!([
                {"name": "a", "port": 80, "hostname": "shop.example.org"},
                {"name": "b", "port": 80, "hostname": "evilglobal.example.com"},
                {"name": "c", "port": 80, "hostname": "shop.global.example.com"},
            ])),
            &zones,
        );
        assert_eq!(
            got,
            Ok(vec![
                "listener \"a\" hostname \"shop.example.org\" is in none of Fedway's DNS zones (global.example.com): not published in DNS".to_owned(),
                "listener \"b\" hostname \"evilglobal.example.com\" is in none of Fedway's DNS zones (global.example.com): not published in DNS".to_owned(),
            ]),
            "a zone suffix that is not a label boundary is outside too"
        );
    }

    #[test]
    fn zone_membership_is_case_insensitive_and_label_aligned() {
        assert!(in_zone("Shop.Global.Example.com", "global.example.com"));
        assert!(in_zone("*.global.example.com", "global.example.com"));
        assert!(in_zone("global.example.com.", "global.example.com"));
        assert!(!in_zone("global.example.com.evil", "global.example.com"));
        assert!(!in_zone("xglobal.example.com", "global.example.com"));
    }
}
