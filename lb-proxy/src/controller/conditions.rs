//! `metav1.Condition`s as the controller computes them: without a transition
//! time, which is filled in from the object's current conditions so that an
//! unchanged status compares equal and costs no write.

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};

/// A condition before its transition time is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cond {
    pub type_: &'static str,
    pub status: bool,
    pub reason: String,
    pub message: String,
}

impl Cond {
    pub fn new(
        type_: &'static str,
        status: bool,
        reason: &str,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status,
            reason: reason.to_owned(),
            message: message.into(),
        }
    }

    fn status_str(&self) -> &'static str {
        if self.status { "True" } else { "False" }
    }
}

/// Conditions with `observedGeneration`, keeping each one's transition time
/// from `current` when its status did not change (the spec's meaning of
/// `lastTransitionTime`), else `now`.
pub fn finish(
    conds: &[Cond],
    generation: Option<i64>,
    current: &[Condition],
    now: &Timestamp,
) -> Vec<Condition> {
    conds
        .iter()
        .map(|c| {
            let status = c.status_str();
            let kept = current
                .iter()
                .find(|old| old.type_ == c.type_ && old.status == status)
                .map(|old| old.last_transition_time.clone());
            Condition {
                type_: c.type_.to_owned(),
                status: status.to_owned(),
                reason: c.reason.clone(),
                // The API server refuses messages over 32768 bytes.
                message: truncate(&c.message, 32_000),
                observed_generation: generation,
                last_transition_time: kept.unwrap_or(Time(*now)),
            }
        })
        .collect()
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_is_kept_only_while_status_holds() {
        let then = Timestamp::from_second(1_000).expect("valid");
        let now = Timestamp::from_second(2_000).expect("valid");
        let first = finish(
            &[Cond::new("Accepted", true, "Accepted", "ok")],
            Some(1),
            &[],
            &then,
        );
        let same = finish(
            &[Cond::new("Accepted", true, "Accepted", "still ok")],
            Some(2),
            &first,
            &now,
        );
        assert_eq!(same[0].last_transition_time, Time(then));
        assert_eq!(same[0].observed_generation, Some(2));
        let flipped = finish(
            &[Cond::new("Accepted", false, "Invalid", "no")],
            Some(2),
            &first,
            &now,
        );
        assert_eq!(flipped[0].last_transition_time, Time(now));
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let s = "é".repeat(20_000);
        let cut = truncate(&s, 32_000);
        assert!(cut.len() <= 32_000 && s.starts_with(&cut));
    }
}
