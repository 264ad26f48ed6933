//! Response-rate limiting for UDP, where source addresses can be spoofed and
//! the server could be used to reflect traffic at a victim.
//!
//! Each client network (IPv4 /24, IPv6 /56, as BIND's RRL groups them) has
//! a token bucket: `rate` responses per second with a burst of one second's
//! worth. Over the limit, every `slip`-th response goes out empty with TC
//! set, so a real client behind that network retries over TCP (which
//! cannot be spoofed and is not limited); the rest are dropped.
//!
//! Memory is fixed: buckets live in a table of `slots`, indexed by a hash
//! of the network. Networks that collide share a bucket, which can only make
//! limiting stricter for them, never let traffic through.

use std::{hash::BuildHasher, net::IpAddr, sync::Mutex, time::Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Send an empty truncated response: "ask me over TCP".
    Slip,
    Drop,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Responses per second per client network; 0 disables limiting.
    pub rate: u32,
    /// Every n-th limited response is slipped (0: never slip).
    pub slip: u32,
    pub slots: usize,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            rate: 1000,
            slip: 2,
            slots: 16_384,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    last: Option<Instant>,
    limited: u32,
}

pub struct RateLimiter {
    config: RateLimitConfig,
    buckets: Box<[Mutex<Bucket>]>,
    hasher: std::collections::hash_map::RandomState,
}

impl RateLimiter {
    pub fn new(config: RateLimitConfig) -> Self {
        let slots = if config.rate == 0 {
            0
        } else {
            config.slots.max(1)
        };
        let full = Bucket {
            tokens: f64::from(config.rate),
            last: None,
            limited: 0,
        };
        Self {
            config,
            buckets: (0..slots).map(|_| Mutex::new(full)).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    pub fn check(&self, client: IpAddr, now: Instant) -> Verdict {
        if self.buckets.is_empty() {
            return Verdict::Allow;
        }
        let index = self.slot(client);
        // A poisoned lock only means another thread panicked mid-update of
        // plain numbers; the bucket is still usable.
        let mut bucket = match self.buckets[index].lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let rate = f64::from(self.config.rate);
        if let Some(last) = bucket.last {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            bucket.tokens = (bucket.tokens + elapsed * rate).min(rate);
        }
        bucket.last = Some(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            bucket.limited = 0;
            return Verdict::Allow;
        }
        bucket.limited = bucket.limited.wrapping_add(1);
        if self.config.slip > 0 && bucket.limited % self.config.slip == 0 {
            Verdict::Slip
        } else {
            Verdict::Drop
        }
    }

    /// The bucket a client's network uses; only called with buckets.
    fn slot(&self, client: IpAddr) -> usize {
        (self.hasher.hash_one(network(client)) % self.buckets.len() as u64) as usize
    }
}

/// The network a client is grouped by.
fn network(ip: IpAddr) -> (bool, u64) {
    match ip {
        IpAddr::V4(v4) => (false, u64::from(u32::from(v4) >> 8)),
        IpAddr::V6(v6) => (true, (u128::from(v6) >> 72) as u64),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    fn run(limiter: &RateLimiter, client: &str, count: usize, at: Instant) -> Vec<Verdict> {
        (0..count).map(|_| limiter.check(ip(client), at)).collect()
    }

    #[test]
    fn a_burst_of_one_seconds_worth_then_slip_and_drop() {
        let limiter = RateLimiter::new(RateLimitConfig {
            rate: 3,
            slip: 2,
            slots: 64,
        });
        let t0 = Instant::now();
        use Verdict::*;
        assert_eq!(
            run(&limiter, "192.0.2.1", 7, t0),
            [Allow, Allow, Allow, Drop, Slip, Drop, Slip]
        );
        // The same /24 shares the bucket; another network does not, unless
        // it hashes to the same slot (the hasher is seeded per limiter), so
        // take the first network that lands elsewhere and one that collides.
        assert_eq!(run(&limiter, "192.0.2.200", 1, t0), [Drop]);
        let full = limiter.slot(ip("192.0.2.1"));
        let networks = (0..=255u8).map(|n| format!("198.51.{n}.1"));
        let (elsewhere, colliding): (Vec<String>, Vec<String>) =
            networks.partition(|net| limiter.slot(ip(net)) != full);
        assert_eq!(run(&limiter, &elsewhere[0], 1, t0), [Allow]);
        if let Some(colliding) = colliding.first() {
            assert_eq!(run(&limiter, colliding, 1, t0), [Slip]);
        }
        // Tokens come back at `rate` per second, capped at the burst.
        let later = t0 + Duration::from_millis(700);
        assert_eq!(run(&limiter, "192.0.2.1", 3, later), [Allow, Allow, Drop]);
        let much_later = t0 + Duration::from_secs(60);
        assert_eq!(
            run(&limiter, "192.0.2.1", 4, much_later),
            [Allow, Allow, Allow, Drop]
        );
    }

    #[test]
    fn ipv6_groups_by_56_and_zero_rate_disables() {
        let limiter = RateLimiter::new(RateLimitConfig {
            rate: 1,
            slip: 0,
            slots: 64,
        });
        let t0 = Instant::now();
        assert_eq!(run(&limiter, "2001:db8:0:ff::1", 1, t0), [Verdict::Allow]);
        assert_eq!(run(&limiter, "2001:db8:0:1::1", 1, t0), [Verdict::Drop]);

        let off = RateLimiter::new(RateLimitConfig {
            rate: 0,
            ..RateLimitConfig::default()
        });
        assert!(
            run(&off, "192.0.2.1", 10_000, t0)
                .iter()
                .all(|v| *v == Verdict::Allow)
        );
    }
}
