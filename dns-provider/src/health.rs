//! Endpoint health as this DNS server sees it: a hysteresis state machine
//! fed by probe results, and the shared cell the answer path reads.
//!
//! The answer path never locks: each probed address has an atomic cell the
//! prober writes and every query reads.

use std::sync::atomic::{AtomicU8, Ordering};

/// What the latest probes say about one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Not probed yet: answered, so a fresh server does not start empty.
    Unknown,
    Healthy,
    Unhealthy,
}

impl Health {
    /// Whether answers may contain the address.
    pub fn serves(self) -> bool {
        self != Health::Unhealthy
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "Unknown",
            Health::Healthy => "Healthy",
            Health::Unhealthy => "Unhealthy",
        }
    }
}

/// The lock-free cell shared between a prober and the answer path.
#[derive(Debug)]
pub struct HealthCell(AtomicU8);

impl Default for HealthCell {
    fn default() -> Self {
        Self(AtomicU8::new(0))
    }
}

impl HealthCell {
    pub fn get(&self) -> Health {
        match self.0.load(Ordering::Relaxed) {
            1 => Health::Healthy,
            2 => Health::Unhealthy,
            _ => Health::Unknown,
        }
    }

    pub fn set(&self, health: Health) {
        let value = match health {
            Health::Unknown => 0,
            Health::Healthy => 1,
            Health::Unhealthy => 2,
        };
        self.0.store(value, Ordering::Relaxed);
    }
}

/// Consecutive-result counting with separate thresholds to leave and to
/// return, so one lost probe does not flap an endpoint out and back.
#[derive(Clone, Debug)]
pub struct Hysteresis {
    failure_threshold: u32,
    success_threshold: u32,
    state: Health,
    successes: u32,
    failures: u32,
}

impl Hysteresis {
    pub fn new(failure_threshold: u32, success_threshold: u32) -> Self {
        Self {
            failure_threshold: failure_threshold.max(1),
            success_threshold: success_threshold.max(1),
            state: Health::Unknown,
            successes: 0,
            failures: 0,
        }
    }

    pub fn state(&self) -> Health {
        self.state
    }

    /// Records one probe result; returns the new state when it changed.
    pub fn observe(&mut self, success: bool) -> Option<Health> {
        if success {
            self.successes += 1;
            self.failures = 0;
        } else {
            self.failures += 1;
            self.successes = 0;
        }
        let next = match self.state {
            // The first result decides: a server starting while an
            // endpoint is down must not hand it out for thresholds × interval.
            Health::Unknown if success => Health::Healthy,
            Health::Unknown => Health::Unhealthy,
            Health::Healthy if self.failures >= self.failure_threshold => Health::Unhealthy,
            Health::Unhealthy if self.successes >= self.success_threshold => Health::Healthy,
            unchanged => unchanged,
        };
        (next != self.state).then(|| {
            self.state = next;
            next
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds results (`+` success, `-` failure) and returns the state after
    /// each as a string of `H`, `U`.
    fn run(failures: u32, successes: u32, results: &str) -> String {
        let mut machine = Hysteresis::new(failures, successes);
        results
            .chars()
            .map(|c| {
                machine.observe(c == '+');
                match machine.state() {
                    Health::Healthy => 'H',
                    Health::Unhealthy => 'U',
                    Health::Unknown => '?',
                }
            })
            .collect()
    }

    #[test]
    fn hysteresis_table() {
        for (failures, successes, results, states) in [
            // The first result decides either way.
            (3, 2, "+", "H"),
            (3, 2, "-", "U"),
            // Healthy needs `failures` consecutive failures to leave...
            (3, 2, "+--+---", "HHHHHHU"),
            // ...and `successes` consecutive successes to come back.
            (3, 2, "-+-++", "UUUUH"),
            (1, 1, "+-+-", "HUHU"),
            (2, 3, "+-- +++", "HHU UUH"),
            // A zero threshold behaves as one.
            (0, 0, "+-+", "HUH"),
        ] {
            let results = results.replace(' ', "");
            let states = states.replace(' ', "");
            assert_eq!(
                run(failures, successes, &results),
                states,
                "failures {failures} successes {successes} results {results}"
            );
        }
    }

    #[test]
    fn observe_reports_only_transitions() {
        let mut machine = Hysteresis::new(2, 2);
        assert_eq!(machine.observe(true), Some(Health::Healthy));
        assert_eq!(machine.observe(true), None);
        assert_eq!(machine.observe(false), None);
        assert_eq!(machine.observe(false), Some(Health::Unhealthy));
    }

    #[test]
    fn cell_round_trips() {
        let cell = HealthCell::default();
        assert_eq!(cell.get(), Health::Unknown);
        assert!(cell.get().serves());
        for health in [Health::Healthy, Health::Unhealthy, Health::Unknown] {
            cell.set(health);
            assert_eq!(cell.get(), health);
        }
        assert!(!Health::Unhealthy.serves());
    }
}
