//! Projections: entity snapshots and indexes derived from the journal.
//!
//! `apply` is the only writer. It finds the prior state of each entity the event changes,
//! runs the domain's `evolve` (the same function the actors use in memory), and puts the new
//! snapshot and the index entries whose membership changed into the overlay; the persister
//! writes them to sled later. Every read goes through the overlay first (`View`), so reads
//! see every committed change whether or not it has reached sled yet.
//!
//! Every index key is fixed for its entity (a ticket's id, a buyer and an order's id, an
//! order's deadline and id), so an event only ever adds or removes an entity's entry. On the
//! live path the committing actor's state says what the entity was (`Known`), and an entry
//! is touched only where membership changes. A replay may find the snapshot already ahead
//! of the event (the checkpoint is conservative), so it sets every touched entity's entries
//! from its resulting state instead: applying an event twice changes nothing, and entries
//! lost in a crash are put back.

use std::ops::Bound;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use super::codec::{
    decode_charge, decode_email_owner, decode_order, decode_ticket, decode_user, encode_charge,
    encode_email_owner, encode_order, encode_ticket, encode_user,
};
use super::overlay::{Overlay, Tree, View, Write};
use super::records::{EmailOwnerV1, Invalid};
use super::{Known, StoreError};
use crate::domain::charge::{self, Charge};
use crate::domain::events::Event;
use crate::domain::ids::{ChargeId, OrderId, TicketId, UserId};
use crate::domain::order::{self, Order, OrderStatus};
use crate::domain::ticket::{self, Ticket};
use crate::domain::time::Timestamp;
use crate::domain::user::{self, Email, User};

pub(crate) struct Projections {
    /// sled's tree for each `Tree`, by `Tree::index`.
    trees: Vec<sled::Tree>,
    overlay: Arc<Overlay>,
    /// Entries in the deadline index, kept as it changes: sled counts a tree by walking all
    /// of it, which `/metrics` would otherwise do on the HTTP worker at every scrape.
    pending_holds: AtomicI64,
}

