//! Projections: entity snapshots and indexes derived from the journal.
//!
//! `apply` is the only writer. It loads the affected snapshots, runs the domain's `evolve`
//! (the same function the actors use in memory), and when a snapshot changed adjusts the
//! indexes by comparing old and new and then writes it, so every index is a function of
//! the snapshots and applying an event twice changes nothing. Plain inserts, no batches: the
//! journal record is the commit, these can always be rebuilt from it.

use std::ops::Bound;
use std::sync::atomic::{AtomicI64, Ordering};

use super::codec::{decode, encode};
use super::{Known, StoreError};
use crate::domain::charge::{self, Charge};
use crate::domain::events::Event;
use crate::domain::ids::{ChargeId, OrderId, TicketId, UserId};
use crate::domain::order::{self, Order, OrderStatus};
use crate::domain::ticket::{self, Ticket};
use crate::domain::time::Timestamp;
use crate::domain::user::{self, Email, User};

/// Every projection tree. Names are persisted; `clear` lists them for rebuilds.
pub(crate) struct Projections {
    pub(crate) users: sled::Tree,
    /// Normalised email -> `EmailEntry`.
    pub(crate) emails: sled::Tree,
    pub(crate) tickets: sled::Tree,
    pub(crate) orders: sled::Tree,
    pub(crate) charges: sled::Tree,
    /// Ticket id -> (): tickets for sale, oldest first because ids sort by creation time.
    listing: sled::Tree,
    /// Buyer id ++ order id -> (): each user's orders, oldest first.
    user_orders: sled::Tree,
    /// Deadline millis (big-endian) ++ order id -> (): the hold timers, soonest first.
    deadlines: sled::Tree,
    /// Order id -> (): orders whose payment outcome is not yet known.
    awaiting_payment: sled::Tree,
    /// Entries in `deadlines`, kept as it changes: sled counts a tree by walking all of it,
    /// which `/metrics` would otherwise do on the HTTP worker at every scrape.
    pending_holds: AtomicI64,
}

/// Who an email address belongs to. A claim is taken atomically before `UserCreated` is
/// committed; the projection of `UserCreated` turns it into `Taken`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum EmailEntry {
    /// A signup in progress, made by the process started as boot number `boot`.
    Claimed {
        user_id: UserId,
        boot: u64,
    },
    Taken {
        user_id: UserId,
    },
}

const TREE_NAMES: [&str; 9] = [
    "users",
    "emails",
    "tickets",
    "orders",
    "charges",
    "listing",
    "user_orders",
    "deadlines",
    "awaiting_payment",
];

impl Projections {
    pub(crate) fn open(db: &sled::Db) -> Result<Projections, StoreError> {
        let deadlines = db.open_tree(TREE_NAMES[7])?;
        // Counted once here, at start-up, before anything is served.
        let pending_holds = AtomicI64::new(i64::try_from(deadlines.len()).unwrap_or(i64::MAX));
        Ok(Projections {
            users: db.open_tree(TREE_NAMES[0])?,
            emails: db.open_tree(TREE_NAMES[1])?,
            tickets: db.open_tree(TREE_NAMES[2])?,
            orders: db.open_tree(TREE_NAMES[3])?,
            charges: db.open_tree(TREE_NAMES[4])?,
            listing: db.open_tree(TREE_NAMES[5])?,
            user_orders: db.open_tree(TREE_NAMES[6])?,
            deadlines,
            awaiting_payment: db.open_tree(TREE_NAMES[8])?,
            pending_holds,
        })
    }

    /// Empties every projection (the journal stays), for a rebuild by full replay.
    pub(crate) fn clear(&self) -> Result<(), StoreError> {
        for tree in [
            &self.users,
            &self.emails,
            &self.tickets,
            &self.orders,
            &self.charges,
            &self.listing,
            &self.user_orders,
            &self.deadlines,
            &self.awaiting_payment,
        ] {
            tree.clear()?;
        }
        self.pending_holds.store(0, Ordering::Relaxed);
        Ok(())
    }

