//! The filtered live ticket feed's dispatcher (GET /api/tickets/events?ids=…): one task
//! that keeps, for each ticket, the readers that show it, and pushes each change only into
//! those readers' queues.
//!
//! Why not let each reader filter the shared feed: a thousand readers each looking at every
//! change is a thousand lookups per change on the reservations' core, and the bytes of every
//! change still reach every reader's queue (docs/BENCHMARKS.md, "The live ticket feed").
//! Here a change costs one map lookup plus one push per interested reader, and is rendered
//! once, only if someone wants it.
//!
//! Each reader's queue is bounded (`QUEUE_ROOM` changes): a reader whose queue is full is
//! dropped from the dispatcher, its stream ends once it has sent what its queue held, and it
//! resumes with `Last-Event-ID` from the journal, as the unfiltered feed's lag rule does.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use actix_web::web::Bytes;
use tokio::sync::{broadcast, mpsc, watch};

use super::ticket_events::frame;
use crate::sync::lock;
use domain::ids::TicketId;
use domain::ticket::Ticket;
use domain::version::Version;

/// Changes a filtered reader's queue holds before the reader is ended. A reader shows at
/// most `MAX_IDS` tickets, so this is many seconds of its changes at any realistic rate.
pub const QUEUE_ROOM: usize = 1024;

/// The most changes the task dispatches per wake-up, so a subscriber waits for the lock at
/// most that long.
const DRAIN: usize = 256;

/// What a filtered reader wants: changes of these tickets, and new listings if it asks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interest {
    pub ids: HashSet<TicketId>,
    pub listings: bool,
}

impl Interest {
    /// Whether a change of `ticket` is for this reader; `listed` when the change is (or,
    /// in a catch-up, includes) its listing.
    pub fn wants(&self, ticket: &Ticket, listed: bool) -> bool {
        self.ids.contains(&ticket.id) || (self.listings && listed)
    }
}

/// A change as queued for a reader: its journal position and its rendered event.
pub type Queued = (u64, Bytes);

type Source = Box<dyn Fn() -> broadcast::Receiver<(u64, Ticket)> + Send + Sync>;

/// Who wants which changes. Changed under the dispatcher's one lock.
#[derive(Default)]
struct Registry {
    /// Whether the dispatching task runs.
    running: bool,
    next_key: u64,
    by_ticket: HashMap<TicketId, Vec<(u64, mpsc::Sender<Queued>)>>,
    listings: Vec<(u64, mpsc::Sender<Queued>)>,
    /// Each reader's interest, to unregister it.
    readers: HashMap<u64, Interest>,
}

impl Registry {
    fn add(&mut self, interest: Interest, queue: mpsc::Sender<Queued>) -> u64 {
        let key = self.next_key;
        self.next_key += 1;
        for id in &interest.ids {
            self.by_ticket
                .entry(*id)
                .or_default()
                .push((key, queue.clone()));
        }
        if interest.listings {
            self.listings.push((key, queue));
        }
        self.readers.insert(key, interest);
        key
    }

    /// Forgets a reader; dropping its senders ends its queue once it is read out.
    fn remove(&mut self, key: u64) {
        let Some(interest) = self.readers.remove(&key) else {
            return;
        };
        for id in &interest.ids {
            if let Some(readers) = self.by_ticket.get_mut(id) {
                readers.retain(|(k, _)| *k != key);
                if readers.is_empty() {
                    self.by_ticket.remove(id);
                }
            }
        }
        if interest.listings {
            self.listings.retain(|(k, _)| *k != key);
        }
    }

    /// Ends every reader (they resume from the journal).
    fn clear(&mut self) {
        self.by_ticket.clear();
        self.listings.clear();
        self.readers.clear();
    }

    /// Pushes one change into the queue of each reader that wants it; a reader whose queue
    /// is full (or gone) is removed. Costs O(interested readers).
    fn dispatch(&mut self, position: u64, ticket: &Ticket) {
        let by_id = self.by_ticket.get(&ticket.id);
        // A ticket's first version is its listing (the feed carries no earlier state).
        let listed = ticket.version == Version::INITIAL;
        let by_listing = if listed {
            self.listings.as_slice()
        } else {
            &[]
        };
        if by_id.is_none() && by_listing.is_empty() {
            return;
        }
        let bytes = frame(position, ticket);
        let mut ended = Vec::new();
        // A reader both in `by_id` and `by_listing` gets it twice; it skips positions it
        // has seen, so the second costs a push, not a duplicate event.
        for (key, queue) in by_id.into_iter().flatten().chain(by_listing) {
            if queue.try_send((position, bytes.clone())).is_err() {
                ended.push(*key);
            }
        }
        for key in ended {
            self.remove(key);
        }
    }
}

