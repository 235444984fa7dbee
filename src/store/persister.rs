//! The persister: writes the overlay's changes to sled behind the journal, and records the
//! checkpoint once they are durable.
//!
//! One thread runs cycles: let commits gather for `GATHER`, note the checkpoint the journal
//! supports now, freeze the overlay's active generation, write its changes tree by tree in
//! key order (indexes before snapshots; sorted writes touch each sled leaf once instead of
//! at random), wait for a group-commit flush, record the checkpoint, release the
//! generation. A crash anywhere in a cycle leaves the previous checkpoint, and replay from
//! it rebuilds whatever the overlay held (DESIGN §3 "Recovery replays the journal").
//!
//! Lifecycle: started by `Store::open`; stops when the store closes, after writing out
//! everything the overlay still holds and recording the final checkpoint, so a clean
//! shutdown replays nothing at the next start.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::StoreError;
use super::failure::Failure;
use super::group_commit::GroupCommit;
use super::journal::Journal;
use super::overlay::{Generation, Overlay, Tree};

/// How long commits gather in the active generation before a cycle writes them out, unless
/// configured otherwise. Longer batches write more of each sled leaf at once; shorter ones
/// keep less to replay.
pub(crate) const GATHER: Duration = Duration::from_millis(20);
/// How long an idle persister sleeps before it looks again anyway.
const IDLE: Duration = Duration::from_millis(500);

/// What the persister thread works with.
pub(crate) struct Parts {
    pub(crate) overlay: Arc<Overlay>,
    pub(crate) trees: Vec<sled::Tree>,
    pub(crate) journal: Journal,
    pub(crate) flusher: Arc<GroupCommit>,
    pub(crate) gather: Duration,
    pub(crate) failure: Failure,
}

pub(crate) struct Persister {
    stop: Arc<AtomicBool>,
    overlay: Arc<Overlay>,
    cycles: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Persister {
    pub(crate) fn start(parts: Parts) -> std::io::Result<Persister> {
        let stop = Arc::new(AtomicBool::new(false));
        let cycles = Arc::new(AtomicU64::new(0));
        let (thread_stop, thread_cycles) = (stop.clone(), cycles.clone());
        let overlay = parts.overlay.clone();
        let thread = std::thread::Builder::new()
            .name("ticketing-persister".into())
            .spawn(move || run(&parts, &thread_stop, &thread_cycles))?;
        Ok(Persister {
            stop,
            overlay,
            cycles,
            thread: Some(thread),
        })
    }

    /// Generations written out since the store opened.
    pub(crate) fn cycles(&self) -> u64 {
        self.cycles.load(Ordering::Relaxed)
    }

    /// Writes out what the overlay holds, records the final checkpoint and stops.
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.overlay.wake_persister();
        if let Some(thread) = self.thread.take() {
            // A panicked persister leaves the checkpoint where it was: replay covers it.
            let _ = thread.join();
        }
    }
}

impl Drop for Persister {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(parts: &Parts, stopping: &AtomicBool, cycles: &AtomicU64) {
    let overlay = &parts.overlay;
    let stop = || stopping.load(Ordering::Acquire);
    loop {
        overlay.persister_wait(IDLE, || stop() || overlay.has_work());
        // Let commits gather, unless someone waits for the persister or it must stop.
        overlay.persister_wait(parts.gather, || {
            stop() || overlay.hurried() || overlay.is_filling()
        });
        let stop = stop();
        if parts.failure.cause().is_some() {
            // Nothing more is written: the journal, not this overlay, is the truth, and the
            // next start replays it.
            return;
        }
        let checkpoint = parts.journal.checkpoint_candidate();
        match parts.overlay.freeze() {
            Some(generation) => {
                if !write_out(parts, &generation, checkpoint) {
                    // The generation stays readable; the store has failed and the app stops.
                    return;
                }
                parts.overlay.release();
                cycles.fetch_add(1, Ordering::Relaxed);
            }
            None if stop => {
                if let Err(error) = parts.journal.record_checkpoint(checkpoint) {
                    tracing::error!(%error, "Failed to record the final checkpoint");
                }
                return;
            }
            None => {}
        }
    }
}

/// Writes one generation, waits until it is durable, then records the checkpoint noted
/// before it was frozen. A failure is the store's failure: the checkpoint stays where it was.
fn write_out(parts: &Parts, generation: &Generation, checkpoint: u64) -> bool {
    let written = write_generation(&parts.trees, generation)
        .and_then(|()| parts.flusher.wait_blocking())
        .and_then(|()| parts.journal.record_checkpoint(checkpoint));
    match written {
        Ok(()) => true,
        Err(error) => {
            parts.failure.fail(format!(
                "writing projections behind the journal failed: {error}"
            ));
            false
        }
    }
}

fn write_generation(trees: &[sled::Tree], generation: &Generation) -> Result<(), StoreError> {
    for tree in Tree::ALL {
        let sled_tree = &trees[tree.index()];
        for (key, value) in generation.changes(tree) {
            match value {
                Some(bytes) => {
                    sled_tree.insert(key, &*bytes)?;
                }
                None => {
                    sled_tree.remove(key)?;
                }
            }
        }
    }
    Ok(())
}
