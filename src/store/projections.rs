//! Projections: entity snapshots and indexes derived from the journal.
//!
//! `apply` is the only writer. It finds the prior state of each entity the event changes,
//! runs the domain's `evolve` (the same function the actors use in memory), puts the new
//! snapshot into the overlay (the persister writes it to sled later) and moves the entity's
//! index entries from what the old state implied to what the new one implies. Reads of a
//! snapshot go through the overlay before sled, so they see every committed change whether
//! or not it has reached sled; the indexes are in memory (`indexes.rs`) and rebuilt from the
//! snapshots when the store opens.
//!
//! A live commit passes the state the committing actor holds (`PriorState`); a replay reads it,
//! and may find the snapshot already ahead of the event (the checkpoint is conservative):
//! `evolve` then changes nothing, and neither do the indexes.

use std::ops::Bound;
use std::sync::{Arc, Mutex};

use super::codec::{
    decode_charge, decode_order, decode_ticket, decode_user, encode_charge, encode_order,
    encode_ticket, encode_user,
};
use super::indexes::Indexes;
use super::overlay::{Overlay, Tree, View, Write};
use super::records::Invalid;
use super::{PriorState, StoreError};
use crate::sync::lock;
use domain::charge::{self, Charge};
use domain::events::Event;
use domain::ids::{ChargeId, OrderId, TicketId, UserId};
use domain::order::{self, Order};
use domain::ticket::{self, Ticket};
use domain::time::Timestamp;
use domain::user::{self, Email, User};

/// The projection trees of the first release that held indexes. Indexes are in memory now;
/// these are dropped when such a directory is first opened.
const OLD_INDEX_TREES: [&str; 5] = [
    "emails",
    "listing",
    "user_orders",
    "deadlines",
    "awaiting_payment",
];

pub struct Projections {
    /// sled's tree for each `Tree`, by `Tree::index`.
    trees: Vec<sled::Tree>,
    overlay: Arc<Overlay>,
    indexes: Mutex<Indexes>,
}

impl Projections {
    pub(crate) fn open(db: &sled::Db, overlay: Arc<Overlay>) -> Result<Projections, StoreError> {
        let trees = Tree::ALL
            .iter()
            .map(|tree| db.open_tree(tree.name()))
            .collect::<Result<Vec<_>, _>>()?;
        for name in OLD_INDEX_TREES {
            db.drop_tree(name)?;
        }
        Ok(Projections {
            trees,
            overlay,
            indexes: Mutex::new(Indexes::default()),
        })
    }

    /// The sled trees, for the persister.
    pub(crate) fn sled_trees(&self) -> Vec<sled::Tree> {
        self.trees.clone()
    }

    fn sled(&self, tree: Tree) -> &sled::Tree {
        &self.trees[tree.index()]
    }

    /// Empties every projection (the journal stays), for a rebuild by full replay. Only
    /// before anything is committed: the overlay must be empty.
    pub(crate) fn clear(&self) -> Result<(), StoreError> {
        for tree in &self.trees {
            tree.clear()?;
        }
        *lock(&self.indexes) = Indexes::default();
        Ok(())
    }

    /// Builds the indexes from every snapshot. Run once, before the replay. A snapshot that
    /// cannot be read is logged by tree and key, and rebuilt from the journal (`events`: the
    /// whole journal, read once for all of them) instead of failing every read near it.
    pub(crate) fn build_indexes<I>(&self, events: impl FnOnce() -> I) -> Result<(), StoreError>
    where
        I: Iterator<Item = Result<(u64, Event), StoreError>>,
    {
        let mut indexes = Indexes::default();
        let mut broken: Vec<(Tree, Vec<u8>)> = Vec::new();
        let view = self.overlay.view();
        for tree in [Tree::Users, Tree::Tickets, Tree::Orders] {
            self.scan(&view, tree, |key, value| {
                let indexed = match tree {
                    Tree::Users => decode_user(value).map(|u| indexes.user_changed(&u)),
                    Tree::Tickets => decode_ticket(value).map(|t| indexes.ticket_changed(None, &t)),
                    Tree::Orders => decode_order(value).map(|o| indexes.order_changed(None, &o)),
                    Tree::Charges => Ok(()),
                };
                if let Err(reason) = indexed {
                    tracing::error!(error = %corrupt(tree, key, reason), "Rebuilding an unreadable snapshot from the journal");
                    broken.push((tree, key.to_vec()));
                }
                Ok(())
            })?;
        }
        drop(view);
        *lock(&self.indexes) = indexes;
        if !broken.is_empty() {
            self.rebuild_from_journal(&broken, events())?;
        }
        Ok(())
    }

