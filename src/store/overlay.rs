//! The overlay: projection changes that are committed but not yet written to sled.
//!
//! A commit's only synchronous disk work is its journal record (DESIGN §3); the snapshots
//! and index entries it changes go into the overlay, which every read consults before sled,
//! so a read after an acknowledged write sees it. The persister (`persister.rs`) later
//! writes the overlay to sled in key order and records the checkpoint.
//!
//! The overlay is a stack of at most two generations: `active`, which commits write into,
//! and `frozen`, the one the persister is writing out. Each is a set of concurrent ordered
//! maps (one per projection tree) from key to value or removal. A read takes both
//! generations (`View`) at its start and keeps them alive with their `Arc`s, so a generation
//! the persister releases meanwhile stays readable: a read sees, per key, the active value,
//! else the frozen one, else sled's, and sled only ever holds values that are older or the
//! same as those of a generation still held. Writers hold the read side of the lock while
//! they write, so `freeze` (the write side) never takes a generation still being written.
//!
//! Bounded by design: writes only add to the active generation, and once it and the frozen one hold
//! `room` entries together (`ROOM` unless a test sets less), `Store::durable` (which every write
//! awaits) makes the writer wait until the persister has released a generation.

use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use crossbeam_skiplist::SkipMap;

use crate::sync::lock;

/// Entries the overlay may hold before writers wait for the persister: at about 200 bytes
/// each, 25 MB. A reservation writes two (the ticket and the order).
pub(crate) const ROOM: usize = 128 * 1024;

/// The snapshot trees, one per entity kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tree {
    Users,
    Tickets,
    Orders,
    Charges,
}

impl Tree {
    pub(crate) const ALL: [Tree; 4] = [Tree::Users, Tree::Tickets, Tree::Orders, Tree::Charges];

    /// The sled tree's name (persisted: never rename one).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Tree::Users => "users",
            Tree::Tickets => "tickets",
            Tree::Orders => "orders",
            Tree::Charges => "charges",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// A value as the overlay holds it: the new bytes, or `None` for a removal.
pub(crate) type Value = Option<Arc<[u8]>>;

/// One projection change.
pub(crate) struct Write {
    pub(crate) tree: Tree,
    pub(crate) key: Vec<u8>,
    pub(crate) value: Value,
}

/// The changes made while one generation was active.
pub(crate) struct Generation {
    trees: [SkipMap<Vec<u8>, Value>; Tree::ALL.len()],
}

impl Generation {
    fn new() -> Generation {
        Generation {
            trees: std::array::from_fn(|_| SkipMap::new()),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.trees.iter().map(SkipMap::len).sum()
    }

    /// The generation's changes to `tree`, in key order.
    pub(crate) fn changes(&self, tree: Tree) -> impl Iterator<Item = (Vec<u8>, Value)> + '_ {
        self.trees[tree.index()]
            .iter()
            .map(|entry| (entry.key().clone(), entry.value().clone()))
    }
}

struct Layers {
    active: Arc<Generation>,
    frozen: Option<Arc<Generation>>,
}

pub(crate) struct Overlay {
    layers: RwLock<Layers>,
    /// Entries both generations may hold before writers wait.
    room: usize,
    /// Generations released by the persister; waiters for room watch it change.
    released: Mutex<u64>,
    released_signal: Condvar,
    room_async: tokio::sync::Notify,
    /// Wakes the persister: the first change in an empty active generation, a filling
    /// overlay, someone waiting for it (`hurry`), a stop.
    work: Condvar,
    work_lock: Mutex<()>,
    /// Someone waits for the overlay to empty or make room: no gathering pause.
    hurry: AtomicBool,
}

/// The overlay as a read found it when it began.
pub(crate) struct View {
    active: Arc<Generation>,
    frozen: Option<Arc<Generation>>,
}

impl View {
    /// The overlay's value for `key`: `Some(None)` if it was removed, `None` if the overlay
    /// does not know it (ask sled).
    pub(crate) fn get(&self, tree: Tree, key: &[u8]) -> Option<Value> {
        let lookup = |generation: &Generation| {
            generation.trees[tree.index()]
                .get(key)
                .map(|entry| entry.value().clone())
        };
        lookup(&self.active).or_else(|| self.frozen.as_deref().and_then(lookup))
    }

