//! Storage: the journal, its projections, and durability, on sled.
//!
//! This is the only module that knows sled and bincode; everything above it speaks in
//! domain types. The unit of commit is one journal record (DESIGN §3 "Storage"): `commit`
//! appends the event and puts its projections in the in-memory overlay, and `durable`
//! waits for a group-commit flush that began after the append; the persister writes the
//! overlay to sled behind the journal (docs/STORAGE.md). Every read goes through
//! `projections()`, which sees the overlay first. Replacing sled means rewriting this
//! folder only.

pub mod backup;
mod codec;
mod failure;
mod fence;
mod group_commit;
mod indexes;
mod journal;
mod overlay;
mod persister;
mod projections;
pub use projections::Projections;
mod records;
pub mod verify;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::sync::lock;
use codec::{decode_counter, decode_session, encode_counter, encode_session};

use domain::events::{Event, EventKind, FollowUp};
use domain::ids::{SessionId, TicketId, UserId};
use domain::order::Order;
use domain::ticket::{Ticket, TicketChange};
use domain::time::Timestamp;
use domain::user::Email;
use group_commit::GroupCommit;
use journal::Journal;
use overlay::Overlay;
use persister::Persister;
use records::SessionV1;

/// The storage format of a data directory: raised whenever a record kind or layout version
/// is added (docs/STORAGE.md), so that an older release refuses a directory a newer one has
/// written instead of misreading it. The first release wrote 1 (and no `meta/format`).
const FORMAT_VERSION: u64 = 5;

/// Tickets with the journal position of a change to each.
pub type ChangedTickets = Vec<(u64, Ticket)>;

/// Ticket changes the live feed keeps for a slow reader before telling it it lagged.
const FEED_ROOM: usize = 4096;

/// A storage failure. Every variant is a server fault (HTTP 500); business refusals never
/// come from here.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage engine error: {0}")]
    Engine(#[from] sled::Error),
    #[error("a value could not be encoded: {0}")]
    Codec(String),
    #[error("the record at key {key} of tree {tree} cannot be read: {reason}")]
    Corrupt {
        tree: &'static str,
        key: String,
        reason: String,
    },
    #[error("flush failed: {0}")]
    Flush(String),
    #[error("the store is shut down")]
    Closed,
}

/// A signed-in session, kept until signout or expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub user_id: UserId,
    pub expires_at: Timestamp,
}

/// The outcome of claiming an email for a signup.
#[derive(Debug, PartialEq, Eq)]
pub enum EmailClaim {
    Claimed,
    InUse,
}

/// A committed event whose effects are not all written yet. Until `finish` is called the
/// journal checkpoint stays below it, so a crash re-drives its follow-up at start-up.
/// Dropping it without `finish` is safe: the event is simply replayed at the next start.
#[must_use = "call finish() once the event's follow-up work is done"]
pub struct Commit {
    seq: u64,
    journal: Journal,
}

impl Commit {
    pub fn finish(self) {
        self.journal.finish(self.seq);
    }
}

/// What the committing actor knows of the entity its event changes: its state, which is
/// the entity's snapshot (loaded from it, and every change since went through `commit`),
/// so the projections take it instead of reading the snapshot back. `Unknown` for an event
/// that creates its entity or is committed by no actor (accounts, refunds): the
/// projections read what they need.
#[derive(Clone, Copy)]
pub enum PriorState<'a> {
    Unknown,
    Ticket(&'a Ticket),
    Order(&'a Order),
}

/// What the start-up replay found.
pub struct Replayed {
    /// Events re-applied to the projections.
    pub events: u64,
    /// Follow-ups implied by replayed events; each must be re-driven (a no-op where it was
    /// already done) and then finished.
    pub follow_ups: Vec<(FollowUp, Commit)>,
}

/// How the projections are written behind the journal, and where flush times go.
pub(crate) struct Tuning {
    /// How long the persister lets changes gather before writing them out.
    pub(crate) gather: std::time::Duration,
    /// Entries the overlay may hold before writers wait for the persister.
    pub(crate) room: usize,
    /// Where the flusher records each flush's seconds (a `Meters` handle, or nowhere).
    pub(crate) flush_seconds: metrics::Histogram,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            gather: persister::GATHER,
            room: overlay::ROOM,
            flush_seconds: metrics::Histogram::noop(),
        }
    }
}

