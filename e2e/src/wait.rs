//! Polling for a condition with a deadline, for tests and start-up.

use std::{future::Future, time::Duration};

use crate::{Error, Result};

/// Calls `check` every `every` until it yields `Some`, or fails after
/// `timeout` naming `what`. An `Err` from `check` ends the wait at once.
pub async fn until<T, F, Fut>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut check: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Timeout {
                what: what.to_owned(),
                after: timeout,
            });
        }
        tokio::time::sleep(every).await;
    }
}

/// [`until`] for tests: polls every 100 ms for up to `secs` seconds and
/// panics with what it waited for when time runs out.
pub async fn eventually<T, F, Fut>(what: &str, secs: u64, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    until(
        what,
        Duration::from_secs(secs),
        Duration::from_millis(100),
        check,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}