    /// Writes the effects of one event on every snapshot and index it touches.
    ///
    /// Each index is changed only where membership differs between the old and the new
    /// snapshot, and before the snapshot itself: sled recovers a prefix of its writes, so a
    /// snapshot that survived a crash implies its index changes did, and a replay that finds
    /// the old snapshot redoes them all.
    ///
    /// `live` is `Some` when the event is being committed now rather than replayed (`None`).
    /// A live commit reads no prior state it can know otherwise: an entity the event creates
    /// has an id made for it a moment ago, and the committing actor passes the state it
    /// holds of its own entity. A replay reads them all: the snapshots may be ahead of it.
    pub(crate) fn apply(&self, event: &Event, live: Option<Known<'_>>) -> Result<(), StoreError> {
        if let Event::UserCreated(e) = event {
            let old = match live {
                Some(_) => None,
                None => self.user(e.user_id)?,
            };
            let new = user::evolve(old.clone(), event);
            if let Some(user) = new.filter(|u| old.as_ref() != Some(u)) {
                let entry = EmailEntry::Taken { user_id: user.id };
                self.emails.insert(user.email.as_str(), encode(&entry)?)?;
                self.users.insert(user.id.as_bytes(), encode(&user)?)?;
            }
        }
        if let Some(id) = event.changes_ticket() {
            let old = match live {
                Some(_) if matches!(event, Event::TicketCreated(_)) => None,
                Some(Known::Ticket(ticket)) if ticket.id == id => Some(ticket.clone()),
                _ => self.ticket(id)?,
            };
            if let Some(new) =
                ticket::evolve(old.clone(), event).filter(|t| old.as_ref() != Some(t))
            {
                let listed = |t: &Ticket| t.is_for_sale().then(|| id.as_bytes().to_vec());
                move_entry(&self.listing, old.as_ref().and_then(listed), listed(&new))?;
                self.tickets.insert(id.as_bytes(), encode(&new)?)?;
            }
        }
        if let Some(id) = event.changes_order() {
            let old = match live {
                Some(_) if matches!(event, Event::OrderCreated(_)) => None,
                Some(Known::Order(order)) if order.id == id => Some(order.clone()),
                _ => self.order(id)?,
            };
            if let Some(new) = order::evolve(old.clone(), event).filter(|o| old.as_ref() != Some(o))
            {
                let of_buyer = |o: &Order| Some(user_order_key(o.buyer, id));
                let due = |o: &Order| o.awaits_expiry().then(|| deadline_key(o.expires_at, id));
                let awaiting = |o: &Order| {
                    (o.status == OrderStatus::AwaitingPayment).then(|| id.as_bytes().to_vec())
                };
                move_entry(
                    &self.user_orders,
                    old.as_ref().and_then(of_buyer),
                    of_buyer(&new),
                )?;
                let change = move_entry(&self.deadlines, old.as_ref().and_then(due), due(&new))?;
                self.pending_holds
                    .fetch_add(i64::from(change), Ordering::Relaxed);
                move_entry(
                    &self.awaiting_payment,
                    old.as_ref().and_then(awaiting),
                    awaiting(&new),
                )?;
                self.orders.insert(id.as_bytes(), encode(&new)?)?;
            }
        }
        if let Some(id) = event.changes_charge() {
            let old = match live {
                Some(_) if matches!(event, Event::ChargeCreated(_)) => None,
                _ => self.charge(id)?,
            };
            if let Some(new) =
                charge::evolve(old.clone(), event).filter(|c| old.as_ref() != Some(c))
            {
                self.charges.insert(id.as_bytes(), encode(&new)?)?;
            }
        }
        Ok(())
    }

