//! Kinds mirrored in memory, the one way every Fedway controller reads the
//! API server: one watch per kind feeding a reflector store, the watches'
//! events merged into one stream, and passes over the stores that start
//! only once every store has listed (a store still listing would look like
//! deleted objects).
//!
//! A consumer that recomputes everything (fedway-proxy's controller, the DNS
//! servers' source) hands [`Mirror::run`] its pass; one that reconciles
//! objects one by one (the hub's Gateway controller) takes
//! [`Mirror::into_parts`] and maps each [`Change`] to what it affects with
//! the kind's `touched`.

use std::{fmt::Debug, future::Future, hash::Hash, time::Duration};

use futures::{StreamExt, stream::BoxStream};
use kube::{
    Api, Resource,
    runtime::{
        WatchStreamExt,
        reflector::{Store, store::Writer},
        watcher::{self, Event},
    },
};
use serde::de::DeserializeOwned;
use tokio::sync::{Notify, watch};

/// One watch event, as a kind's `touched` sees it.
#[derive(Debug)]
pub enum Touch<'a, K> {
    /// Created or changed: the object now.
    Applied(&'a K),
    /// Deleted: the object as it last was.
    Deleted(&'a K),
}

impl<'a, K> Touch<'a, K> {
    pub fn object(&self) -> &'a K {
        match self {
            Self::Applied(object) | Self::Deleted(object) => object,
        }
    }
}

/// What the merged watches report.
#[derive(Debug)]
pub enum Change<T> {
    /// One object applied or deleted: what its kind's `touched` made of it.
    Touched(T),
    /// A kind was listed (first, or again after its watch desynced): any of
    /// its objects may have changed, appeared or gone.
    Listed,
    /// A watch failed; it retries with backoff and its store keeps the last
    /// state meanwhile.
    Failed(watcher::Error),
}

/// Watches of several kinds, each into its own store.
pub struct Mirror<T> {
    watches: Vec<BoxStream<'static, Change<T>>>,
    listed: Listed,
}

impl<T> Default for Mirror<T> {
    fn default() -> Self {
        Self {
            watches: Vec::new(),
            listed: Listed::default(),
        }
    }
}

/// Whether every kind of a mirror has been listed, for any number of
/// waiters. (A store's own `wait_until_ready` wakes only the last task that
/// polled it: with several waiters, the others would wait forever.)
#[derive(Clone, Debug, Default)]
pub struct Listed(Vec<watch::Receiver<bool>>);

impl Listed {
    /// Resolves once every kind has been listed (at once, after that).
    pub async fn wait(&self) {
        for kind in &self.0 {
            // Err only once the watch is gone: nothing more to wait for.
            let _ = kind.clone().wait_for(|listed| *listed).await;
        }
    }
}