/// Handle to the store; cheap to clone, shared by every actor and service.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
    /// Set when the last handle has gone and sled has let go of the directory.
    released: Arc<AtomicBool>,
}

struct Inner {
    db: sled::Db,
    journal: Journal,
    overlay: Arc<Overlay>,
    projections: Projections,
    sessions: sled::Tree,
    /// Each user's live sessions, so that a password change can revoke the others. Built
    /// from the sessions tree at open (expired ones are dropped then).
    sessions_of: std::sync::Mutex<std::collections::HashMap<UserId, Vec<SessionId>>>,
    /// Stripe webhook event ids already handled.
    webhooks: sled::Tree,
    committed: [AtomicU64; EventKind::ALL.len()],
    /// Every ticket change as it commits, with its journal position, for the live feed
    /// (GET /api/tickets/events). Bounded: a receiver that falls `FEED_ROOM` behind is told
    /// it lagged and must catch up from the journal (`ticket_changes_after`).
    feed: tokio::sync::broadcast::Sender<(u64, Ticket)>,
    /// Held from a ticket event's append to its send while anyone listens, so that the feed
    /// carries ticket changes in journal order.
    feed_order: std::sync::Mutex<()>,
    /// `TicketUpdated`s committed since start, by what they were (`TicketChange::ALL` order).
    ticket_changes: [AtomicU64; TicketChange::ALL.len()],
    /// The first flush or write-behind failure, after which nothing is acknowledged.
    failure: failure::Failure,
    // Dropped before the flusher: stopping writes out the overlay and waits for flushes.
    persister: std::sync::Mutex<Persister>,
    // Dropped after everything above that holds the database: its thread flushes the store
    // on the way out.
    flusher: Arc<GroupCommit>,
    // Declared last so it is dropped last, once nothing of ours holds the database.
    _released: LockRelease,
}

/// Every user's sessions.
fn live_sessions(
    sessions: &sled::Tree,
) -> Result<std::collections::HashMap<UserId, Vec<SessionId>>, StoreError> {
    let mut live: std::collections::HashMap<UserId, Vec<SessionId>> = Default::default();
    for entry in sessions.iter() {
        let (key, value) = entry?;
        let corrupt = |reason: String| StoreError::Corrupt {
            tree: "sessions",
            key: key.iter().map(|b| format!("{b:02x}")).collect(),
            reason,
        };
        let record = decode_session(&value).map_err(corrupt)?;
        let id = SessionId::from_bytes(&key).map_err(|_| corrupt("not a session id".into()))?;
        live.entry(record.user()).or_default().push(id);
    }
    Ok(live)
}

/// Waits, when the store closes, until sled has really let go of its lock file.
///
/// sled's I/O thread pool can hold the file for a moment after the last `Db` handle is
/// dropped, so re-opening the directory at once (a restart within one process, as the tests
/// do) could be refused as "in use". A second process still fails at once: this only makes
/// a close complete before it returns.
struct LockRelease {
    lock_file: std::path::PathBuf,
    /// Set once the lock is free: `Store::close` waits for it.
    released: Arc<AtomicBool>,
}

