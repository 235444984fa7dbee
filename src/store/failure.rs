//! The store's failure: once a flush or a write behind the journal has failed, nothing the
//! store holds in memory can be trusted to be on disk (DESIGN §8, "a failed flush is
//! fatal"). The first failure is kept; from then on every durability wait fails at once, so
//! no 2xx is sent for anything, and the app stops with the cause (`Store::failed`).
//!
//! It also keeps the journal position below which every record was covered by a successful
//! flush. The failure writes that position to the fence (`fence.rs`), and the next start
//! drops every record past it and replays the rest. A flush's success and the failure are
//! decided under one lock, so no flush is acknowledged past a fence already written.

use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::fence::Fence;
use crate::sync::lock;

#[derive(Clone)]
pub(crate) struct Failure {
    state: Arc<Mutex<State>>,
    fence: Arc<Fence>,
    /// The cause, for those who wait for it.
    cause: Arc<watch::Sender<Option<String>>>,
}

struct State {
    failed: bool,
    /// Every journal record below it is on disk.
    flushed_below: u64,
}

impl Failure {
    /// `flushed_below`: the journal's end when the store opened, all of it on disk.
    pub(crate) fn new(fence: Fence, flushed_below: u64) -> Failure {
        Failure {
            state: Arc::new(Mutex::new(State {
                failed: false,
                flushed_below,
            })),
            fence: Arc::new(fence),
            cause: Arc::new(watch::Sender::new(None)),
        }
    }

    /// Records the first failure (later ones add nothing), fences the journal and logs it.
    pub(crate) fn fail(&self, cause: String) {
        let mut state = lock(&self.state);
        if state.failed {
            return;
        }
        state.failed = true;
        tracing::error!(%cause, "The store failed; stopping: the next start replays the journal");
        if let Err(error) = self.fence.set(state.flushed_below) {
            tracing::error!(
                %error,
                fence = state.flushed_below,
                "Failed to record where the journal stops being acknowledged: records refused \
                 just now may reappear at the next start"
            );
        }
        self.cause.send_replace(Some(cause));
    }

    /// A flush that covered every journal record below `covered` succeeded: answers whether
    /// its waiters may be told so (not when the store failed meanwhile).
    pub(crate) fn flushed(&self, covered: u64) -> Result<(), String> {
        let mut state = lock(&self.state);
        if state.failed {
            return Err(self.cause().unwrap_or_default());
        }
        state.flushed_below = state.flushed_below.max(covered);
        Ok(())
    }

    pub(crate) fn cause(&self) -> Option<String> {
        self.cause.borrow().clone()
    }

    /// Resolves with the cause once the store has failed.
    pub(crate) async fn wait(&self) -> String {
        let mut cause = self.cause.subscribe();
        match cause.wait_for(Option::is_some).await {
            Ok(cause) => cause.clone().unwrap_or_default(),
            // The sender lives as long as the store; if it is gone, so is the store.
            Err(_) => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fence_holds_the_last_flushed_position_and_no_flush_is_acknowledged_after_it() {
        let dir = tempfile::tempdir().expect("a dir");
        let (fence, _) = Fence::open(dir.path()).expect("the fence");
        let failure = Failure::new(fence, 5);
        assert_eq!(failure.flushed(9), Ok(()));
        failure.fail("No space left on device".into());
        failure.fail("a later failure".into());
        assert_eq!(
            failure.flushed(12),
            Err("No space left on device".to_owned()),
            "a flush that ends after the failure acknowledges nothing"
        );
        assert_eq!(Fence::open(dir.path()).expect("reopened").1, Some(9));
    }
}
