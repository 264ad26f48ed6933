//! Kubernetes Events for a Gateway's transitions, so `kubectl describe
//! gateway` tells its story: the Event for a change of the Programmed
//! condition (status or reason) between the status on the Gateway and the
//! one about to be written. Pure; the pass publishes what it returns.

use gateway_api::gateways::GatewayStatus;
use kube::runtime::events::{Event, EventType};

const PROGRAMMED: &str = "Programmed";

pub fn programmed_transition(old: Option<&GatewayStatus>, new: &GatewayStatus) -> Option<Event> {
    let programmed = |status: &GatewayStatus| {
        status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == PROGRAMMED)
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    };
    let (status, reason, message) = programmed(new)?;
    if old
        .and_then(programmed)
        .is_some_and(|(s, r, _)| s == status && r == reason)
    {
        return None;
    }
    let type_ = if status == "True" {
        EventType::Normal
    } else {
        EventType::Warning
    };
    let addresses: Vec<&str> = new
        .addresses
        .iter()
        .flatten()
        .map(|a| a.value.as_str())
        .collect();
    let note = match (status.as_str(), addresses.is_empty()) {
        ("True", false) => format!("serving on {}", addresses.join(", ")),
        _ => message,
    };
    Some(Event {
        type_,
        reason,
        // The API server limits notes to 1 KiB.
        note: Some(note.chars().take(1000).collect()),
        action: "Program".into(),
        secondary: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status(programmed: Option<(&str, &str)>, addresses: &[&str]) -> GatewayStatus {
        let conditions: Vec<_> = programmed
            .into_iter()
            .map(|(status, reason)| {
                json!({"type": "Programmed", "status": status, "reason": reason,
                       "message": format!("{reason} message"),
                       "lastTransitionTime": "2026-11-23T00:00:00Z"})
            })
            .collect();
        let addresses: Vec<_> = addresses
            .iter()
            .map(|a| json!({"type": "IPAddress", "value": a}))
            .collect();
        serde_json::from_value(json!({"conditions": conditions, "addresses": addresses}))
            .expect("status")
    }

    /// (case, old status, new status, expected (warning?, reason, note)).
    type Case<'a> = (
        &'a str,
        Option<&'a GatewayStatus>,
        &'a GatewayStatus,
        Option<(bool, &'a str, &'a str)>,
    );

    #[test]
    fn events_only_on_transitions() {
        let programmed = status(Some(("True", "Programmed")), &["127.20.1.100"]);
        let invalid = status(Some(("False", "Invalid")), &[]);
        let pending = status(Some(("False", "AddressNotAssigned")), &[]);
        let none = status(None, &[]);
        let cases: [Case<'_>; 6] = [
            (
                "first status, programmed",
                None,
                &programmed,
                Some((false, "Programmed", "serving on 127.20.1.100")),
            ),
            ("unchanged", Some(&programmed), &programmed, None),
            (
                "programmed → invalid",
                Some(&programmed),
                &invalid,
                Some((true, "Invalid", "Invalid message")),
            ),
            (
                "same status, other reason",
                Some(&invalid),
                &pending,
                Some((true, "AddressNotAssigned", "AddressNotAssigned message")),
            ),
            (
                "from no condition",
                Some(&none),
                &invalid,
                Some((true, "Invalid", "Invalid message")),
            ),
            (
                "new status without the condition",
                Some(&programmed),
                &none,
                None,
            ),
        ];
        for (case, old, new, want) in cases {
            let got = programmed_transition(old, new).map(|e| {
                (
                    e.type_ == EventType::Warning,
                    e.reason,
                    e.note.unwrap_or_default(),
                )
            });
            let want = want.map(|(w, r, n)| (w, r.to_owned(), n.to_owned()));
            assert_eq!(got, want, "{case}");
        }
    }
}