impl Projections {
    pub(crate) fn open(db: &sled::Db, overlay: Arc<Overlay>) -> Result<Projections, StoreError> {
        let trees = Tree::ALL
            .iter()
            .map(|tree| db.open_tree(tree.name()))
            .collect::<Result<Vec<_>, _>>()?;
        // Counted once here, at start-up, before anything is served.
        let pending = trees[Tree::Deadlines.index()].len();
        Ok(Projections {
            trees,
            overlay,
            pending_holds: AtomicI64::new(i64::try_from(pending).unwrap_or(i64::MAX)),
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
        self.pending_holds.store(0, Ordering::Relaxed);
        Ok(())
    }

    /// Puts the effects of one event on every snapshot and index it touches into the
    /// overlay. `live` is `Some` when the event is being committed now, `None` in replay.
    ///
    /// A live commit reads no prior state it can know otherwise: an entity the event creates
    /// has an id made for it a moment ago, and the committing actor passes the state it
    /// holds of its own entity.
    pub(crate) fn apply(&self, event: &Event, live: Option<Known<'_>>) -> Result<(), StoreError> {
        let view = self.overlay.view();
        let mut writes = Vec::with_capacity(6);
        let replay = live.is_none();
        if let Event::UserCreated(e) = event {
            let old = match live {
                Some(_) => None,
                None => self.user_in(&view, e.user_id)?,
            };
            if let Some(new) = user::evolve(old.clone(), event) {
                if replay || old.as_ref() != Some(&new) {
                    let owner = EmailOwnerV1::taken(new.id);
                    writes.push(put(
                        Tree::Emails,
                        new.email.as_str(),
                        encode_email_owner(&owner)?,
                    ));
                }
                if old.as_ref() != Some(&new) {
                    writes.push(put(Tree::Users, new.id.as_bytes(), encode_user(&new)?));
                }
            }
        }
        if let Some(id) = event.changes_ticket() {
            let old = match live {
                Some(_) if matches!(event, Event::TicketCreated(_)) => None,
                Some(Known::Ticket(ticket)) if ticket.id == id => Some(ticket.clone()),
                _ => self.ticket_in(&view, id)?,
            };
            if let Some(new) = ticket::evolve(old.clone(), event) {
                let changed = old.as_ref() != Some(&new);
                let listed = |t: &Ticket| t.is_for_sale();
                if replay || old.as_ref().map(listed) != Some(listed(&new)) {
                    writes.push(member(Tree::Listing, id.as_bytes(), listed(&new)));
                }
                if changed {
                    writes.push(put(Tree::Tickets, id.as_bytes(), encode_ticket(&new)?));
                }
            }
        }
        if let Some(id) = event.changes_order() {
            let old = match live {
                Some(_) if matches!(event, Event::OrderCreated(_)) => None,
                Some(Known::Order(order)) if order.id == id => Some(order.clone()),
                _ => self.order_in(&view, id)?,
            };
            if let Some(new) = order::evolve(old.clone(), event) {
                let changed = old.as_ref() != Some(&new);
                if replay || old.is_none() {
                    writes.push(member(
                        Tree::UserOrders,
                        &user_order_key(new.buyer, id),
                        true,
                    ));
                }
                let due = deadline_key(new.expires_at, id);
                let awaits = new.awaits_expiry();
                if replay {
                    let present = self.contains(&view, Tree::Deadlines, &due)?;
                    if present != awaits {
                        self.count_hold(awaits);
                        writes.push(member(Tree::Deadlines, &due, awaits));
                    }
                } else if old.as_ref().map(Order::awaits_expiry) != Some(awaits)
                    && (awaits || old.is_some())
                {
                    self.count_hold(awaits);
                    writes.push(member(Tree::Deadlines, &due, awaits));
                }
                let awaiting = |o: &Order| o.status == OrderStatus::AwaitingPayment;
                if replay || old.as_ref().map(awaiting) != Some(awaiting(&new)) {
                    writes.push(member(Tree::AwaitingPayment, id.as_bytes(), awaiting(&new)));
                }
                if changed {
                    writes.push(put(Tree::Orders, id.as_bytes(), encode_order(&new)?));
                }
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
        Ok(())
    }

    fn count_hold(&self, added: bool) {
        self.pending_holds
            .fetch_add(if added { 1 } else { -1 }, Ordering::Relaxed);
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

    fn contains(&self, view: &View, tree: Tree, key: &[u8]) -> Result<bool, StoreError> {
        match view.get(tree, key) {
            Some(value) => Ok(value.is_some()),
            None => Ok(self.sled(tree).contains_key(key)?),
        }
    }

    /// Visits the current entries of `tree` within the bounds in key order (the overlay's
    /// merged over sled's) until `visit` answers false.
    fn scan(
        &self,
        view: &View,
        tree: Tree,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let mut overlay = view.range(tree, lower, upper).peekable();
        let mut disk = self.sled(tree).range::<&[u8], _>((lower, upper)).peekable();
        loop {
            use std::cmp::Ordering::{Equal, Greater, Less};
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
            let from_overlay = order != Greater;
            let more = if from_overlay {
                match overlay.next() {
                    Some((key, Some(value))) => visit(&key, &value)?,
                    _ => true,
                }
            } else {
                match disk.next() {
                    Some(Ok((key, value))) => visit(&key, &value)?,
                    _ => true,
                }
            };
            if !more {
                return Ok(());
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

    pub(crate) fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.user_in(&self.overlay.view(), id)
    }

    /// Who an email belongs to, or is claimed by, as the overlay and sled know it.
    pub(crate) fn email_owner(&self, email: &Email) -> Result<Option<EmailOwnerV1>, StoreError> {
        let key = email.as_str().as_bytes();
        self.read(&self.overlay.view(), Tree::Emails, key, decode_email_owner)
    }

    pub(crate) fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        match self.email_owner(email)?.and_then(|owner| owner.taken_by()) {
            Some(user_id) => self.user(user_id),
            None => Ok(None),
        }
    }

    /// The emails tree in sled, where signups claim addresses with compare-and-swap.
    pub(crate) fn email_claims(&self) -> &sled::Tree {
        self.sled(Tree::Emails)
    }

    pub(crate) fn ticket(&self, id: TicketId) -> Result<Option<Ticket>, StoreError> {
        self.ticket_in(&self.overlay.view(), id)
    }

    pub(crate) fn order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        self.order_in(&self.overlay.view(), id)
    }

    pub(crate) fn charge(&self, id: ChargeId) -> Result<Option<Charge>, StoreError> {
        self.charge_in(&self.overlay.view(), id)
    }

    /// Up to `limit` tickets for sale created after `after`, oldest first.
    pub(crate) fn tickets_for_sale(
        &self,
        after: Option<TicketId>,
        limit: usize,
    ) -> Result<Vec<Ticket>, StoreError> {
        let view = self.overlay.view();
        let lower = match &after {
            Some(id) => Bound::Excluded(id.as_bytes().as_slice()),
            None => Bound::Unbounded,
        };
        let mut tickets = Vec::with_capacity(limit.min(1024));
        if limit == 0 {
            return Ok(tickets);
        }
        self.scan(&view, Tree::Listing, lower, Bound::Unbounded, |key, _| {
            let id = TicketId::from_bytes(key)
                .map_err(|_| corrupt(Tree::Listing, key, "not a ticket id".into()))?;
            if let Some(ticket) = self.ticket_in(&view, id)?.filter(Ticket::is_for_sale) {
                tickets.push(ticket);
            }
            Ok(tickets.len() < limit)
        })?;
        Ok(tickets)
    }

    /// A user's orders, oldest first.
    pub(crate) fn orders_of(&self, buyer: UserId) -> Result<Vec<Order>, StoreError> {
        let view = self.overlay.view();
        let prefix = buyer.as_bytes();
        let end = prefix_end(prefix);
        let upper = end.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let mut orders = Vec::new();
        self.scan(
            &view,
            Tree::UserOrders,
            Bound::Included(prefix),
            upper,
            |key, _| {
                let id = OrderId::from_bytes(&key[prefix.len()..]).map_err(|_| {
                    corrupt(Tree::UserOrders, key, "not a buyer and order id".into())
                })?;
                if let Some(order) = self.order_in(&view, id)? {
                    orders.push(order);
                }
                Ok(true)
            },
        )?;
        Ok(orders)
    }

    /// Up to `limit` orders whose hold deadline is at or before `now`, soonest first.
    pub(crate) fn due_holds(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<OrderId>, StoreError> {
        let view = self.overlay.view();
        let end = (now.millis().saturating_add(1)).to_be_bytes();
        let mut due = Vec::new();
        if limit == 0 {
            return Ok(due);
        }
        self.scan(
            &view,
            Tree::Deadlines,
            Bound::Unbounded,
            Bound::Excluded(&end),
            |key, _| {
                due.push(deadline_order(key)?);
                Ok(due.len() < limit)
            },
        )?;
        Ok(due)
    }

    /// The soonest hold deadline, if any hold is pending.
    pub(crate) fn earliest_deadline(&self) -> Result<Option<Timestamp>, StoreError> {
        let view = self.overlay.view();
        let mut earliest = None;
        self.scan(
            &view,
            Tree::Deadlines,
            Bound::Unbounded,
            Bound::Unbounded,
            |key, _| {
                let millis: [u8; 8] = key[..8]
                    .try_into()
                    .map_err(|_| corrupt(Tree::Deadlines, key, "not a deadline".into()))?;
                earliest = Some(Timestamp::from_millis(u64::from_be_bytes(millis)));
                Ok(false)
            },
        )?;
        Ok(earliest)
    }

    /// Orders whose payment outcome is still unknown.
    pub(crate) fn awaiting_payment(&self) -> Result<Vec<OrderId>, StoreError> {
        let view = self.overlay.view();
        let mut ids = Vec::new();
        self.scan(
            &view,
            Tree::AwaitingPayment,
            Bound::Unbounded,
            Bound::Unbounded,
            |key, _| {
                ids.push(
                    OrderId::from_bytes(key).map_err(|_| {
                        corrupt(Tree::AwaitingPayment, key, "not an order id".into())
                    })?,
                );
                Ok(true)
            },
        )?;
        Ok(ids)
    }

    /// How many holds are pending.
    pub(crate) fn pending_holds(&self) -> u64 {
        u64::try_from(self.pending_holds.load(Ordering::Relaxed)).unwrap_or(0)
    }
}

fn put(tree: Tree, key: impl AsRef<[u8]>, value: Vec<u8>) -> Write {
    Write {
        tree,
        key: key.as_ref().to_vec(),
        value: Some(Arc::from(value)),
    }
}

/// Adds (`true`) or removes an index entry; index entries have empty values.
fn member(tree: Tree, key: &[u8], present: bool) -> Write {
    Write {
        tree,
        key: key.to_vec(),
        value: present.then(|| Arc::from(&[][..])),
    }
}

fn corrupt(tree: Tree, key: &[u8], reason: Invalid) -> StoreError {
    StoreError::Corrupt {
        tree: tree.name(),
        key: key.iter().map(|b| format!("{b:02x}")).collect(),
        reason,
    }
}

/// The first key after every key that starts with `prefix`, if there is one.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

fn user_order_key(buyer: UserId, order: OrderId) -> Vec<u8> {
    [buyer.as_bytes().as_slice(), order.as_bytes()].concat()
}

fn deadline_key(deadline: Timestamp, order: OrderId) -> Vec<u8> {
    [deadline.millis().to_be_bytes().as_slice(), order.as_bytes()].concat()
}

fn deadline_order(key: &[u8]) -> Result<OrderId, StoreError> {
    key.get(8..)
        .and_then(|id| OrderId::from_bytes(id).ok())
        .ok_or_else(|| corrupt(Tree::Deadlines, key, "not a deadline and order id".into()))
}