/// The filtered feed. The task runs only while someone reads (like `TicketFeed`'s).
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<DispatchInner>,
}

struct DispatchInner {
    registry: Mutex<Registry>,
    source: Source,
    stopping: watch::Receiver<bool>,
}

/// The reader was ended (its queue filled, or the feed lost changes): it resumes from the
/// journal.
#[derive(Debug, PartialEq, Eq)]
pub struct Ended;

/// A filtered reader's queue; dropping it unregisters the reader.
pub struct Subscription {
    key: u64,
    queue: mpsc::Receiver<Queued>,
    dispatcher: Arc<DispatchInner>,
}

impl Subscription {
    /// The next change, or `None` once the reader was ended (queue full, or the feed lost
    /// changes) and it has read what its queue held.
    pub async fn recv(&mut self) -> Option<Queued> {
        self.queue.recv().await
    }

    /// A change already queued: `Ok(None)` if none, `Err(Ended)` once the reader was ended.
    pub fn try_recv(&mut self) -> Result<Option<Queued>, Ended> {
        match self.queue.try_recv() {
            Ok(change) => Ok(Some(change)),
            Err(mpsc::error::TryRecvError::Empty) => Ok(None),
            Err(mpsc::error::TryRecvError::Disconnected) => Err(Ended),
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        lock(&self.dispatcher.registry).remove(self.key);
    }
}

impl Dispatcher {
    /// `source` subscribes to every ticket change (`Services::ticket_feed`).
    pub fn new(
        source: impl Fn() -> broadcast::Receiver<(u64, Ticket)> + Send + Sync + 'static,
        stopping: watch::Receiver<bool>,
    ) -> Dispatcher {
        Dispatcher {
            inner: Arc::new(DispatchInner {
                registry: Mutex::new(Registry::default()),
                source: Box::new(source),
                stopping,
            }),
        }
    }

    /// Registers a reader of the changes `interest` names, from now on; starts the task
    /// (subscribed to the store when this returns) if it is not running.
    pub fn subscribe(&self, interest: Interest) -> Subscription {
        let (sender, queue) = mpsc::channel(QUEUE_ROOM);
        let mut registry = lock(&self.inner.registry);
        let key = registry.add(interest, sender);
        if !registry.running {
            registry.running = true;
            let changes = (self.inner.source)();
            tokio::spawn(self.clone().run(changes));
        }
        drop(registry);
        Subscription {
            key,
            queue,
            dispatcher: self.inner.clone(),
        }
    }

