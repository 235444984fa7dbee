//! Verification: rebuilds every snapshot from the journal in memory and compares it with
//! the stored one, for `ticketing verify` on a stopped shop.
//!
//! The journal is the truth; each snapshot tree (`users`, `tickets`, `orders`, `charges`)
//! must hold what folding the journal with the domain's `evolve` gives, the same function
//! the projections use. Snapshots lag the journal by design (the persister writes them
//! behind it, and a crash can leave them behind the checkpoint's successors), so an entity
//! changed at or after the checkpoint may also hold any state it passed through since the
//! checkpoint, or none if it was created since: the next start's replay brings it up to
//! date. Anything else (an unreadable record, a snapshot that no state of the journal
//! gives, one missing, one the journal never made) is a difference, named by tree and key.
//! Memory holds one state per entity, not the journal.

use std::collections::HashMap;

use super::codec::{decode_charge, decode_order, decode_session, decode_ticket, decode_user};
use super::{Store, StoreError};
use domain::charge::{self, Charge};
use domain::events::Event;
use domain::order::{self, Order};
use domain::ticket::{self, Ticket};
use domain::user::{self, User};

/// Differences kept to print; past it they are only counted.
const KEEP: usize = 1000;

/// One snapshot, whatever its tree.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Snapshot {
    User(User),
    Ticket(Ticket),
    Order(Order),
    Charge(Charge),
}

/// The snapshot trees, in the order they are checked.
const TREES: [&str; 4] = ["users", "tickets", "orders", "charges"];

/// What the journal gives for each entity: its state now, and, when it changed at or after
/// the checkpoint, every state a snapshot may still hold.
#[derive(Default)]
struct Rebuilt {
    now: HashMap<Vec<u8>, Snapshot>,
    /// States from the one before its first change at or after the checkpoint on (`None`:
    /// it did not exist yet).
    since_checkpoint: HashMap<Vec<u8>, Vec<Option<Snapshot>>>,
}

/// A snapshot or record that does not agree with the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    pub tree: &'static str,
    /// The key, in hex (a journal record's: its position in decimal).
    pub key: String,
    pub what: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}: {}", self.tree, self.key, self.what)
    }
}

/// What `verify` found.
#[derive(Debug, Default)]
pub struct Report {
    pub events: u64,
    /// Snapshots compared, by tree (`TREES` order).
    pub snapshots: [u64; 4],
    pub sessions: u64,
    /// Snapshots behind the journal, which the next start's replay brings up to date.
    pub behind: u64,
    pub checkpoint: u64,
    /// The first `KEEP` differences.
    pub differences: Vec<Difference>,
    /// Every difference, kept or not.
    pub difference_count: u64,
}

impl Report {
    fn differ(&mut self, tree: &'static str, key: String, what: impl Into<String>) {
        self.difference_count += 1;
        if self.differences.len() < KEEP {
            self.differences.push(Difference {
                tree,
                key,
                what: what.into(),
            });
        }
    }
}

