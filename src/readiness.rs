//! Whether the shop has finished starting: the journal replayed into the projections, the
//! follow-ups it found re-driven. Until then `/readyz` and every `/api/` route answer 503,
//! while `/healthz` already answers (DESIGN §4).
//!
//! Lifecycle: made by `Application::build`, set once by its start-up task, read by the HTTP
//! layer, the hold supervisor and the payment settler (which wait for it before their first
//! look at the store), and by `run_until_stopped`, which stops the app if start-up failed.

use std::sync::Arc;

use tokio::sync::watch;

/// Where start-up is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    Starting,
    /// Serving; the start-up replay applied this many journal events.
    Ready {
        replayed: u64,
    },
    /// Start-up failed, or the store did later; the app stops with this message.
    Failed(String),
}

/// A shared view of the start-up stage. Cheap to clone.
#[derive(Clone)]
pub struct Readiness {
    stage: Arc<watch::Sender<Stage>>,
}

impl Default for Readiness {
    fn default() -> Readiness {
        Readiness::new()
    }
}

impl Readiness {
    pub fn new() -> Readiness {
        Readiness {
            stage: Arc::new(watch::Sender::new(Stage::Starting)),
        }
    }

    pub fn stage(&self) -> Stage {
        self.stage.borrow().clone()
    }

    pub fn is_ready(&self) -> bool {
        matches!(*self.stage.borrow(), Stage::Ready { .. })
    }

    /// Marks start-up done, unless the shop has failed meanwhile.
    pub fn set_ready(&self, replayed: u64) {
        self.stage.send_if_modified(|stage| {
            let starting = *stage == Stage::Starting;
            if starting {
                *stage = Stage::Ready { replayed };
            }
            starting
        });
    }

    /// Marks the shop failed (the first reason is kept): the app stops.
    pub fn set_failed(&self, reason: String) {
        self.stage.send_if_modified(|stage| {
            let first = !matches!(stage, Stage::Failed(_));
            if first {
                *stage = Stage::Failed(reason);
            }
            first
        });
    }

    /// Resolves with the reason once the shop has failed, at start-up or later (its store).
    pub async fn failed(&self) -> String {
        let mut stage = self.stage.subscribe();
        match stage
            .wait_for(|stage| matches!(stage, Stage::Failed(_)))
            .await
        {
            Ok(stage) => match &*stage {
                Stage::Failed(reason) => reason.clone(),
                _ => String::new(),
            },
            Err(_) => std::future::pending().await,
        }
    }

    /// Waits until start-up has ended: `Ok` once ready, `Err` with the reason if it failed.
    pub async fn wait(&self) -> Result<(), String> {
        let mut stage = self.stage.subscribe();
        let ended = stage
            .wait_for(|stage| *stage != Stage::Starting)
            .await
            .map(|stage| stage.clone());
        match ended {
            Ok(Stage::Failed(reason)) => Err(reason),
            Ok(_) => Ok(()),
            Err(_) => Err("start-up was abandoned".to_owned()),
        }
    }
}