    async fn run(self, mut changes: broadcast::Receiver<(u64, Ticket)>) {
        let mut stopping = self.inner.stopping.clone();
        loop {
            let change = tokio::select! {
                _ = stopping.changed() => break,
                change = changes.recv() => change,
            };
            let mut registry = lock(&self.inner.registry);
            if registry.readers.is_empty() {
                registry.running = false;
                return;
            }
            let mut next = change.map_err(|error| match error {
                broadcast::error::RecvError::Lagged(n) => broadcast::error::TryRecvError::Lagged(n),
                broadcast::error::RecvError::Closed => broadcast::error::TryRecvError::Closed,
            });
            // What else is waiting goes out under the same lock: one wake-up and one lock per
            // burst of changes, not per change (it is the reservations' core).
            for _ in 0..DRAIN {
                match next {
                    Ok((position, ticket)) => registry.dispatch(position, &ticket),
                    Err(broadcast::error::TryRecvError::Empty) => break,
                    // Changes were lost to this task: every reader catches up from the journal.
                    Err(broadcast::error::TryRecvError::Lagged(_)) => {
                        tracing::warn!(
                            "The filtered ticket feed fell behind; its readers reconnect"
                        );
                        registry.clear();
                        registry.running = false;
                        return;
                    }
                    Err(broadcast::error::TryRecvError::Closed) => {
                        registry.clear();
                        registry.running = false;
                        return;
                    }
                }
                next = changes.try_recv();
            }
        }
        let mut registry = lock(&self.inner.registry);
        registry.clear();
        registry.running = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::ids::{RawId, UserId};
    use domain::money::Price;
    use domain::ticket::{self, Title};

    fn ticket(n: u64, version: u64) -> Ticket {
        let mut ticket = ticket::listed(&ticket::created(
            TicketId::new(RawId::from_parts(10, n)),
            UserId::new(RawId::from_parts(1, 1)),
            Title::parse("Gig").expect("a title"),
            Price::from_cents(2000).expect("a price"),
        ));
        for _ in 0..version {
            ticket.version = ticket.version.next();
        }
        ticket
    }

    fn id(n: u64) -> TicketId {
        TicketId::new(RawId::from_parts(10, n))
    }

    fn interest(ids: &[u64], listings: bool) -> Interest {
        Interest {
            ids: ids.iter().map(|n| id(*n)).collect(),
            listings,
        }
    }

    fn queue() -> (mpsc::Sender<Queued>, mpsc::Receiver<Queued>) {
        mpsc::channel(4)
    }

    fn positions(queue: &mut mpsc::Receiver<Queued>) -> Vec<u64> {
        let mut seen = Vec::new();
        while let Ok((position, _)) = queue.try_recv() {
            seen.push(position);
        }
        seen
    }

    #[test]
    fn a_change_goes_only_to_the_readers_of_its_ticket() {
        let mut registry = Registry::default();
        let (a, mut a_queue) = queue();
        let (b, mut b_queue) = queue();
        registry.add(interest(&[1, 2], false), a);
        registry.add(interest(&[2, 3], false), b);

        registry.dispatch(10, &ticket(1, 1));
        registry.dispatch(11, &ticket(2, 1));
        registry.dispatch(12, &ticket(3, 1));
        registry.dispatch(13, &ticket(4, 1));

        assert_eq!(positions(&mut a_queue), vec![10, 11]);
        assert_eq!(positions(&mut b_queue), vec![11, 12]);
    }

    #[test]
    fn new_listings_go_to_the_readers_that_ask_for_them() {
        let mut registry = Registry::default();
        let (a, mut a_queue) = queue();
        let (b, mut b_queue) = queue();
        registry.add(interest(&[], true), a);
        registry.add(interest(&[], false), b);

        registry.dispatch(10, &ticket(7, 0));
        registry.dispatch(11, &ticket(7, 1));

        assert_eq!(
            positions(&mut a_queue),
            vec![10],
            "the listing, not later changes"
        );
        assert!(positions(&mut b_queue).is_empty());
    }

    #[test]
    fn a_reader_whose_queue_is_full_is_ended_and_the_others_go_on() {
        let mut registry = Registry::default();
        let (slow, mut slow_queue) = queue();
        let (fast, mut fast_queue) = queue();
        registry.add(interest(&[1], false), slow);
        registry.add(interest(&[1], false), fast);

        for position in 1..=4 {
            registry.dispatch(position, &ticket(1, position));
        }
        assert_eq!(positions(&mut fast_queue), vec![1, 2, 3, 4]);
        registry.dispatch(5, &ticket(1, 5));

        assert_eq!(registry.readers.len(), 1, "the slow one is forgotten");
        assert_eq!(positions(&mut slow_queue), vec![1, 2, 3, 4], "what it held");
        assert_eq!(
            slow_queue.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected),
            "then its end"
        );
        assert_eq!(positions(&mut fast_queue), vec![5]);
    }

    #[test]
    fn removing_a_reader_leaves_no_trace() {
        let mut registry = Registry::default();
        let (a, _a_queue) = queue();
        let key = registry.add(interest(&[1, 2], true), a);
        registry.remove(key);
        assert!(registry.by_ticket.is_empty());
        assert!(registry.listings.is_empty());
        assert!(registry.readers.is_empty());
    }

    #[tokio::test]
    async fn the_task_delivers_changes_and_a_dropped_subscription_unregisters() {
        let (feed, _) = broadcast::channel(16);
        let source = feed.clone();
        let (_stop, stopping) = watch::channel(false);
        let dispatcher = Dispatcher::new(move || source.subscribe(), stopping);
        let mut mine = dispatcher.subscribe(interest(&[1], false));
        feed.send((1, ticket(2, 1))).expect("the task listens");
        feed.send((2, ticket(1, 1))).expect("the task listens");
        let (position, _) = mine.recv().await.expect("a change");
        assert_eq!(position, 2);
        drop(mine);
        assert!(lock(&dispatcher.inner.registry).readers.is_empty());
    }
}