    /// The overlay's entries of `tree` within the bounds, in key order, the active
    /// generation's value winning where both have a key.
    pub(crate) fn range<'a>(
        &'a self,
        tree: Tree,
        lower: Bound<&'a [u8]>,
        upper: Bound<&'a [u8]>,
    ) -> impl Iterator<Item = (Vec<u8>, Value)> + 'a {
        let entries = move |generation: &'a Generation| {
            generation.trees[tree.index()]
                .range::<[u8], _>((lower, upper))
                .map(|entry| (entry.key().clone(), entry.value().clone()))
        };
        let frozen = self.frozen.as_deref().into_iter().flat_map(entries);
        merge(entries(&self.active), frozen)
    }
}

impl Overlay {
    pub(crate) fn new(room: usize) -> Overlay {
        Overlay {
            layers: RwLock::new(Layers {
                active: Arc::new(Generation::new()),
                frozen: None,
            }),
            room,
            released: Mutex::new(0),
            released_signal: Condvar::new(),
            room_async: tokio::sync::Notify::new(),
            work: Condvar::new(),
            work_lock: Mutex::new(()),
            hurry: AtomicBool::new(false),
        }
    }

    pub(crate) fn view(&self) -> View {
        let layers = self.layers.read().unwrap_or_else(|p| p.into_inner());
        View {
            active: layers.active.clone(),
            frozen: layers.frozen.clone(),
        }
    }

    /// Applies one event's changes to the active generation, all under one hold of the
    /// lock's read side, so that a freeze never takes half of them.
    pub(crate) fn write(&self, writes: Vec<Write>) {
        if writes.is_empty() {
            return;
        }
        let wake = {
            let layers = self.layers.read().unwrap_or_else(|p| p.into_inner());
            let was_empty = layers.active.trees.iter().all(SkipMap::is_empty);
            for write in writes {
                layers.active.trees[write.tree.index()].insert(write.key, write.value);
            }
            was_empty || layers.active.len() >= self.room / 2
        };
        if wake {
            self.wake_persister();
        }
    }

    /// Entries held in both generations.
    pub(crate) fn len(&self) -> usize {
        let layers = self.layers.read().unwrap_or_else(|p| p.into_inner());
        layers.active.len() + layers.frozen.as_ref().map_or(0, |f| f.len())
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len() >= self.room
    }

    /// Whether the overlay holds so much that the persister should not pause to gather.
    pub(crate) fn is_filling(&self) -> bool {
        self.len() >= self.room / 2
    }

    /// Whether the active generation has changes to write out.
    pub(crate) fn has_work(&self) -> bool {
        self.view().active.len() > 0
    }

    /// Whether someone waits for the persister (to settle, or for room).
    pub(crate) fn hurried(&self) -> bool {
        self.hurry.load(Ordering::Acquire)
    }