impl Drop for LockRelease {
    fn drop(&mut self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            // flock locks belong to one open file, so a fresh open conflicts with sled's
            // own until sled closes it. A missing file means nothing holds it.
            let free = match std::fs::File::open(&self.lock_file) {
                Ok(file) => file.try_lock().is_ok(),
                Err(_) => true,
            };
            if free {
                self.released.store(true, Ordering::Release);
                return;
            }
            if std::time::Instant::now() >= deadline {
                tracing::warn!(path = %self.lock_file.display(), "The store's lock file is still held after closing");
                self.released.store(true, Ordering::Release);
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`. Fails at once, with a clear message, when
    /// another process has the directory open.
    pub fn open(dir: &Path, cache_bytes: u64) -> anyhow::Result<Store> {
        Store::open_tuned(dir, cache_bytes, Tuning::default())
    }

    /// `open`, recording how long each group-commit flush takes in `flush_seconds` (the
    /// app's `/metrics`).
    pub fn open_timed(
        dir: &Path,
        cache_bytes: u64,
        flush_seconds: metrics::Histogram,
    ) -> anyhow::Result<Store> {
        let tuning = Tuning {
            flush_seconds,
            ..Tuning::default()
        };
        Store::open_tuned(dir, cache_bytes, tuning)
    }

    /// `open` with the write-behind tuned (tests make the persister slow, or the overlay
    /// small, to see what a crash or a full overlay does).
    pub(crate) fn open_tuned(
        dir: &Path,
        cache_bytes: u64,
        tuning: Tuning,
    ) -> anyhow::Result<Store> {
        use anyhow::Context;
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("Failed to create the store's directory {}", dir.display()))?;
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            // Our group commit is the only flusher: sled's own timed flush would make a
            // journal record durable after its flush failed and its request was refused.
            .flush_every_ms(None)
            .open()
            .map_err(|error| match error {
                sled::Error::Io(ref io) if io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock") => {
                    anyhow::anyhow!(
                        "The data directory {} is in use by another ticketing process; stop it or choose another --data-dir",
                        dir.display()
                    )
                }
                other => anyhow::Error::new(other).context(format!("Failed to open the store in {}", dir.display())),
            })?;
        let meta = db.open_tree("meta")?;
        let written_by = match meta.get(b"format")? {
            Some(bytes) => decode_counter(&bytes).map_err(|reason| StoreError::Corrupt {
                tree: "meta",
                key: "format".into(),
                reason,
            })?,
            None => 1,
        };
        anyhow::ensure!(
            written_by <= FORMAT_VERSION,
            "The data directory {} was written by a newer release of ticketing (storage format \
             {written_by}; this release reads up to {FORMAT_VERSION}): run that release or a later one",
            dir.display()
        );
        if written_by < FORMAT_VERSION {
            meta.insert(b"format", encode_counter(FORMAT_VERSION)?)?;
        }
        let journal = Journal::open(&db)?;
        let overlay = Arc::new(Overlay::new(tuning.room));
        let projections = Projections::open(&db, overlay.clone())?;
        let (fence, refused_from) = fence::Fence::open(dir)
            .with_context(|| format!("Failed to open the journal fence in {}", dir.display()))?;
        if let Some(seq) = refused_from {
            // The last run stopped on a failed flush: what it refused goes, and the
            // projections, which may hold refused changes too, are rebuilt by the replay.
            let removed = journal.truncate_from(seq)?;
            projections.clear()?;
            journal.forget_checkpoint()?;
            db.flush()?;
            fence.clear().context("Failed to clear the journal fence")?;
            tracing::warn!(
                removed,
                from = seq,
                "The last run stopped on a failed flush: removed the journal records it had                  refused; the projections are rebuilt from the journal"
            );
        }
        let sessions = db.open_tree("sessions")?;
        let sessions_of = live_sessions(&sessions)?;
        let webhooks = db.open_tree("webhook_events")?;
        db.flush()?;
        let failure = failure::Failure::new(fence, journal.written_below());
        let flusher = Arc::new(
            GroupCommit::start(
                db.clone(),
                journal.clone(),
                failure.clone(),
                tuning.flush_seconds,
            )
            .context("Failed to start the flusher thread")?,
        );
        let persister = Persister::start(persister::Parts {
            overlay: overlay.clone(),
            trees: projections.sled_trees(),
            journal: journal.clone(),
            flusher: flusher.clone(),
            gather: tuning.gather,
            failure: failure.clone(),
        })
        .context("Failed to start the persister thread")?;
        let released = Arc::new(AtomicBool::new(false));
        Ok(Store {
            inner: Arc::new(Inner {
                db,
                journal,
                overlay,
                projections,
                sessions,
                sessions_of: std::sync::Mutex::new(sessions_of),
                webhooks,
                committed: std::array::from_fn(|_| AtomicU64::new(0)),
                ticket_changes: std::array::from_fn(|_| AtomicU64::new(0)),
                feed: tokio::sync::broadcast::channel(FEED_ROOM).0,
                feed_order: std::sync::Mutex::new(()),
                failure,
                persister: std::sync::Mutex::new(persister),
                flusher,
                // sled keeps its lock on the file `db` inside its directory.
                _released: LockRelease {
                    lock_file: dir.join("db"),
                    released: released.clone(),
                },
            }),
            released,
        })
    }

    /// Forgets every projection and the checkpoint so that the next `replay` rebuilds them
    /// from the whole journal. Sessions and the journal itself are kept. Only at start-up,
    /// before anything is committed.
    pub fn drop_projections(&self) -> Result<(), StoreError> {
        self.settle();
        self.inner.projections.clear()?;
        self.inner.journal.forget_checkpoint()?;
        self.inner.db.flush()?;
        Ok(())
    }

    /// Builds the indexes from the snapshots, then re-applies the journal after the
    /// checkpoint. Run at start-up, before anything is served. The overlay takes the changes
    /// and the persister writes them out meanwhile; a replay that fills the overlay waits.
    pub fn replay(&self) -> Result<Replayed, StoreError> {
        let journal = &self.inner.journal;
        let mut replayed = Replayed {
            events: 0,
            follow_ups: Vec::new(),
        };
        // The replay's own hold: the event it is at, unless that one is held anyway for
        // its follow-up.
        self.inner
            .projections
            .build_indexes(|| journal.read_from(0))?;
        let mut holding = None;
        for entry in journal.read_from(journal.checkpoint()?) {
            let (seq, event) = entry?;
            journal.replaying(holding, seq);
            if self.inner.overlay.is_full() {
                self.inner.overlay.wait_for_room_blocking();
            }
            self.inner.projections.apply(&event, None)?;
            replayed.events += 1;
            holding = Some(seq);
            if let Some(follow_up) = event.follow_up() {
                holding = None;
                replayed.follow_ups.push((
                    follow_up,
                    Commit {
                        seq,
                        journal: journal.clone(),
                    },
                ));
            }
        }
        if let Some(seq) = holding {
            journal.finish(seq);
        }
        Ok(replayed)
    }

    /// After a failed flush: keeps the store from ever flushing again, the final flush of a
    /// close included, so that nothing refused (5xx) after the failure reaches the disk.
    /// The process is about to exit; the directory's lock goes with it, and replay repairs.
    pub fn abandon(self) {
        std::mem::forget(self);
    }

    /// Gives this handle up and waits until every other one has gone as well (a blocking
    /// read or a password check finishing after the server stopped can hold one) and sled
    /// has let go of the directory, so that the shop can be opened again at once in the same
    /// process (the tests' restarts). Gives up after `patience`, saying so.
    pub async fn close(self, patience: std::time::Duration) {
        let released = self.released.clone();
        drop(self);
        let deadline = std::time::Instant::now() + patience;
        while !released.load(Ordering::Acquire) {
            if std::time::Instant::now() >= deadline {
                tracing::warn!("The store is still in use after the shop stopped");
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }

    /// Commits one event: appends it to the journal and puts its projections in the
    /// overlay. Not yet durable: await `durable` before acknowledging anything.
    pub fn commit(&self, event: &Event, prior: PriorState<'_>) -> Result<Commit, StoreError> {
        let feed = &self.inner.feed;
        let listened = event.changes_ticket().is_some() && feed.receiver_count() > 0;
        let in_order = listened.then(|| lock(&self.inner.feed_order));
        let seq = self.inner.journal.append(event)?;
        let changed = self.inner.projections.apply(event, Some(prior))?;
        if let Some(ticket) = changed.filter(|_| listened) {
            // No receiver left is no error: the feed is for whoever listens.
            let _ = feed.send((seq, ticket));
        }
        drop(in_order);
        if let Some(i) = EventKind::ALL.iter().position(|kind| *kind == event.kind()) {
            self.inner.committed[i].fetch_add(1, Ordering::Relaxed);
        }
        if let (Event::TicketUpdated(update), PriorState::Ticket(before)) = (event, prior) {
            let change = TicketChange::of(update, before);
            if let Some(i) = TicketChange::ALL.iter().position(|c| *c == change) {
                self.inner.ticket_changes[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(Commit {
            seq,
            journal: self.inner.journal.clone(),
        })
    }

    /// Waits until everything written before this call is on disk (group commit), and,
    /// when the overlay is full, until the persister has made room in it.
    pub async fn durable(&self) -> Result<(), StoreError> {
        self.inner.flusher.wait().await?;
        self.inner.overlay.wait_for_room().await;
        Ok(())
    }

    /// The live feed of ticket changes, from now on (each with its journal position).
    pub fn subscribe_ticket_changes(&self) -> tokio::sync::broadcast::Receiver<(u64, Ticket)> {
        self.inner.feed.subscribe()
    }

    /// One page of a feed reader's catch-up: the tickets changed by the next `events` journal
    /// events after position `after`, each as it is now and with the position of its last
    /// change in the page, in that order; and the last position the page read (`None` when
    /// it read nothing); and the tickets listed in the page (their `TicketCreated` is in it),
    /// so that a reader of new listings catches up on them though they changed since.
    /// Memory is bound by the page, however far behind the reader is.
    /// Reads the journal: blocking.
    pub fn ticket_changes_after(
        &self,
        after: u64,
        events: usize,
    ) -> Result<(ChangedTickets, Vec<TicketId>, Option<u64>), StoreError> {
        let mut last_change: std::collections::HashMap<TicketId, u64> = Default::default();
        let mut listed = Vec::new();
        let mut read_to = None;
        for entry in self
            .inner
            .journal
            .read_from(after.saturating_add(1))
            .take(events)
        {
            let (seq, event) = entry?;
            read_to = Some(seq);
            if let Some(id) = event.changes_ticket() {
                last_change.insert(id, seq);
            }
            if let Event::TicketCreated(created) = &event {
                listed.push(created.ticket_id);
            }
        }
        let mut changes: Vec<(u64, TicketId)> =
            last_change.into_iter().map(|(id, seq)| (seq, id)).collect();
        changes.sort_unstable();
        let projections = &self.inner.projections;
        let mut tickets = Vec::with_capacity(changes.len());
        for (seq, id) in changes {
            if let Some(ticket) = projections.ticket(id)? {
                tickets.push((seq, ticket));
            }
        }
        Ok((tickets, listed, read_to))
    }

    /// Journal events from position `from` on, in commit order, each with its position;
    /// the read stops before any record still being written, so no later one is seen past
    /// a gap (the operator's `ticketing journal` and `export`). Reads the journal: blocking.
    pub fn events_from(
        &self,
        from: u64,
    ) -> impl Iterator<Item = Result<(u64, Event), StoreError>> + '_ {
        let end = self.inner.journal.written_below();
        self.inner
            .journal
            .read_from(from)
            .take_while(move |entry| !matches!(entry, Ok((seq, _)) if *seq >= end))
    }

    /// Ticket changes committed since this process started: edits, releases and sales.
    pub fn ticket_change_counts(&self) -> Vec<(&'static str, u64)> {
        TicketChange::ALL
            .iter()
            .zip(&self.inner.ticket_changes)
            .map(|(change, count)| (change.as_str(), count.load(Ordering::Relaxed)))
            .collect()
    }

    /// Events committed since this process started, by tag.
    pub fn committed_counts(&self) -> Vec<(&'static str, u64)> {
        EventKind::ALL
            .iter()
            .zip(&self.inner.committed)
            .map(|(kind, count)| (kind.tag(), count.load(Ordering::Relaxed)))
            .collect()
    }

    /// Waits (blocking, so not on an async thread) until every projection change committed
    /// so far is written to sled: for tests, benchmarks and start-up, not request paths.
    pub fn settle(&self) {
        let failure = self.inner.failure.clone();
        self.inner
            .overlay
            .wait_until_empty(|| failure.cause().is_some());
    }

    /// Projection changes committed and not yet written to sled.
    pub fn unpersisted_changes(&self) -> usize {
        self.inner.overlay.len()
    }

    /// Generations of projection changes the persister has written out.
    pub fn persisted_generations(&self) -> u64 {
        lock(&self.inner.persister).cycles()
    }

    /// (group-commit flushes, durability waits they answered) since the store opened.
    pub fn flush_stats(&self) -> (u64, u64) {
        self.inner.flusher.stats()
    }

    pub fn journal_len(&self) -> usize {
        self.inner.journal.len()
    }

    /// Whether the engine answers a read and no flush has failed.
    pub fn is_healthy(&self) -> bool {
        self.inner.failure.cause().is_none() && self.inner.sessions.first().is_ok()
    }

    /// Resolves with the cause once a flush or a write behind the journal has failed. The
    /// app then stops: nothing it holds in memory can be trusted to be on disk.
    pub async fn failed(&self) -> String {
        self.inner.failure.wait().await
    }

    /// Whether the store has failed (see `failed`).
    pub fn has_failed(&self) -> bool {
        self.inner.failure.cause().is_some()
    }

    // ----- accounts -----

    /// Claims `email` for a signup: exclusive until the signup commits its `UserCreated` or
    /// gives the claim back. Claims live in memory, so a signup that died with the process
    /// leaves none behind.
    pub fn claim_email(&self, email: &Email, user_id: UserId) -> EmailClaim {
        if self.inner.projections.claim_email(email, user_id) {
            EmailClaim::Claimed
        } else {
            EmailClaim::InUse
        }
    }

    /// Gives a claim back after a signup failed before its commit.
    pub fn release_email_claim(&self, email: &Email, user_id: UserId) {
        self.inner.projections.release_email_claim(email, user_id);
    }

    /// Claims a place for one more unpaid hold of `buyer`, on `ticket`, if `allowed` says
    /// the count of their holds (and of their reservations under way) leaves room. Atomic
    /// with every other claim, so concurrent reservations cannot overshoot together; the
    /// reservation's commit turns the claim into a hold. Give a claim that did not commit
    /// back with `release_hold` (harmless after a commit).
    pub fn claim_hold(
        &self,
        buyer: UserId,
        ticket: TicketId,
        allowed: impl FnOnce(u32) -> bool,
    ) -> bool {
        self.inner.projections.claim_hold(buyer, ticket, allowed)
    }

    pub fn release_hold(&self, buyer: UserId, ticket: TicketId) {
        self.inner.projections.release_hold(buyer, ticket);
    }

    pub fn put_session(&self, id: SessionId, session: &SessionRecord) -> Result<(), StoreError> {
        let record = SessionV1 {
            user_id: *session.user_id.as_bytes(),
            expires_at: session.expires_at.millis(),
        };
        self.inner
            .sessions
            .insert(id.as_bytes(), encode_session(&record)?)?;
        lock(&self.inner.sessions_of)
            .entry(session.user_id)
            .or_default()
            .push(id);
        Ok(())
    }

    pub fn session(&self, id: SessionId) -> Result<Option<SessionRecord>, StoreError> {
        let Some(bytes) = self.inner.sessions.get(id.as_bytes())? else {
            return Ok(None);
        };
        let record = decode_session(&bytes).map_err(|reason| StoreError::Corrupt {
            tree: "sessions",
            key: id.to_string(),
            reason,
        })?;
        Ok(Some(SessionRecord {
            user_id: record.user(),
            expires_at: Timestamp::from_millis(record.expires_at),
        }))
    }

    pub fn delete_session(&self, id: SessionId) -> Result<(), StoreError> {
        if let Some(session) = self.session(id)?
            && let Some(ids) = lock(&self.inner.sessions_of).get_mut(&session.user_id)
        {
            ids.retain(|other| *other != id);
        }
        self.inner.sessions.remove(id.as_bytes())?;
        Ok(())
    }

    /// Removes the sessions that expired before `now` (run at start-up): a session lasts a
    /// week, and nothing else would ever delete one its user did not sign out of.
    pub fn drop_expired_sessions(&self, now: Timestamp) -> Result<usize, StoreError> {
        let mut expired = Vec::new();
        for entry in self.inner.sessions.iter() {
            let (key, value) = entry?;
            if let (Ok(record), Ok(id)) = (decode_session(&value), SessionId::from_bytes(&key))
                && Timestamp::from_millis(record.expires_at) <= now
            {
                expired.push((record.user(), id));
            }
        }
        let mut sessions_of = lock(&self.inner.sessions_of);
        for (user, id) in &expired {
            self.inner.sessions.remove(id.as_bytes())?;
            if let Some(ids) = sessions_of.get_mut(user) {
                ids.retain(|other| other != id);
            }
        }
        Ok(expired.len())
    }

    /// Revokes every session of `user` but `keep`; answers how many went.
    pub fn revoke_sessions(
        &self,
        user: UserId,
        keep: Option<SessionId>,
    ) -> Result<usize, StoreError> {
        let revoked: Vec<SessionId> = {
            let mut sessions_of = lock(&self.inner.sessions_of);
            let ids = sessions_of.entry(user).or_default();
            let (kept, revoked) = ids.drain(..).partition(|id| Some(*id) == keep);
            *ids = kept;
            revoked
        };
        for id in &revoked {
            self.inner.sessions.remove(id.as_bytes())?;
        }
        Ok(revoked.len())
    }

    pub fn webhook_seen(&self, event_id: &str) -> Result<bool, StoreError> {
        Ok(self.inner.webhooks.contains_key(event_id)?)
    }

    pub fn record_webhook(&self, event_id: &str) -> Result<(), StoreError> {
        self.inner.webhooks.insert(event_id, &[])?;
        Ok(())
    }

    /// Every read of users, tickets, orders and charges, and of the indexes: the
    /// projections show each committed change from the moment `commit` returns.
    pub fn projections(&self) -> &Projections {
        &self.inner.projections
    }
}

#[cfg(test)]
mod tests;
