//! The journal: the append-only log of events that is the truth of the system.
//!
//! Appending is one sled `insert` under a fresh sequence number; made durable, that insert
//! is the commit. The journal also tracks which committed events still have work pending
//! (projections not yet in the overlay, a follow-up in another entity not yet done, or the
//! start-up replay not yet past them), so the checkpoint never passes an event whose effects
//! could be missing after a crash. The persister records the checkpoint once the
//! projections below it are durable in sled; replay starts there.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use super::StoreError;
use super::codec::{decode_event, encode_event};
use crate::sync::lock;
use domain::events::Event;

const CHECKPOINT_KEY: &[u8] = b"checkpoint";

/// Sequence numbers handed out and not yet finished.
#[derive(Default)]
struct InFlight {
    pending: BTreeSet<u64>,
    /// Handed out and not yet inserted into sled: a flush that begins now does not cover
    /// them (`written_below`).
    inserting: BTreeSet<u64>,
    /// One past the highest sequence handed out.
    next: u64,
}

#[derive(Clone)]
pub(crate) struct Journal {
    db: sled::Db,
    events: sled::Tree,
    meta: sled::Tree,
    in_flight: Arc<Mutex<InFlight>>,
}

impl Journal {
    pub(crate) fn open(db: &sled::Db) -> Result<Journal, StoreError> {
        let events = db.open_tree("events")?;
        let meta = db.open_tree("meta")?;
        let next = match events.last()? {
            Some((key, _)) => seq_from_key("events", &key)? + 1,
            None => 0,
        };
        Ok(Journal {
            db: db.clone(),
            events,
            meta,
            in_flight: Arc::new(Mutex::new(InFlight {
                pending: BTreeSet::new(),
                inserting: BTreeSet::new(),
                next,
            })),
        })
    }

    /// Appends one event and returns its sequence number, which stays pending until
    /// `finish` is called for it.
    pub(crate) fn append(&self, event: &Event) -> Result<u64, StoreError> {
        let record = encode_event(event)?;
        let seq = {
            let mut in_flight = lock(&self.in_flight);
            // Allocating under the lock keeps the checkpoint from skipping over a sequence
            // that is allocated but not yet registered as pending.
            // Never below the journal's end: sled's id counter starts again at 0 in a
            // directory restored from a backup, whose journal it did not write.
            let seq = self.db.generate_id()?.max(in_flight.next);
            in_flight.pending.insert(seq);
            in_flight.inserting.insert(seq);
            in_flight.next = in_flight.next.max(seq + 1);
            seq
        };
        // On failure the sequence stays pending, holding the checkpoint back: safe.
        let inserted = self.events.insert(seq.to_be_bytes(), record);
        lock(&self.in_flight).inserting.remove(&seq);
        inserted?;
        Ok(seq)
    }

    /// Every record below this position is in sled now, so a flush that begins after this
    /// call makes all of them durable (the fence's position, `failure.rs`).
    pub(crate) fn written_below(&self) -> u64 {
        let in_flight = lock(&self.in_flight);
        in_flight
            .inserting
            .first()
            .copied()
            .unwrap_or(in_flight.next)
    }

    /// One past the highest position handed out so far: every record appended before this
    /// call is below it (a backup's end, `backup.rs`).
    pub(crate) fn handed_out_below(&self) -> u64 {
        lock(&self.in_flight).next
    }

    /// The raw records below `end`, in order (a backup copies them as they are).
    pub(crate) fn records_below(&self, end: u64) -> sled::Iter {
        self.events.range(..end.to_be_bytes())
    }

    /// Removes every record from `seq` on: those a failed run refused (`fence.rs`). Only at
    /// open, before anything is appended. Answers how many went.
    pub(crate) fn truncate_from(&self, seq: u64) -> Result<usize, StoreError> {
        let keys: Vec<sled::IVec> = self
            .events
            .range(seq.to_be_bytes()..)
            .keys()
            .collect::<Result<_, _>>()?;
        for key in &keys {
            self.events.remove(key)?;
        }
        let mut in_flight = lock(&self.in_flight);
        in_flight.next = in_flight.next.min(seq);
        Ok(keys.len())
    }

    /// Marks every effect of an event as written: the checkpoint may pass it.
    pub(crate) fn finish(&self, seq: u64) {
        lock(&self.in_flight).pending.remove(&seq);
    }

    /// Moves the replay's own hold from the event before to `seq`, in one step, so the
    /// checkpoint never passes an event the replay has not applied yet.
    pub(crate) fn replaying(&self, previous: Option<u64>, seq: u64) {
        let mut in_flight = lock(&self.in_flight);
        in_flight.pending.insert(seq);
        if let Some(previous) = previous.filter(|p| *p != seq) {
            in_flight.pending.remove(&previous);
        }
    }

    /// The checkpoint the projections support once everything now in the overlay is
    /// durable: every event below it has all its effects written.
    pub(crate) fn checkpoint_candidate(&self) -> u64 {
        let in_flight = lock(&self.in_flight);
        in_flight.pending.first().copied().unwrap_or(in_flight.next)
    }

    /// Records the checkpoint (it never moves back). Durable with the next flush.
    pub(crate) fn record_checkpoint(&self, checkpoint: u64) -> Result<(), StoreError> {
        if checkpoint > self.checkpoint()? {
            self.meta
                .insert(CHECKPOINT_KEY, &checkpoint.to_be_bytes())?;
        }
        Ok(())
    }

    pub(crate) fn checkpoint(&self) -> Result<u64, StoreError> {
        match self.meta.get(CHECKPOINT_KEY)? {
            Some(bytes) => seq_from_key("meta", &bytes),
            None => Ok(0),
        }
    }

    /// Forgets the checkpoint, so that the next replay reads the whole journal.
    pub(crate) fn forget_checkpoint(&self) -> Result<(), StoreError> {
        self.meta.remove(CHECKPOINT_KEY)?;
        Ok(())
    }

    /// Events from `from` on, in commit order. A record that cannot be read is an error
    /// naming its key.
    pub(crate) fn read_from(
        &self,
        from: u64,
    ) -> impl Iterator<Item = Result<(u64, Event), StoreError>> + '_ {
        self.events.range(from.to_be_bytes()..).map(|entry| {
            let (key, value) = entry?;
            let seq = seq_from_key("events", &key)?;
            let event = decode_event(&value).map_err(|reason| StoreError::Corrupt {
                tree: "events",
                key: seq.to_string(),
                reason,
            })?;
            Ok((seq, event))
        })
    }

    /// Number of events in the journal. Walks the whole tree: not for request paths.
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }
}

fn seq_from_key(tree: &'static str, key: &[u8]) -> Result<u64, StoreError> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| StoreError::Corrupt {
        tree,
        key: format!("{key:02x?}"),
        reason: "not an 8-byte sequence number".into(),
    })?;
    Ok(u64::from_be_bytes(bytes))
}
