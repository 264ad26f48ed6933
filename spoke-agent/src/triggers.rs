//! The watches that trigger the Work controller, each failing on its own.
//!
//! kube-runtime's `Controller` backs off its merged trigger stream whenever
//! any trigger yields an error (`Controller::trigger_backoff`). The agent
//! watches two clusters: while the hub is down, its watches fail at every
//! retry, and each failure would pause the member's watches as well, so
//! drift in the member would wait, for tens of seconds, on the hub. Here
//! every watch backs off alone (client-go's schedule) and its errors are
//! logged and dropped, so the controller only ever sees events.

use std::future::ready;

use futures::{Stream, StreamExt};
use kube::runtime::{WatchStreamExt, watcher};

/// `events` with its own backoff, its errors logged (naming `what`) and
/// never passed on.
pub fn isolated<K: Send>(
    what: String,
    events: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
) -> impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send {
    events.default_backoff().filter_map(move |event| {
        ready(match event {
            Ok(event) => Some(Ok(event)),
            Err(error) => {
                tracing::warn!(watch = what, %error, "watch failed; retrying with backoff");
                None
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::stream;
    use kube::runtime::watcher::Event;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_failing_watch_never_delays_another() {
        // What the Controller does with its merged triggers: back off on
        // any error. A hub watch failing at every retry, a member watch
        // with an event: the event is there at once.
        let failing = stream::repeat_with(|| Err(watcher::Error::NoResourceVersion));
        let member = stream::iter([Ok(Event::Apply(7))]).chain(stream::pending());
        let merged = stream::select(
            isolated("hub".into(), failing),
            isolated("member".into(), member),
        );
        let mut triggers = Box::pin(merged.default_backoff());
        let started = tokio::time::Instant::now();
        let first = triggers.next().await;
        assert!(matches!(first, Some(Ok(Event::Apply(7)))), "{first:?}");
        assert_eq!(started.elapsed(), Duration::ZERO, "no backoff in between");
    }

    #[tokio::test(start_paused = true)]
    async fn errors_are_dropped_and_backed_off_events_pass() {
        let failure = || Err(watcher::Error::NoResourceVersion);
        let events = stream::iter([
            failure(),
            failure(),
            Ok(Event::Apply(1)),
            Ok(Event::Apply(2)),
        ]);
        let started = tokio::time::Instant::now();
        let got: Vec<i32> = isolated("test".into(), events)
            .filter_map(|e| {
                ready(match e {
                    Ok(Event::Apply(n)) => Some(n),
                    _ => None,
                })
            })
            .collect()
            .await;
        assert_eq!(got, [1, 2], "only events, in order");
        assert!(
            started.elapsed() >= Duration::from_millis(800),
            "two failures back off (client-go starts at 800 ms): {:?}",
            started.elapsed()
        );
    }
}
