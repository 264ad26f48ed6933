//! A kind named as `kubectl` names it, `Kind.group`
//! (`BackendTrafficPolicy.gateway.envoyproxy.io`): how the hub is told
//! which policy kinds to federate and the agent which extra kinds to manage.

use std::{fmt, str::FromStr};

/// A kind of a named (non-core) API group.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupKind {
    pub kind: String,
    pub group: String,
}

impl GroupKind {
    pub fn new(kind: &str, group: &str) -> GroupKind {
        GroupKind {
            kind: kind.into(),
            group: group.into(),
        }
    }
}

impl fmt::Display for GroupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind, self.group)
    }
}

impl FromStr for GroupKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (kind, group) = text.split_once('.').ok_or_else(|| {
            format!(
                "{text:?}: expected Kind.group, e.g. BackendTrafficPolicy.gateway.envoyproxy.io"
            )
        })?;
        let upper = kind.chars().next().is_some_and(|c| c.is_ascii_uppercase());
        let kind_ok = upper && kind.chars().all(|c| c.is_ascii_alphanumeric());
        let group_ok = group.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        });
        if !kind_ok || !group_ok || group.len() > 253 {
            return Err(format!(
                "{text:?}: expected Kind.group with a capitalised kind and a DNS group"
            ));
        }
        Ok(GroupKind {
            kind: kind.into(),
            group: group.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_named_kind_dot_group() {
        let parsed: GroupKind = "BackendTrafficPolicy.gateway.envoyproxy.io"
            .parse()
            .expect("valid");
        assert_eq!(parsed.kind, "BackendTrafficPolicy");
        assert_eq!(parsed.group, "gateway.envoyproxy.io");
        assert_eq!(
            parsed.to_string(),
            "BackendTrafficPolicy.gateway.envoyproxy.io"
        );
        for bad in [
            "",
            "BackendTrafficPolicy",
            "backendTrafficPolicy.gateway.envoyproxy.io",
            "Backend-Policy.example.com",
            "Policy.",
            "Policy.example..com",
            "Policy.Example.com",
        ] {
            assert!(bad.parse::<GroupKind>().is_err(), "{bad:?} was accepted");
        }
    }
}