    /// The persister's wait: up to `timeout`, or until `done` holds. `wake_persister`
    /// makes it look at `done` again.
    pub(crate) fn persister_wait(&self, timeout: Duration, done: impl Fn() -> bool) {
        let deadline = Instant::now() + timeout;
        let mut guard = lock(&self.work_lock);
        while !done() {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            guard = self
                .work
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Makes the persister look at its wait condition again.
    pub(crate) fn wake_persister(&self) {
        let _guard = lock(&self.work_lock);
        self.work.notify_all();
    }

    fn hurry_persister(&self) {
        self.hurry.store(true, Ordering::Release);
        self.wake_persister();
    }

    /// Waits (blocking) until every change is written out and released, or `give_up` holds.
    pub(crate) fn wait_until_empty(&self, give_up: impl Fn() -> bool) {
        let mut released = lock(&self.released);
        while self.len() > 0 && !give_up() {
            self.hurry_persister();
            released = self
                .released_signal
                .wait_timeout(released, Duration::from_millis(100))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Makes the active generation the frozen one and starts a new active one. `None`
    /// when there is nothing to freeze. The persister must `release` the frozen generation
    /// before freezing again.
    pub(crate) fn freeze(&self) -> Option<Arc<Generation>> {
        let mut layers = self.layers.write().unwrap_or_else(|p| p.into_inner());
        debug_assert!(
            layers.frozen.is_none(),
            "the previous generation is released"
        );
        if layers.active.len() == 0 {
            return None;
        }
        let frozen = std::mem::replace(&mut layers.active, Arc::new(Generation::new()));
        layers.frozen = Some(frozen.clone());
        Some(frozen)
    }

    /// Forgets the frozen generation once it is durable in sled, and wakes writers waiting
    /// for room.
    pub(crate) fn release(&self) {
        let mut layers = self.layers.write().unwrap_or_else(|p| p.into_inner());
        layers.frozen = None;
        if layers.active.len() == 0 {
            self.hurry.store(false, Ordering::Release);
        }
        drop(layers);
        *lock(&self.released) += 1;
        self.released_signal.notify_all();
        self.room_async.notify_waiters();
    }

    /// Waits, off the async threads' way, until the overlay has room.
    pub(crate) async fn wait_for_room(&self) {
        while self.is_full() {
            let released = self.room_async.notified();
            if !self.is_full() {
                return;
            }
            self.hurry_persister();
            released.await;
        }
    }

    /// Blocking form of `wait_for_room`, for the start-up replay.
    pub(crate) fn wait_for_room_blocking(&self) {
        let mut released = lock(&self.released);
        while self.is_full() {
            self.hurry_persister();
            released = self
                .released_signal
                .wait_timeout(released, Duration::from_millis(100))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// Merges two key-ordered streams; on equal keys the first one's entry wins and the second's
/// is skipped.
pub(crate) fn merge<K: Ord, V>(
    first: impl Iterator<Item = (K, V)>,
    second: impl Iterator<Item = (K, V)>,
) -> impl Iterator<Item = (K, V)> {
    let mut first = first.peekable();
    let mut second = second.peekable();
    std::iter::from_fn(move || {
        let take_first = match (first.peek(), second.peek()) {
            (None, None) => return None,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((a, _)), Some((b, _))) => {
                if a == b {
                    second.next();
                    true
                } else {
                    a < b
                }
            }
        };
        if take_first {
            first.next()
        } else {
            second.next()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(overlay: &Overlay, tree: Tree, key: &[u8], value: Option<&[u8]>) {
        overlay.write(vec![Write {
            tree,
            key: key.to_vec(),
            value: value.map(Arc::from),
        }]);
    }

    #[test]
    fn the_active_generation_wins_over_the_frozen_one_and_removals_are_remembered() {
        let overlay = Overlay::new(ROOM);
        put(&overlay, Tree::Tickets, b"a", Some(b"1"));
        put(&overlay, Tree::Tickets, b"b", Some(b"1"));
        let frozen = overlay.freeze().expect("something to freeze");
        put(&overlay, Tree::Tickets, b"a", None);
        put(&overlay, Tree::Tickets, b"c", Some(b"2"));
        let view = overlay.view();
        assert_eq!(view.get(Tree::Tickets, b"a"), Some(None));
        assert_eq!(
            view.get(Tree::Tickets, b"b").flatten().as_deref(),
            Some(&b"1"[..])
        );
        assert_eq!(view.get(Tree::Tickets, b"z"), None);
        assert_eq!(view.get(Tree::Orders, b"a"), None, "trees are apart");
        let keys: Vec<_> = view
            .range(Tree::Tickets, Bound::Unbounded, Bound::Unbounded)
            .map(|(key, value)| (key, value.is_some()))
            .collect();
        assert_eq!(
            keys,
            vec![
                (b"a".to_vec(), false),
                (b"b".to_vec(), true),
                (b"c".to_vec(), true)
            ]
        );
        assert_eq!(frozen.len(), 2);
        // A view taken before the release keeps the frozen generation readable.
        overlay.release();
        assert_eq!(
            view.get(Tree::Tickets, b"b").flatten().as_deref(),
            Some(&b"1"[..])
        );
        assert_eq!(overlay.view().get(Tree::Tickets, b"b"), None);
        assert_eq!(overlay.len(), 2);
    }

    #[test]
    fn merging_keeps_order_and_prefers_the_first_stream() {
        let first = vec![(1, "a"), (3, "a"), (5, "a")];
        let second = vec![(2, "b"), (3, "b"), (6, "b")];
        let merged: Vec<_> = merge(first.into_iter(), second.into_iter()).collect();
        assert_eq!(
            merged,
            vec![(1, "a"), (2, "b"), (3, "a"), (5, "a"), (6, "b")]
        );
    }
}
