//! What a request is doing right now: the steps under way (probing a node, scanning its
//! catalog, sampling a table), for the answer to a request that ran past its deadline
//! (`server.request_timeout` → 408/1009 naming them).
//!
//! A request runs its work inside [`Tracker::run`]; code anywhere below marks a step with
//! [`step`], which lasts until the returned guard is dropped. Outside a tracked scope (the
//! CLI) a step costs one task-local lookup and records nothing.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

tokio::task_local! {
    static CURRENT: Tracker;
}

/// The steps under way in one tracked scope.
#[derive(Debug, Clone, Default)]
pub struct Tracker(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    next: AtomicU64,
    steps: Mutex<BTreeMap<u64, String>>,
}

impl Tracker {
    /// Runs `f` with this tracker as the current one (for [`step`] in `f` and below, in this
    /// task).
    pub fn run<F: Future>(&self, f: F) -> impl Future<Output = F::Output> {
        CURRENT.scope(self.clone(), f)
    }

    /// The steps under way now, oldest first.
    pub fn now(&self) -> Vec<String> {
        self.steps().values().cloned().collect()
    }

    fn steps(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, String>> {
        self.0.steps.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A step under way until dropped.
#[must_use = "the step ends when this is dropped"]
pub struct Step(Option<(Tracker, u64)>);

impl Drop for Step {
    fn drop(&mut self) {
        if let Some((t, id)) = self.0.take() {
            t.steps().remove(&id);
        }
    }
}

/// Marks `what` (`scanning the catalog of 127.0.0.1:3307`) as under way in the current
/// tracked scope, if there is one.
pub fn step(what: impl FnOnce() -> String) -> Step {
    Step(
        CURRENT
            .try_with(|t| {
                let id = t.0.next.fetch_add(1, Ordering::Relaxed);
                t.steps().insert(id, what());
                (t.clone(), id)
            })
            .ok(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn steps_last_while_their_guard_lives_and_only_inside_a_scope() {
        let outside = step(|| "not tracked".into());
        assert!(outside.0.is_none());
        let t = Tracker::default();
        let seen = t.clone();
        t.run(async move {
            let a = step(|| "probing a".into());
            {
                let _b = step(|| "scanning b".into());
                assert_eq!(seen.now(), ["probing a", "scanning b"]);
                tokio::task::yield_now().await;
            }
            assert_eq!(seen.now(), ["probing a"]);
            drop(a);
        })
        .await;
        assert!(t.now().is_empty());
    }
}
