//! Picking one endpoint of a Service: random start, then the first one not
//! passively ejected. An endpoint is ejected for a while after `threshold`
//! consecutive failures (connect errors or 5xx), as Envoy's outlier detection
//! does; when every endpoint is ejected the pick ignores ejection rather than
//! fail the request (Envoy's panic mode).

use std::{collections::HashMap, net::SocketAddr, sync::Mutex, time::Duration};

use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct EjectionOptions {
    /// Consecutive failures that eject an endpoint; 0 disables ejection.
    pub threshold: u32,
    pub duration: Duration,
    /// Endpoints tracked at most; failures beyond that are not recorded, so a
    /// flood of dying endpoints cannot grow memory without bound.
    pub max_tracked: usize,
}

impl Default for EjectionOptions {
    fn default() -> Self {
        Self {
            threshold: 5,
            duration: Duration::from_secs(10),
            max_tracked: 4096,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Health {
    consecutive_failures: u32,
    ejected_until: Option<Instant>,
}

/// Failure counts of endpoints that failed lately; healthy endpoints have no
/// entry. A plain mutex: it is held for a map lookup, never across an await.
#[derive(Debug, Default)]
pub struct Outliers {
    options: EjectionOptions,
    state: Mutex<HashMap<SocketAddr, Health>>,
}

impl Outliers {
    pub fn new(options: EjectionOptions) -> Self {
        Self {
            options,
            state: Mutex::default(),
        }
    }

    /// One of `endpoints`, starting at `draw`, skipping ejected ones while any
    /// is left; `None` only when the list is empty.
    pub fn pick(&self, endpoints: &[SocketAddr], draw: usize) -> Option<SocketAddr> {
        self.pick_healthy(endpoints, draw)
            .or_else(|| endpoints.get(draw % endpoints.len().max(1)).copied())
    }

    /// One of `endpoints` not ejected, starting at `draw`; `None` when the
    /// list is empty or every one is ejected (where spillover can help).
    pub fn pick_healthy(&self, endpoints: &[SocketAddr], draw: usize) -> Option<SocketAddr> {
        if endpoints.is_empty() {
            return None;
        }
        let start = draw % endpoints.len();
        let now = Instant::now();
        let Ok(state) = self.state.lock() else {
            return endpoints.get(start).copied();
        };
        endpoints[start..]
            .iter()
            .chain(&endpoints[..start])
            .find(|e| {
                state
                    .get(e)
                    .and_then(|h| h.ejected_until)
                    .is_none_or(|until| until <= now)
            })
            .copied()
    }

    pub fn success(&self, endpoint: SocketAddr) {
        if let Ok(mut state) = self.state.lock()
            && !state.is_empty()
        {
            state.remove(&endpoint);
        }
    }

    pub fn failure(&self, endpoint: SocketAddr) {
        if self.options.threshold == 0 {
            return;
        }
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let now = Instant::now();
        if state.len() >= self.options.max_tracked && !state.contains_key(&endpoint) {
            // Make room from entries whose ejection is over; if none, forget
            // this failure rather than grow.
            state.retain(|_, h| h.ejected_until.is_some_and(|until| until > now));
            if state.len() >= self.options.max_tracked {
                return;
            }
        }
        let h = state.entry(endpoint).or_default();
        if h.ejected_until.is_some_and(|until| until <= now) {
            // Back from ejection: one more failure ejects it again at once.
            h.consecutive_failures = self.options.threshold.saturating_sub(1);
            h.ejected_until = None;
        }
        h.consecutive_failures = h.consecutive_failures.saturating_add(1);
        if h.consecutive_failures >= self.options.threshold {
            h.ejected_until = Some(now + self.options.duration);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u8) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, i], 80))
    }

    #[tokio::test(start_paused = true)]
    async fn ejected_endpoints_are_skipped_until_they_return() {
        let o = Outliers::new(EjectionOptions {
            threshold: 2,
            duration: Duration::from_secs(10),
            max_tracked: 8,
        });
        let eps = [addr(1), addr(2)];
        o.failure(addr(1));
        assert_eq!(o.pick(&eps, 0), Some(addr(1)), "one failure is not enough");
        o.failure(addr(1));
        for draw in 0..4 {
            assert_eq!(o.pick(&eps, draw), Some(addr(2)));
        }
        tokio::time::advance(Duration::from_secs(11)).await;
        assert_eq!(o.pick(&eps, 0), Some(addr(1)));
        o.success(addr(1));
        o.failure(addr(1));
        assert_eq!(o.pick(&eps, 0), Some(addr(1)), "success reset the count");
    }

    #[tokio::test(start_paused = true)]
    async fn all_ejected_still_picks_one() {
        let o = Outliers::new(EjectionOptions {
            threshold: 1,
            ..EjectionOptions::default()
        });
        o.failure(addr(1));
        assert_eq!(o.pick(&[addr(1)], 7), Some(addr(1)));
        assert_eq!(o.pick(&[], 0), None);
    }

    #[tokio::test(start_paused = true)]
    async fn tracking_is_bounded() {
        let o = Outliers::new(EjectionOptions {
            threshold: 3,
            duration: Duration::from_secs(1),
            max_tracked: 2,
        });
        for i in 0..10 {
            o.failure(addr(i));
        }
        assert!(o.state.lock().map(|s| s.len()).unwrap_or(0) <= 2);
    }
}