    pub(crate) fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        get(&self.users, id.as_bytes())
    }

    pub(crate) fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        match get::<EmailEntry>(&self.emails, email.as_str().as_bytes())? {
            Some(EmailEntry::Taken { user_id }) => self.user(user_id),
            _ => Ok(None),
        }
    }

    pub(crate) fn ticket(&self, id: TicketId) -> Result<Option<Ticket>, StoreError> {
        get(&self.tickets, id.as_bytes())
    }

    pub(crate) fn order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        get(&self.orders, id.as_bytes())
    }

    pub(crate) fn charge(&self, id: ChargeId) -> Result<Option<Charge>, StoreError> {
        get(&self.charges, id.as_bytes())
    }

    /// Up to `limit` tickets for sale created after `after`, oldest first.
    pub(crate) fn tickets_for_sale(
        &self,
        after: Option<TicketId>,
        limit: usize,
    ) -> Result<Vec<Ticket>, StoreError> {
        let start = match after {
            Some(id) => Bound::Excluded(id.as_bytes().to_vec()),
            None => Bound::Unbounded,
        };
        let mut tickets = Vec::with_capacity(limit.min(1024));
        for entry in self.listing.range::<Vec<u8>, _>((start, Bound::Unbounded)) {
            if tickets.len() == limit {
                break;
            }
            let (key, _) = entry?;
            let id = TicketId::from_bytes(&key)
                .map_err(|_| StoreError::Codec("bad listing key".into()))?;
            if let Some(ticket) = self.ticket(id)?.filter(Ticket::is_for_sale) {
                tickets.push(ticket);
            }
        }
        Ok(tickets)
    }

    /// A user's orders, oldest first.
    pub(crate) fn orders_of(&self, buyer: UserId) -> Result<Vec<Order>, StoreError> {
        let mut orders = Vec::new();
        for entry in self.user_orders.scan_prefix(buyer.as_bytes()) {
            let (key, _) = entry?;
            let id = OrderId::from_bytes(&key[12..])
                .map_err(|_| StoreError::Codec("bad user-orders key".into()))?;
            if let Some(order) = self.order(id)? {
                orders.push(order);
            }
        }
        Ok(orders)
    }

    /// Up to `limit` orders whose hold deadline is at or before `now`, soonest first.
    pub(crate) fn due_holds(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<OrderId>, StoreError> {
        let end = deadline_key(
            now,
            OrderId::from_bytes(&[0xff; 12]).map_err(|_| StoreError::Codec("id".into()))?,
        );
        let mut due = Vec::new();
        for entry in self.deadlines.range(..=end).take(limit) {
            let (key, _) = entry?;
            due.push(
                OrderId::from_bytes(&key[8..])
                    .map_err(|_| StoreError::Codec("bad deadline key".into()))?,
            );
        }
        Ok(due)
    }

    /// The soonest hold deadline, if any hold is pending.
    pub(crate) fn earliest_deadline(&self) -> Result<Option<Timestamp>, StoreError> {
        match self.deadlines.first()? {
            Some((key, _)) => {
                let millis: [u8; 8] = key[..8]
                    .try_into()
                    .map_err(|_| StoreError::Codec("bad deadline key".into()))?;
                Ok(Some(Timestamp::from_millis(u64::from_be_bytes(millis))))
            }
            None => Ok(None),
        }
    }

    /// Orders whose payment outcome is still unknown.
    pub(crate) fn awaiting_payment(&self) -> Result<Vec<OrderId>, StoreError> {
        let mut ids = Vec::new();
        for entry in self.awaiting_payment.iter() {
            let (key, _) = entry?;
            ids.push(
                OrderId::from_bytes(&key)
                    .map_err(|_| StoreError::Codec("bad awaiting key".into()))?,
            );
        }
        Ok(ids)
    }

    /// How many holds are pending.
    pub(crate) fn pending_holds(&self) -> u64 {
        u64::try_from(self.pending_holds.load(Ordering::Relaxed)).unwrap_or(0)
    }
}

pub(crate) fn get<T: serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    tree.get(key)?.map(|bytes| decode(&bytes)).transpose()
}

/// Moves an entity's entry in an index from its old key to its new one (either may be
/// absent: not a member), touching the tree only when they differ. Returns how many
/// entries the index gained (-1, 0 or 1), from what sled found there: a replay that finds
/// its changes already made changes no count.
fn move_entry(
    index: &sled::Tree,
    old: Option<Vec<u8>>,
    new: Option<Vec<u8>>,
) -> Result<i8, StoreError> {
    let mut change = 0;
    if old != new {
        if let Some(key) = old {
            change -= i8::from(index.remove(key)?.is_some());
        }
        if let Some(key) = new {
            change += i8::from(index.insert(key, &[])?.is_none());
        }
    }
    Ok(change)
}

fn user_order_key(buyer: UserId, order: OrderId) -> Vec<u8> {
    [buyer.as_bytes().as_slice(), order.as_bytes()].concat()
}

fn deadline_key(deadline: Timestamp, order: OrderId) -> Vec<u8> {
    [deadline.millis().to_be_bytes().as_slice(), order.as_bytes()].concat()
}
