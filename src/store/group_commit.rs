//! Group commit: one thread makes writes durable for every waiter at once.
//!
//! sled acknowledges a write before it is on disk, and concurrent `flush_async` calls deadlock on
//! 0.34.7 (CRATES.md). So a single flusher thread takes every waiter queued so far, calls the
//! blocking `flush()` once, and wakes them all. A waiter queued after its write is answered only by
//! a flush that began after the write: that is the durability guarantee.
//!
//! Under load the flusher waits `GATHER` before taking a batch, so that one flush serves
//! the writers that arrive meanwhile: on this machine an fsync takes well under a
//! millisecond, and flushing at once served about two waiters per flush, spending the core
//! on flushes instead of requests (docs/BENCHMARKS.md). A write that finds the store idle
//! is flushed at once.
//!
//! Lifecycle: started by `Store::open`; the thread holds a clone of the database and stops
//! when the `GroupCommit` is dropped (with the store), after serving the waiters it has.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::StoreError;
use super::failure::Failure;
use super::journal::Journal;
use crate::sync::lock;

type Waiter = oneshot::Sender<Result<(), String>>;

/// How long the flusher lets writers gather when the previous flush ended less than this
/// long ago.
const GATHER: Duration = Duration::from_millis(1);

#[derive(Default)]
struct Queue {
    waiters: Vec<Waiter>,
    stopping: bool,
    /// The flusher is asleep on the condvar and must be woken; otherwise it will see new
    /// waiters on its own, and a wake-up would only cost a system call.
    idle: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Flushes done, and waiters they answered: their ratio is the group-commit batch size.
    flushes: AtomicU64,
    waiters_served: AtomicU64,
    /// Where each flush's seconds are recorded (`/metrics`): a slow disk shows there
    /// first, since every writer waiting meanwhile waits for it.
    flush_seconds: metrics::Histogram,
    /// Set by the first failed flush; every wait fails from then on.
    failure: Failure,
}

pub(crate) struct GroupCommit {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl GroupCommit {
    pub(crate) fn start(
        db: sled::Db,
        journal: Journal,
        failure: Failure,
        flush_seconds: metrics::Histogram,
    ) -> std::io::Result<GroupCommit> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            flushes: AtomicU64::new(0),
            waiters_served: AtomicU64::new(0),
            flush_seconds,
            failure,
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("ticketing-flusher".into())
            .spawn(move || flush_loop(&thread_shared, &db, &journal))?;
        Ok(GroupCommit {
            shared,
            thread: Some(thread),
        })
    }

    /// Waits until every write made before this call is on disk.
    pub(crate) async fn wait(&self) -> Result<(), StoreError> {
        let answer = self.enqueue()?;
        outcome(answer.await)
    }

    /// `wait` for a thread outside the async runtime (the persister).
    pub(crate) fn wait_blocking(&self) -> Result<(), StoreError> {
        let answer = self.enqueue()?;
        outcome(answer.blocking_recv())
    }

    fn enqueue(&self) -> Result<oneshot::Receiver<Result<(), String>>, StoreError> {
        if let Some(cause) = self.shared.failure.cause() {
            return Err(StoreError::Flush(cause));
        }
        let (tx, rx) = oneshot::channel();
        let wake = {
            let mut queue = lock(&self.shared.queue);
            if queue.stopping {
                return Err(StoreError::Closed);
            }
            queue.waiters.push(tx);
            std::mem::take(&mut queue.idle)
        };
        if wake {
            self.shared.wake.notify_one();
        }
        Ok(rx)
    }

    /// (flushes done, waiters answered) since the store opened.
    pub(crate) fn stats(&self) -> (u64, u64) {
        (
            self.shared.flushes.load(Ordering::Relaxed),
            self.shared.waiters_served.load(Ordering::Relaxed),
        )
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        lock(&self.shared.queue).stopping = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            // A panicked flusher has already failed its waiters; nothing more to do here.
            let _ = thread.join();
        }
    }
}

fn outcome(
    answer: Result<Result<(), String>, oneshot::error::RecvError>,
) -> Result<(), StoreError> {
    match answer {
        Ok(Ok(())) => Ok(()),
        Ok(Err(message)) => Err(StoreError::Flush(message)),
        Err(_) => Err(StoreError::Closed),
    }
}

fn flush_loop(shared: &Shared, db: &sled::Db, journal: &Journal) {
    let mut last_flush_end: Option<Instant> = None;
    loop {
        {
            let mut queue = lock(&shared.queue);
            while queue.waiters.is_empty() && !queue.stopping {
                queue.idle = true;
                queue = shared
                    .wake
                    .wait(queue)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            queue.idle = false;
            if queue.waiters.is_empty() && queue.stopping {
                break;
            }
        }
        if last_flush_end.is_some_and(|end| end.elapsed() < GATHER) {
            std::thread::sleep(GATHER);
        }
        let batch = std::mem::take(&mut lock(&shared.queue).waiters);
        // Each waiter's record was written before it queued, so this covers them all.
        let covered = journal.written_below();
        let started = Instant::now();
        let result = match shared.failure.cause() {
            // After a failure nothing is flushed on anyone's behalf again.
            Some(cause) => Err(cause),
            None => match db.flush() {
                Ok(_) => shared.failure.flushed(covered),
                Err(error) => {
                    let cause = error.to_string();
                    shared.failure.fail(cause.clone());
                    Err(cause)
                }
            },
        };
        let ended = Instant::now();
        shared.flush_seconds.record(ended.duration_since(started));
        last_flush_end = Some(ended);
        shared.flushes.fetch_add(1, Ordering::Relaxed);
        shared
            .waiters_served
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        for waiter in batch {
            // A waiter whose request was dropped no longer listens; that is fine.
            let _ = waiter.send(result.clone());
        }
    }
    if let Err(error) = db.flush() {
        tracing::error!(%error, "Failed to flush the store at shutdown");
    }
}