fn hex(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// Checks the snapshots and the sessions against the journal (the module's opening).
    /// For a store no shop serves: a running shop's snapshots move under the comparison.
    pub fn verify(&self) -> Result<Report, StoreError> {
        let mut report = Report {
            checkpoint: self.inner.journal.checkpoint()?,
            ..Report::default()
        };
        let mut rebuilt: [Rebuilt; 4] = Default::default();
        for entry in self.inner.journal.read_from(0) {
            let (seq, event) = match entry {
                Ok(entry) => entry,
                Err(StoreError::Corrupt { tree, key, reason }) => {
                    report.differ(tree, key, format!("unreadable journal record: {reason}"));
                    continue;
                }
                Err(other) => return Err(other),
            };
            report.events += 1;
            fold(&mut rebuilt, &event, seq >= report.checkpoint);
        }
        let trees = self.inner.projections.sled_trees();
        for (i, name) in TREES.into_iter().enumerate() {
            let tree = &trees[i];
            debug_assert_eq!(tree.name(), name.as_bytes());
            let rebuilt = &mut rebuilt[i];
            for entry in tree.iter() {
                let (key, value) = entry?;
                report.snapshots[i] += 1;
                let stored = match decode(i, &value) {
                    Ok(stored) => stored,
                    Err(reason) => {
                        report.differ(name, hex(&key), format!("unreadable snapshot: {reason}"));
                        rebuilt.now.remove(key.as_ref());
                        continue;
                    }
                };
                let now = rebuilt.now.remove(key.as_ref());
                if now.as_ref() == Some(&stored) {
                    continue;
                }
                let passed = rebuilt
                    .since_checkpoint
                    .get(key.as_ref())
                    .is_some_and(|states| states.contains(&Some(stored.clone())));
                if passed {
                    report.behind += 1;
                } else if now.is_none() {
                    report.differ(name, hex(&key), "a snapshot of nothing the journal made");
                } else {
                    report.differ(
                        name,
                        hex(&key),
                        "the snapshot differs from what the journal gives",
                    );
                }
            }
            let mut missing: Vec<Vec<u8>> = rebuilt.now.drain().map(|(key, _)| key).collect();
            missing.sort_unstable();
            for key in missing {
                let created_since = rebuilt
                    .since_checkpoint
                    .get(&key)
                    .is_some_and(|states| states.contains(&None));
                if created_since {
                    report.behind += 1;
                } else {
                    report.differ(name, hex(&key), "no snapshot, though the journal made one");
                }
            }
        }
        for entry in self.inner.sessions.iter() {
            let (key, value) = entry?;
            report.sessions += 1;
            if let Err(reason) = decode_session(&value) {
                report.differ(
                    "sessions",
                    hex(&key),
                    format!("unreadable session: {reason}"),
                );
            }
        }
        Ok(report)
    }
}

fn decode(tree: usize, bytes: &[u8]) -> Result<Snapshot, String> {
    match tree {
        0 => decode_user(bytes).map(Snapshot::User),
        1 => decode_ticket(bytes).map(Snapshot::Ticket),
        2 => decode_order(bytes).map(Snapshot::Order),
        _ => decode_charge(bytes).map(Snapshot::Charge),
    }
}

/// Applies one event to the rebuilt states; `recent` when it is at or after the checkpoint.
fn fold(rebuilt: &mut [Rebuilt; 4], event: &Event, recent: bool) {
    let mut step = |i: usize, key: &[u8], evolve: &dyn Fn(Option<Snapshot>) -> Option<Snapshot>| {
        let states = &mut rebuilt[i];
        let before = states.now.remove(key);
        if recent {
            states
                .since_checkpoint
                .entry(key.to_vec())
                .or_insert_with(|| vec![before.clone()]);
        }
        let after = evolve(before);
        if recent && let Some(list) = states.since_checkpoint.get_mut(key) {
            list.push(after.clone());
        }
        if let Some(after) = after {
            states.now.insert(key.to_vec(), after);
        }
    };
    if let Some(id) = event.changes_user() {
        step(0, id.as_bytes(), &|state| {
            let state = state.and_then(|s| match s {
                Snapshot::User(u) => Some(u),
                _ => None,
            });
            user::evolve(state, event).map(Snapshot::User)
        });
    }
    if let Some(id) = event.changes_ticket() {
        step(1, id.as_bytes(), &|state| {
            let state = state.and_then(|s| match s {
                Snapshot::Ticket(t) => Some(t),
                _ => None,
            });
            ticket::evolve(state, event).map(Snapshot::Ticket)
        });
    }
    if let Some(id) = event.changes_order() {
        step(2, id.as_bytes(), &|state| {
            let state = state.and_then(|s| match s {
                Snapshot::Order(o) => Some(o),
                _ => None,
            });
            order::evolve(state, event).map(Snapshot::Order)
        });
    }
    if let Some(id) = event.changes_charge() {
        step(3, id.as_bytes(), &|state| {
            let state = state.and_then(|s| match s {
                Snapshot::Charge(c) => Some(c),
                _ => None,
            });
            charge::evolve(state, event).map(Snapshot::Charge)
        });
    }
}

impl Report {
    /// The tree names, in the order of `snapshots`.
    pub fn trees() -> [&'static str; 4] {
        TREES
    }
}
