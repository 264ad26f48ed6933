//! What the benchmarks share: their settings from the environment, the
//! process's memory, and latency quantiles.

use std::time::Duration;

/// A comma-separated list of numbers from environment variable `name`, or
/// `default`'s.
pub fn env_list(name: &str, default: &str) -> Vec<usize> {
    std::env::var(name)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}

/// This process's resident memory, in bytes.
pub fn process_rss() -> u64 {
    rss_of("/proc/self/status").unwrap_or(0)
}

/// The resident memory a `/proc/<pid>/status` file gives, in bytes.
pub fn rss_of(status: &str) -> Option<u64> {
    std::fs::read_to_string(status).ok().and_then(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
    })
}

/// The `q` quantile (0 < q <= 1) of `sorted` samples (nearest rank);
/// zero when there are none.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}