    /// Rebuilds the snapshots of `entities` by applying, from nothing, every journal event
    /// that changes them, and indexes the results.
    fn rebuild_from_journal(
        &self,
        entities: &[(Tree, Vec<u8>)],
        events: impl Iterator<Item = Result<(u64, Event), StoreError>>,
    ) -> Result<(), StoreError> {
        let touches = |event: &Event, tree: Tree, key: &[u8]| match tree {
            Tree::Users => event.changes_user().is_some_and(|id| id.as_bytes() == key),
            Tree::Tickets => event
                .changes_ticket()
                .is_some_and(|id| id.as_bytes() == key),
            Tree::Orders => event.changes_order().is_some_and(|id| id.as_bytes() == key),
            Tree::Charges => event
                .changes_charge()
                .is_some_and(|id| id.as_bytes() == key),
        };
        let mut users: Vec<Option<User>> = vec![None; entities.len()];
        let mut tickets: Vec<Option<Ticket>> = vec![None; entities.len()];
        let mut orders: Vec<Option<Order>> = vec![None; entities.len()];
        for entry in events {
            let (_, event) = entry?;
            for (i, (tree, key)) in entities.iter().enumerate() {
                if touches(&event, *tree, key) {
                    match tree {
                        Tree::Users => users[i] = user::evolve(users[i].take(), &event),
                        Tree::Tickets => tickets[i] = ticket::evolve(tickets[i].take(), &event),
                        Tree::Orders => orders[i] = order::evolve(orders[i].take(), &event),
                        Tree::Charges => {}
                    }
                }
            }
        }
        let mut writes = Vec::new();
        let mut indexes = lock(&self.indexes);
        for (i, (tree, key)) in entities.iter().enumerate() {
            match tree {
                Tree::Users => {
                    if let Some(user) = &users[i] {
                        writes.push(put(*tree, key, encode_user(user)?));
                        indexes.user_changed(user);
                    }
                }
                Tree::Tickets => {
                    if let Some(ticket) = &tickets[i] {
                        writes.push(put(*tree, key, encode_ticket(ticket)?));
                        indexes.ticket_changed(None, ticket);
                    }
                }
                Tree::Orders => {
                    if let Some(order) = &orders[i] {
                        writes.push(put(*tree, key, encode_order(order)?));
                        indexes.order_changed(None, order);
                    }
                }
                Tree::Charges => {}
            }
        }
        drop(indexes);
        self.overlay.write(writes);
        Ok(())
    }

    /// Puts the effects of one event into the overlay and the indexes. `live` is `Some`
    /// when the event is being committed now, `None` in replay.
    ///
    /// Returns the ticket's new snapshot when the event changed one (for the ticket feed).
    ///
    /// A live commit reads no prior state it can know otherwise: an entity the event creates
    /// has an id made for it a moment ago, and the committing actor passes the state it
    /// holds of its own entity. Snapshots go into the overlay before the indexes change, so
    /// a reader that finds an entity through an index also finds its snapshot.
    pub(crate) fn apply(
        &self,
        event: &Event,
        live: Option<PriorState<'_>>,
    ) -> Result<Option<Ticket>, StoreError> {
        let view = self.overlay.view();
        let mut writes = Vec::with_capacity(2);
        let mut user_change = None;
        let mut ticket_change = None;
        let mut order_change = None;
        if let Some(id) = event.changes_user() {
            let old = match live {
                Some(_) if matches!(event, Event::UserCreated(_)) => None,
                _ => self.user_in(&view, id)?,
            };
            if let Some(new) = user::evolve(old.clone(), event).filter(|u| old.as_ref() != Some(u))
            {
                writes.push(put(Tree::Users, new.id.as_bytes(), encode_user(&new)?));
                user_change = Some(new);
            }
        }
        if let Some(id) = event.changes_ticket() {
            let old = match live {
                Some(_) if matches!(event, Event::TicketCreated(_)) => None,
                Some(PriorState::Ticket(ticket)) if ticket.id == id => Some(ticket.clone()),
                _ => self.ticket_in(&view, id)?,
            };
            if let Some(new) =
                ticket::evolve(old.clone(), event).filter(|t| old.as_ref() != Some(t))
            {
                writes.push(put(Tree::Tickets, id.as_bytes(), encode_ticket(&new)?));
                ticket_change = Some((old, new));
            }
        }
        if let Some(id) = event.changes_order() {
            let old = match live {
                Some(_) if matches!(event, Event::OrderCreated(_)) => None,
                Some(PriorState::Order(order)) if order.id == id => Some(order.clone()),
                _ => self.order_in(&view, id)?,
            };
            if let Some(new) = order::evolve(old.clone(), event).filter(|o| old.as_ref() != Some(o))
            {
                writes.push(put(Tree::Orders, id.as_bytes(), encode_order(&new)?));
                order_change = Some((old, new));
            }
        }
        if let Some(id) = event.changes_charge() {
            let old = match live {
                Some(_) if matches!(event, Event::ChargeCreated(_)) => None,
                _ => self.charge_in(&view, id)?,
            };
            if let Some(new) =
                charge::evolve(old.clone(), event).filter(|c| old.as_ref() != Some(c))
            {
                writes.push(put(Tree::Charges, id.as_bytes(), encode_charge(&new)?));
            }
        }
        drop(view);
        self.overlay.write(writes);
        if user_change.is_some() || ticket_change.is_some() || order_change.is_some() {
            let mut indexes = lock(&self.indexes);
            if let Some(user) = &user_change {
                indexes.user_changed(user);
            }
            if let Some((old, new)) = &ticket_change {
                indexes.ticket_changed(old.as_ref(), new);
            }
            if let Some((old, new)) = &order_change {
                indexes.order_changed(old.as_ref(), new);
            }
        }
        Ok(ticket_change.map(|(_, new)| new))
    }

