//! Gateway addresses from a configured pool: one IP per Gateway, stable
//! across restarts (an IP already in a Gateway's status is kept), an IP
//! requested in `spec.addresses` honoured when it lies in the pool.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
    str::FromStr,
};

use super::ObjectKey;

/// Inclusive IP ranges, e.g. `127.20.5.100-127.20.5.200,127.20.6.7`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressPool {
    ranges: Vec<(IpAddr, IpAddr)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("address pool {0:?}: {1:?} is not an IP address")]
    NotAnIp(String, String),
    #[error("address pool {0:?}: range {1:?} mixes IPv4 and IPv6 or ends before it starts")]
    BadRange(String, String),
    #[error("address pool is empty")]
    Empty,
}

impl FromStr for AddressPool {
    type Err = PoolError;

    fn from_str(s: &str) -> Result<Self, PoolError> {
        let ip = |part: &str| {
            part.trim()
                .parse::<IpAddr>()
                .map_err(|_| PoolError::NotAnIp(s.to_owned(), part.to_owned()))
        };
        let mut ranges = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (start, end) = match part.split_once('-') {
                Some((a, b)) => (ip(a)?, ip(b)?),
                None => (ip(part)?, ip(part)?),
            };
            if start.is_ipv4() != end.is_ipv4() || to_u128(start) > to_u128(end) {
                return Err(PoolError::BadRange(s.to_owned(), part.to_owned()));
            }
            ranges.push((start, end));
        }
        if ranges.is_empty() {
            return Err(PoolError::Empty);
        }
        Ok(Self { ranges })
    }
}

impl AddressPool {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.ranges.iter().any(|(start, end)| {
            start.is_ipv4() == ip.is_ipv4()
                && (to_u128(*start)..=to_u128(*end)).contains(&to_u128(ip))
        })
    }

    /// The lowest address not in `taken`. Scans at most `taken.len() + 1`
    /// addresses per range, so a large (IPv6) pool costs nothing.
    fn first_free(&self, taken: &BTreeSet<IpAddr>) -> Option<IpAddr> {
        for (start, end) in &self.ranges {
            let (mut n, last) = (to_u128(*start), to_u128(*end));
            loop {
                let ip = from_u128(n, start.is_ipv4());
                if !taken.contains(&ip) {
                    return Some(ip);
                }
                if n == last {
                    break;
                }
                n += 1;
            }
        }
        None
    }
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_u128(n: u128, v4: bool) -> IpAddr {
    if v4 {
        // Only called with values between two IPv4 addresses.
        IpAddr::from(u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes())
    } else {
        IpAddr::from(n.to_be_bytes())
    }
}

/// What one Gateway asks for and has.
#[derive(Debug, Clone, Default)]
pub struct AddressRequest {
    pub gateway: ObjectKey,
    /// `spec.addresses` as (type, value).
    pub requested: Vec<(Option<String>, Option<String>)>,
    /// `status.addresses` values, as last written.
    pub current: Vec<String>,
}

/// The outcome for one Gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignment {
    Assigned(IpAddr),
    /// `Accepted=False, UnsupportedAddress`: the request cannot be honoured
    /// by this implementation at all.
    Unsupported(String),
    /// `Programmed=False, AddressNotUsable`: the requested IP is in use.
    NotUsable(String),
    /// `Programmed=False, AddressNotAssigned`: the pool is exhausted.
    NotAssigned(String),
}

/// Assigns addresses to `requests`, which come oldest Gateway first: the
/// older Gateway wins a contested IP. Explicit requests go first, then
/// Gateways keep what their status says, then the rest get the first free IP.
pub fn assign(pool: &AddressPool, requests: &[AddressRequest]) -> BTreeMap<ObjectKey, Assignment> {
    let mut out = BTreeMap::new();
    let mut taken = BTreeSet::new();
    for r in requests.iter().filter(|r| !r.requested.is_empty()) {
        let outcome = match requested_ip(pool, &r.requested) {
            Err(message) => Assignment::Unsupported(message),
            Ok(ip) if !taken.insert(ip) => {
                Assignment::NotUsable(format!("{ip} is already used by another Gateway"))
            }
            Ok(ip) => Assignment::Assigned(ip),
        };
        out.insert(r.gateway.clone(), outcome);
    }
    for r in requests.iter().filter(|r| r.requested.is_empty()) {
        let kept = r
            .current
            .iter()
            .filter_map(|v| v.parse::<IpAddr>().ok())
            .find(|ip| pool.contains(*ip) && !taken.contains(ip));
        if let Some(ip) = kept {
            taken.insert(ip);
            out.insert(r.gateway.clone(), Assignment::Assigned(ip));
        }
    }
    let rest: Vec<&AddressRequest> = requests
        .iter()
        .filter(|r| !out.contains_key(&r.gateway))
        .collect();
    for r in rest {
        let outcome = match pool.first_free(&taken) {
            Some(ip) => {
                taken.insert(ip);
                Assignment::Assigned(ip)
            }
            None => Assignment::NotAssigned("the address pool is exhausted".to_owned()),
        };
        out.insert(r.gateway.clone(), outcome);
    }
    out
}

/// The one IP a Gateway's `spec.addresses` asks for, or why it cannot have it.
fn requested_ip(
    pool: &AddressPool,
    requested: &[(Option<String>, Option<String>)],
) -> Result<IpAddr, String> {
    let [(kind, value)] = requested else {
        return Err("only one address per Gateway is supported".to_owned());
    };
    let kind = kind.as_deref().unwrap_or("IPAddress");
    if kind != "IPAddress" {
        return Err(format!("address type {kind} is not supported"));
    }
    let Some(value) = value.as_deref().filter(|v| !v.is_empty()) else {
        return Err("an address without a value is not supported".to_owned());
    };
    let ip = value
        .parse::<IpAddr>()
        .map_err(|_| format!("{value:?} is not an IP address"))?;
    if !pool.contains(ip) {
        return Err(format!("{ip} is outside this controller's address pool"));
    }
    Ok(ip)
}

#[cfg(test)]
mod tests;