impl<T: Send + 'static> Mirror<T> {
    /// Mirrors the objects `api` and `config` select; `touched` says what
    /// each applied or deleted object means to the consumer.
    pub fn kind<K>(
        &mut self,
        api: Api<K>,
        config: watcher::Config,
        touched: impl Fn(Touch<'_, K>) -> T + Send + 'static,
    ) -> Store<K>
    where
        K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
        K::DynamicType: Default + Eq + Hash + Clone + Send + Sync,
    {
        self.kind_with(api, config, Default::default(), touched)
    }

    /// [`Mirror::kind`] for a kind known at run time (a `DynamicObject`).
    pub fn kind_with<K>(
        &mut self,
        api: Api<K>,
        config: watcher::Config,
        dyntype: K::DynamicType,
        touched: impl Fn(Touch<'_, K>) -> T + Send + 'static,
    ) -> Store<K>
    where
        K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
        K::DynamicType: Eq + Hash + Clone + Send + Sync,
    {
        let mut writer = Writer::new(dyntype);
        let store = writer.as_reader();
        let (listed, waiters) = watch::channel(false);
        self.listed.0.push(waiters);
        let changes = watcher::watcher(api, config)
            .default_backoff()
            .filter_map(move |event| {
                let change = match event {
                    Ok(event) => {
                        writer.apply_watcher_event(&event);
                        match &event {
                            Event::Apply(object) => {
                                Some(Change::Touched(touched(Touch::Applied(object))))
                            }
                            Event::Delete(object) => {
                                Some(Change::Touched(touched(Touch::Deleted(object))))
                            }
                            Event::InitDone => {
                                listed.send_replace(true);
                                Some(Change::Listed)
                            }
                            Event::Init | Event::InitApply(_) => None,
                        }
                    }
                    Err(error) => Some(Change::Failed(error)),
                };
                futures::future::ready(change)
            });
        self.watches.push(changes.boxed());
        store
    }

    /// The merged changes of every kind (to be polled: they fill the
    /// stores), and whether every kind has been listed.
    pub fn into_parts(self) -> (BoxStream<'static, Change<T>>, Listed) {
        (
            futures::stream::select_all(self.watches).boxed(),
            self.listed,
        )
    }

    /// Runs `pass` once every store has listed, then after each burst of
    /// changes, forever (the watches retry on their own). `health` hears
    /// each watch failure, and `None` for each event that arrived well.
    pub async fn run<F, Fut>(
        self,
        passes: Passes,
        mut health: impl FnMut(Option<&watcher::Error>),
        pass: F,
    ) where
        F: FnMut() -> Fut,
        Fut: Future<Output = Pass>,
    {
        let (changes, listed) = self.into_parts();
        let notify = Notify::new();
        let drive = changes.for_each(|change| {
            match &change {
                Change::Failed(error) => health(Some(error)),
                Change::Touched(_) | Change::Listed => {
                    health(None);
                    notify.notify_one();
                }
            }
            futures::future::ready(())
        });
        tokio::select! {
            () = drive => tracing::warn!("watches ended"),
            () = passes.run(listed.wait(), &notify, pass) => {}
        }
    }
}

/// How passes follow changes.
#[derive(Clone, Copy, Debug)]
pub struct Passes {
    /// Changes arriving within this window after the first are handled by
    /// one pass.
    pub debounce: Duration,
    /// Pause before a pass that asked to be retried runs again.
    pub retry: Duration,
}

/// How a pass ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    Done,
    /// Something failed or could not be done yet: run again after the
    /// retry pause.
    Retry,
}

impl Passes {
    /// Calls `pass` once `ready` resolves, then after each burst of
    /// `notify`s (a change during a pass leaves a permit: one more pass
    /// follows), forever.
    pub async fn run<F, Fut>(self, ready: impl Future<Output = ()>, notify: &Notify, mut pass: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Pass>,
    {
        ready.await;
        notify.notify_one();
        loop {
            notify.notified().await;
            tokio::time::sleep(self.debounce).await;
            if pass().await == Pass::Retry {
                tokio::time::sleep(self.retry).await;
                notify.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;

    /// A burst of notifications within the debounce window is one pass;
    /// a pass asking to be retried runs again without a notification.
    #[tokio::test(start_paused = true)]
    async fn bursts_become_one_pass_and_retries_repeat() {
        let notify = Arc::new(Notify::new());
        let passes = Arc::new(AtomicUsize::new(0));
        let run = {
            let (notify, passes) = (notify.clone(), passes.clone());
            tokio::spawn(async move {
                Passes {
                    debounce: Duration::from_millis(100),
                    retry: Duration::from_secs(1),
                }
                .run(async {}, &notify, || {
                    // The third pass fails once.
                    let n = passes.fetch_add(1, Ordering::SeqCst) + 1;
                    async move { if n == 3 { Pass::Retry } else { Pass::Done } }
                })
                .await;
            })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(passes.load(Ordering::SeqCst), 1, "one pass once ready");
        for _ in 0..10 {
            notify.notify_one();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        // Ten notifications within 50 ms: one pass for the first, one for
        // the permit the others left while it waited out the window (this
        // third pass fails), never ten.
        assert_eq!(passes.load(Ordering::SeqCst), 3);
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(
            passes.load(Ordering::SeqCst),
            4,
            "the failed pass ran again"
        );
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(passes.load(Ordering::SeqCst), 4, "no change, no pass");
        run.abort();
    }

    /// Every waiter wakes once every kind is listed — not only the last
    /// one to ask, as with a store's own readiness.
    #[tokio::test(start_paused = true)]
    async fn every_waiter_sees_the_kinds_listed() {
        let (first, first_listed) = watch::channel(false);
        let (second, second_listed) = watch::channel(false);
        let listed = Listed(vec![first_listed, second_listed]);
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let listed = listed.clone();
                tokio::spawn(async move { listed.wait().await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(10)).await;
        first.send_replace(true);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(waiters.iter().all(|w| !w.is_finished()), "one kind of two");
        second.send_replace(true);
        for waiter in waiters {
            tokio::time::timeout(Duration::from_secs(1), waiter)
                .await
                .expect("woken")
                .expect("no panic");
        }
    }
}