    // ----- reads -----

    /// The current value of `key`: the overlay's, else sled's, decoded.
    fn read<T>(
        &self,
        view: &View,
        tree: Tree,
        key: &[u8],
        decode: fn(&[u8]) -> Result<T, Invalid>,
    ) -> Result<Option<T>, StoreError> {
        let decoded = match view.get(tree, key) {
            Some(Some(bytes)) => decode(&bytes),
            Some(None) => return Ok(None),
            None => match self.sled(tree).get(key)? {
                Some(bytes) => decode(&bytes),
                None => return Ok(None),
            },
        };
        decoded
            .map(Some)
            .map_err(|reason| corrupt(tree, key, reason))
    }

    /// Visits every current entry of `tree` in key order: the overlay's merged over sled's.
    fn scan(
        &self,
        view: &View,
        tree: Tree,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        use std::cmp::Ordering::{Equal, Greater, Less};
        let mut overlay = view
            .range(tree, Bound::Unbounded, Bound::Unbounded)
            .peekable();
        let mut disk = self.sled(tree).iter().peekable();
        loop {
            let order = match (overlay.peek(), disk.peek()) {
                (None, None) => return Ok(()),
                (_, Some(Err(_))) => {
                    if let Some(Err(error)) = disk.next() {
                        return Err(error.into());
                    }
                    continue;
                }
                (Some(_), None) => Less,
                (None, Some(_)) => Greater,
                (Some((key, _)), Some(Ok((disk_key, _)))) => key.as_slice().cmp(disk_key.as_ref()),
            };
            if order == Equal {
                // The overlay's value replaces sled's.
                disk.next();
            }
            if order == Greater {
                if let Some(Ok((key, value))) = disk.next() {
                    visit(&key, &value)?;
                }
            } else if let Some((key, Some(value))) = overlay.next() {
                visit(&key, &value)?;
            }
        }
    }

    fn user_in(&self, view: &View, id: UserId) -> Result<Option<User>, StoreError> {
        self.read(view, Tree::Users, id.as_bytes(), decode_user)
    }

    fn ticket_in(&self, view: &View, id: TicketId) -> Result<Option<Ticket>, StoreError> {
        self.read(view, Tree::Tickets, id.as_bytes(), decode_ticket)
    }

    fn order_in(&self, view: &View, id: OrderId) -> Result<Option<Order>, StoreError> {
        self.read(view, Tree::Orders, id.as_bytes(), decode_order)
    }

    fn charge_in(&self, view: &View, id: ChargeId) -> Result<Option<Charge>, StoreError> {
        self.read(view, Tree::Charges, id.as_bytes(), decode_charge)
    }

