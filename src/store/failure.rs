//! The store's failure: once a flush or a write behind the journal has failed, nothing the
//! store holds in memory can be trusted to be on disk (DESIGN §8, "a failed flush is
//! fatal"). The first failure is kept; from then on every durability wait fails at once, so
//! no 2xx is sent for anything, and the app stops with the cause (`Store::failed`). The
//! next start replays the journal.

use std::sync::Arc;

use tokio::sync::watch;

#[derive(Clone)]
pub(crate) struct Failure {
    cause: Arc<watch::Sender<Option<String>>>,
}

impl Failure {
    pub(crate) fn new() -> Failure {
        Failure {
            cause: Arc::new(watch::Sender::new(None)),
        }
    }

    /// Records the first failure (later ones add nothing) and logs it.
    pub(crate) fn fail(&self, cause: String) {
        self.cause.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            tracing::error!(%cause, "The store failed; stopping: the next start replays the journal");
            *current = Some(cause);
            true
        });
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
