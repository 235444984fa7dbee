//! Group commit: one thread makes writes durable for every waiter at once.
//!
//! sled acknowledges a write before it is on disk, and concurrent `flush_async` calls
//! deadlock on 0.34.7 (CRATES.md). So a single flusher thread takes every waiter queued so
//! far, runs the `before_flush` hook (which records the journal checkpoint), calls the
//! blocking `flush()` once, and wakes them all. A waiter queued after its write is answered
//! only by a flush that began after the write: that is the durability guarantee.
//!
//! Lifecycle: started by `Store::open`; the thread holds a clone of the database and stops
//! when the `GroupCommit` is dropped (with the store), after serving the waiters it has.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::StoreError;

type Waiter = oneshot::Sender<Result<(), String>>;

#[derive(Default)]
struct Queue {
    waiters: Vec<Waiter>,
    stopping: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

pub(crate) struct GroupCommit {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl GroupCommit {
    pub(crate) fn start(
        db: sled::Db,
        before_flush: impl Fn() + Send + 'static,
    ) -> std::io::Result<GroupCommit> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("ticketing-flusher".into())
            .spawn(move || flush_loop(&thread_shared, &db, &before_flush))?;
        Ok(GroupCommit {
            shared,
            thread: Some(thread),
        })
    }

    /// Waits until every write made before this call is on disk.
    pub(crate) async fn wait(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        {
            let mut queue = lock(&self.shared.queue);
            if queue.stopping {
                return Err(StoreError::Closed);
            }
            queue.waiters.push(tx);
        }
        self.shared.wake.notify_one();
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(StoreError::Flush(message)),
            Err(_) => Err(StoreError::Closed),
        }
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

fn flush_loop(shared: &Shared, db: &sled::Db, before_flush: &dyn Fn()) {
    loop {
        let batch = {
            let mut queue = lock(&shared.queue);
            while queue.waiters.is_empty() && !queue.stopping {
                queue = shared
                    .wake
                    .wait(queue)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            if queue.waiters.is_empty() && queue.stopping {
                break;
            }
            std::mem::take(&mut queue.waiters)
        };
        before_flush();
        let result = db.flush().map(|_| ()).map_err(|e| e.to_string());
        if let Err(error) = &result {
            tracing::error!(%error, "Failed to flush the store");
        }
        for waiter in batch {
            // A waiter whose request was dropped no longer listens; that is fine.
            let _ = waiter.send(result.clone());
        }
    }
    before_flush();
    if let Err(error) = db.flush() {
        tracing::error!(%error, "Failed to flush the store at shutdown");
    }
}

/// Locks a mutex, recovering from poisoning: the guarded data stays consistent because no
/// critical section here can panic halfway through an update.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