    pub fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.user_in(&self.overlay.view(), id)
    }

    pub fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        match lock(&self.indexes).owner_of(email.as_str()) {
            Some(user_id) => self.user(user_id),
            None => Ok(None),
        }
    }

    /// Claims `email` for a signup in progress; false when it is taken or claimed.
    pub(crate) fn claim_email(&self, email: &Email, user: UserId) -> bool {
        lock(&self.indexes).claim(email.as_str(), user)
    }

    pub(crate) fn release_email_claim(&self, email: &Email, user: UserId) {
        lock(&self.indexes).release_claim(email.as_str(), user);
    }

    pub(crate) fn claim_hold(
        &self,
        buyer: UserId,
        ticket: TicketId,
        allowed: impl FnOnce(u32) -> bool,
    ) -> bool {
        lock(&self.indexes).claim_hold(buyer, ticket, allowed)
    }

    pub(crate) fn release_hold(&self, buyer: UserId, ticket: TicketId) {
        lock(&self.indexes).release_hold(buyer, ticket);
    }

    pub fn ticket(&self, id: TicketId) -> Result<Option<Ticket>, StoreError> {
        self.ticket_in(&self.overlay.view(), id)
    }

    pub fn order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        self.order_in(&self.overlay.view(), id)
    }

    pub fn charge(&self, id: ChargeId) -> Result<Option<Charge>, StoreError> {
        self.charge_in(&self.overlay.view(), id)
    }

    /// Up to `limit` tickets for sale created after `after`, oldest first.
    pub fn tickets_for_sale(
        &self,
        after: Option<TicketId>,
        limit: usize,
    ) -> Result<Vec<Ticket>, StoreError> {
        let view = self.overlay.view();
        let mut tickets = Vec::with_capacity(limit.min(1024));
        let mut cursor = after;
        // A ticket taken between reading the index and its snapshot is skipped; the page is
        // filled from further on, so that a short page still means the end.
        while tickets.len() < limit {
            let ids = lock(&self.indexes).listed_after(cursor, limit - tickets.len());
            let Some(last) = ids.last().copied() else {
                break;
            };
            for id in ids {
                if let Some(ticket) = self.ticket_in(&view, id)?.filter(Ticket::is_for_sale) {
                    tickets.push(ticket);
                }
            }
            cursor = Some(last);
        }
        Ok(tickets)
    }

    /// Up to `limit` of a buyer's orders placed after `after`, oldest first.
    pub fn orders_of(
        &self,
        buyer: UserId,
        after: Option<OrderId>,
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        let view = self.overlay.view();
        let ids = lock(&self.indexes).orders_of(buyer, after, limit);
        let mut orders = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(order) = self.order_in(&view, id)? {
                orders.push(order);
            }
        }
        Ok(orders)
    }

    /// Up to `limit` of a seller's tickets listed after `after`, oldest first, in every
    /// state (withdrawn ones included).
    pub fn tickets_of(
        &self,
        seller: UserId,
        after: Option<TicketId>,
        limit: usize,
    ) -> Result<Vec<Ticket>, StoreError> {
        let view = self.overlay.view();
        let ids = lock(&self.indexes).tickets_of(seller, after, limit);
        let mut tickets = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(ticket) = self.ticket_in(&view, id)? {
                tickets.push(ticket);
            }
        }
        Ok(tickets)
    }

    /// Up to `limit` orders whose hold deadline is at or before `now`, soonest first.
    pub fn due_holds(&self, now: Timestamp, limit: usize) -> Vec<OrderId> {
        lock(&self.indexes).due(now, limit)
    }

    /// The soonest hold deadline, if any hold is pending.
    pub fn earliest_deadline(&self) -> Option<Timestamp> {
        lock(&self.indexes).earliest_deadline()
    }

    /// Orders whose payment outcome is still unknown.
    pub fn awaiting_payment(&self) -> Vec<OrderId> {
        lock(&self.indexes).awaiting_payment()
    }

    /// How many holds are pending.
    pub fn pending_holds(&self) -> u64 {
        lock(&self.indexes).pending_holds() as u64
    }
}

fn put(tree: Tree, key: &[u8], value: Vec<u8>) -> Write {
    Write {
        tree,
        key: key.to_vec(),
        value: Some(Arc::from(value)),
    }
}

fn corrupt(tree: Tree, key: &[u8], reason: Invalid) -> StoreError {
    StoreError::Corrupt {
        tree: tree.name(),
        key: key.iter().map(|b| format!("{b:02x}")).collect(),
        reason,
    }
}
